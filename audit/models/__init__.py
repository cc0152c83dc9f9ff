"""Reference classifiers, model files and adapters for user models.

Public API (see docs/ARCHITECTURE.md, "Core model contract" and "Model files")::

    from audit.models import AuditModel, load_model, load_model_ref, save_model, model_fingerprint
    from audit.models import ModelParts            # for your own model, see docs/own-model.md
    from audit.models.train import train_model, ensure_reference_model   # training (imports more)
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports only inform type checkers; names resolve lazily)
from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import attach

_EXPORTS = {
    "ModelParts": "audit.models.adapter",
    "load_adapter": "audit.models.adapter",
    "to_audit_model": "audit.models.adapter",
    "AuditModel": "audit.models.base",
    "Encoded": "audit.models.base",
    "RecurrentClassifier": "audit.models.base",
    "batch_first_view": "audit.models.base",
    "check_compatible": "audit.models.base",
    "final_state": "audit.models.base",
    "ARCHS": "audit.models.config",
    "ModelConfig": "audit.models.config",
    "TrainConfig": "audit.models.config",
    "build_module": "audit.models.config",
    "load_train_config": "audit.models.config",
    "fingerprint_model": "audit.models.io",
    "load_model": "audit.models.io",
    "load_model_ref": "audit.models.io",
    "model_fingerprint": "audit.models.io",
    "read_metrics": "audit.models.io",
    "save_model": "audit.models.io",
}
__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from audit.models.adapter import ModelParts, load_adapter, to_audit_model
    from audit.models.base import (
        AuditModel,
        Encoded,
        RecurrentClassifier,
        batch_first_view,
        check_compatible,
        final_state,
    )
    from audit.models.config import ARCHS, ModelConfig, TrainConfig, build_module, load_train_config
    from audit.models.io import (
        fingerprint_model,
        load_model,
        load_model_ref,
        model_fingerprint,
        read_metrics,
        save_model,
    )
