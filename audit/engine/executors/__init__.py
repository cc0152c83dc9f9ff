"""Executors of the nightly job's chunk stages: ``local`` (this process) and ``ray`` (a Ray actor pool).

Both run the same per-chunk work (:mod:`audit.engine.executors.work`) and the
driver writes the same chunk tables, so a run's tables do not depend on the
executor (see docs/scale-out.md).  ``ray`` is an optional extra:
``pip install 'reat-audit[ray]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.engine.executors.base import ChunkTask, CrashOnce, Executor, LocalExecutor, WorkerHook, WorkSpec
from audit.engine.executors.work import (
    attack_tasks,
    attribution_spec,
    memory_tasks,
    stream_tasks,
    worker_model_ref,
)

if TYPE_CHECKING:
    from audit.engine.config import NightlyConfig
    from audit.models.base import AuditModel

__all__ = [
    "ChunkTask", "CrashOnce", "Executor", "LocalExecutor", "WorkSpec", "WorkerHook", "attack_tasks",
    "attribution_spec", "make_executor", "memory_tasks", "stream_tasks",
]


def make_executor(config: NightlyConfig, *, model: AuditModel, model_ref: str, model_hash: str,
                  worker_hook: WorkerHook | None = None) -> Executor:
    """The executor ``config.executor`` names (``ray`` without Ray installed: ConfigError naming the extra)."""
    if config.executor == "ray":
        from audit.engine.executors.ray_executor import RayExecutor

        return RayExecutor(config.ray, model_ref=worker_model_ref(model_ref), model_hash=model_hash,
                           worker_hook=worker_hook)
    return LocalExecutor(model=model, worker_hook=worker_hook)
