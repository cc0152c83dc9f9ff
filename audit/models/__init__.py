"""Reference classifiers, model files and adapters for user models.

Public API (see docs/ARCHITECTURE.md, "Core model contract" and "Model files")::

    from audit.models import AuditModel, load_model, load_model_ref, save_model, model_fingerprint
    from audit.models import ModelParts            # for your own model, see docs/own-model.md
    from audit.models.train import train_model, ensure_reference_model   # training (imports more)
"""

from __future__ import annotations

from audit.models.adapter import ModelParts, load_adapter, to_audit_model
from audit.models.base import AuditModel, Encoded, RecurrentClassifier, check_compatible, final_state
from audit.models.config import ARCHS, ModelConfig, TrainConfig, build_module, load_train_config
from audit.models.io import fingerprint_model, load_model, load_model_ref, model_fingerprint, read_metrics, save_model

__all__ = [
    "ARCHS",
    "AuditModel",
    "Encoded",
    "ModelConfig",
    "ModelParts",
    "RecurrentClassifier",
    "TrainConfig",
    "build_module",
    "check_compatible",
    "final_state",
    "fingerprint_model",
    "load_adapter",
    "load_model",
    "load_model_ref",
    "load_train_config",
    "model_fingerprint",
    "read_metrics",
    "save_model",
    "to_audit_model",
]
