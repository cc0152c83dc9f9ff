"""The audit engine: the nightly job behind ``audit run``.

Public API::

    cfg = load_config("configs/nightly.yaml")            # NightlyConfig (pydantic, extra="forbid")
    result = run_job(cfg, resume=True, store_root=None, seed=None)   # JobResult(record, metrics, gate, diff, ...)

Findings are pure functions over the run tables: :mod:`audit.engine.drivers`
(``failure_drivers``, ``driver_words``, ``train_label_counts``) and
:mod:`audit.engine.pos_stats` (``pos_stats``).
"""

from __future__ import annotations

from typing import Any

from audit.engine.config import DatasetSpec, NightlyConfig, load_config, parse_config
from audit.engine.drivers import driver_words, failure_drivers, train_label_counts
from audit.engine.pos_stats import pos_stats

__all__ = [
    "DatasetSpec",
    "JobResult",
    "NightlyConfig",
    "driver_words",
    "failure_drivers",
    "load_config",
    "parse_config",
    "pos_stats",
    "run_job",
    "train_label_counts",
]


def __getattr__(name: str) -> Any:  # the job pulls in torch, NLTK and the attack: import it on first use
    if name in ("run_job", "JobResult"):
        from audit.engine import job

        return getattr(job, name)
    raise AttributeError(f"module 'audit.engine' has no attribute {name!r}")
