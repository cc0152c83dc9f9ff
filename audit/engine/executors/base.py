"""Chunk work and the local executor.

The nightly job's expensive stages are lists of *chunks* (``batch_size`` texts
each, the unit of resume).  A stage is described by a :class:`WorkSpec` (plain,
picklable data: which work, which model, seed, options) and an iterable of
:class:`ChunkTask` (chunk index + a JSON-able payload).  An executor builds the
work once per worker (:func:`audit.engine.executors.work.build_work`, which
loads the model once), runs every chunk not yet in the store, and the *driver*
writes each chunk's tables with :meth:`RunWriter.write_chunk`, the last stage
of :attr:`WorkSpec.stages` last (it marks the chunk done).  Chunk ``i`` is
seeded with ``WorkSpec.seed + i`` inside the worker, so the tables never
depend on which worker ran it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from audit.engine.meta import Progress

if TYPE_CHECKING:
    from audit.models.base import AuditModel
    from audit.store import RunWriter

log = logging.getLogger(__name__)

ChunkHook = Callable[[str, int], None]
WorkerHook = Callable[[str, int], None]
"""Called as ``hook(stage, index)`` in the worker before it computes a chunk (fault injection in tests)."""


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of a stage: its index, a JSON-able payload for the work, and how many texts it holds."""

    index: int
    payload: Mapping[str, Any]
    n_texts: int


@dataclass(frozen=True)
class WorkSpec:
    """What a worker needs to build the work of one stage (plain data: it travels to Ray actors)."""

    kind: str  # "attribution" | "attack"
    threads: int
    seed: int  # chunk i is seeded with seed + i
    stages: tuple[str, ...]  # output chunk stages; the last one marks a chunk done
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        return self.stages[-1]


ChunkWork = Callable[[int, Mapping[str, Any]], dict[str, pd.DataFrame]]


class Executor(Protocol):
    """Runs the pending chunks of a stage and has the driver write their tables."""

    name: str

    def run_chunks(self, writer: RunWriter, *, spec: WorkSpec, tasks: Iterable[ChunkTask], total: int, desc: str,
                   progress: bool | None, on_chunk: ChunkHook | None) -> None: ...

    def close(self) -> None: ...


def write_chunk_tables(writer: RunWriter, spec: WorkSpec, index: int, tables: Mapping[str, pd.DataFrame]) -> None:
    """Write one chunk's tables in :attr:`WorkSpec.stages` order (the marker last)."""
    missing = [s for s in spec.stages if s not in tables]
    if missing:
        raise RuntimeError(f"chunk {index} of {spec.kind} lacks the tables {missing}")
    for stage in spec.stages:
        writer.write_chunk(stage, index, tables[stage])


def write_chunk_bytes(writer: RunWriter, spec: WorkSpec, index: int, blobs: Mapping[str, bytes]) -> None:
    """:func:`write_chunk_tables` of tables a worker already encoded (:func:`audit.store.writer.chunk_bytes`)."""
    missing = [s for s in spec.stages if s not in blobs]
    if missing:
        raise RuntimeError(f"chunk {index} of {spec.kind} lacks the tables {missing}")
    for stage in spec.stages:
        writer.write_chunk_bytes(stage, index, blobs[stage])


class LocalExecutor:
    """Today's path: every chunk in this process, in order, with the already loaded model."""

    name = "local"

    def __init__(self, *, model: AuditModel, worker_hook: WorkerHook | None = None) -> None:
        self.model = model
        self.worker_hook = worker_hook

    def run_chunks(self, writer: RunWriter, *, spec: WorkSpec, tasks: Iterable[ChunkTask], total: int, desc: str,
                   progress: bool | None, on_chunk: ChunkHook | None) -> None:
        from audit.engine.executors.work import build_work

        work: ChunkWork | None = None
        with Progress(total=total, desc=desc, enabled=progress) as bar:
            for task in tasks:
                if not writer.has_chunk(spec.marker, task.index):
                    if self.worker_hook is not None:
                        self.worker_hook(spec.marker, task.index)
                    work = work or build_work(spec, model=self.model)
                    write_chunk_tables(writer, spec, task.index, work(task.index, task.payload))
                    if on_chunk is not None:
                        on_chunk(spec.marker, task.index)
                bar.update(task.n_texts)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class CrashOnce:
    """A :data:`WorkerHook` that kills its worker process (``os._exit``) at chunk ``index`` of ``stage``, once:
    the marker file records that it fired.  For testing crash recovery; picklable, so it reaches Ray actors."""

    marker: str
    stage: str
    index: int

    def __call__(self, stage: str, index: int) -> None:
        if stage == self.stage and index == self.index:
            path = Path(self.marker)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            log.warning("CrashOnce: killing worker pid %d at %s/%d", os.getpid(), stage, index)
            os._exit(17)
