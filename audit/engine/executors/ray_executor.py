"""The Ray executor: the job's chunks in a pool of stateful Ray actors (Ray Data ``map_batches``).

Each stage becomes one Ray Dataset of chunk tasks (``ray.data.from_items``, one
row per chunk: its index and JSON payload).  ``map_batches`` runs them on a
fixed pool of :class:`_ChunkActor` (``compute=ActorPoolStrategy(size=num_actors)``,
what ``concurrency=num_actors`` meant before Ray 2.51 deprecated it) that loads the
model once per actor and builds the same work as the local executor
(:func:`~audit.engine.executors.work.build_work`).  An actor returns each chunk's
tables encoded as the store writes them (:func:`audit.store.writer.chunk_bytes`);
the driver, which alone holds the store lock, writes those bytes as they are
(:meth:`RunWriter.write_chunk_bytes`: no decode and re-encode on the driver):
the run store lives on the driver's disk and the workers return their tables.
Chunks are independent and carry their own seed, so the order in which they
come back does not matter.

Faults: Ray Data restarts a dead actor and retries its task (its default actor
fault tolerance; ``max_restarts`` / ``max_task_retries`` are no longer passed:
``**ray_remote_args`` is deprecated since Ray 2.60 and goes in 2.64).  The bound
is ours: every start of a chunk is counted by a 0-CPU actor (:func:`_attempts_actor`),
and a chunk started more than ``1 + ray.max_retries`` times is not run again but
reported as an :class:`~audit.errors.ExecutorError` (exit 8), keeping every chunk
already written, so a rerun resumes and gives identical tables.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.engine.executors.base import ChunkHook, ChunkTask, WorkerHook, WorkSpec, write_chunk_bytes
from audit.engine.meta import Progress
from audit.errors import AuditError, ConfigError, ExecutorError

if TYPE_CHECKING:
    from audit.engine.config import RayConfig
    from audit.store import RunWriter

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'reat-audit[ray]'"
ENV_FORWARDED = ("AUDIT_DATA_DIR", "NLTK_DATA")
ERROR = "__error__"  # result column: a worker's AuditError as JSON ("" when the chunk succeeded)
CPU = "__cpu_s__"  # result column: the actor's CPU seconds (its thread) for the chunk's work


def import_ray() -> Any:
    """``ray`` (with Ray Data), or a :class:`ConfigError` naming the extra to install."""
    try:
        import ray
        import ray.data  # the executor needs Ray Data, not only Ray core
    except ImportError as exc:
        raise ConfigError(f"executor: ray needs Ray, which is not installed ({exc})", hint=EXTRA_HINT) from exc
    return ray


def _error_json(exc: AuditError) -> str:
    return json.dumps({"type": type(exc).__name__, "message": exc.message, "path": exc.path, "line": exc.line,
                       "hint": exc.hint})


def _attempts_actor(ray: Any) -> Any:
    """A 0-CPU Ray actor counting how many times each chunk of each stage was started.

    Ray Data restarts a dead actor and retries its task without limit; this count, which survives the
    actor that died, is what bounds it (``ray.max_retries``).  The class is made here, not at module
    level, so that cloudpickle ships it by value: its worker starts without importing the project."""

    class Attempts:
        def __init__(self) -> None:
            self.counts: dict[tuple[str, int], int] = {}

        def begin(self, stage: str, index: int) -> int:
            key = (stage, index)
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    return ray.remote(num_cpus=0)(Attempts).remote()


class _ChunkActor:
    """One Ray actor: loads the model once, then runs the chunks of one stage."""

    def __init__(self, *, spec: WorkSpec, model_ref: str, model_hash: str, hook: WorkerHook | None,
                 attempts: Any, max_retries: int) -> None:
        import torch

        from audit.engine.executors.work import build_work, load_worker_model

        torch.set_num_threads(spec.threads)
        self.spec, self.hook = spec, hook
        self.attempts, self.max_retries = attempts, max_retries
        self.error: AuditError | None = None
        try:
            self.work = build_work(spec, model=load_worker_model(model_ref, model_hash))
        except AuditError as exc:  # e.g. a node with another model file: reported with the first chunk
            self.error = exc

    def _check_attempt(self, index: int) -> None:
        import ray

        attempt = int(ray.get(self.attempts.begin.remote(self.spec.marker, index)))
        if attempt > 1 + self.max_retries:
            raise ExecutorError(
                f"chunk {index} of the {self.spec.kind} stage killed its Ray worker {attempt - 1} time(s) "
                f"(ray.max_retries: {self.max_retries})",
                hint="the chunks written are kept: fix the cause (worker memory? see the Ray logs) and rerun the "
                     "same job to resume; raise ray.max_retries to let Ray restart dead workers more often")

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from audit.store.writer import chunk_bytes

        out: dict[str, list[Any]] = {"index": [], ERROR: [], CPU: [], **{stage: [] for stage in self.spec.stages}}
        for index, payload in zip(batch["index"], batch["payload"], strict=True):
            cpu = time.thread_time()
            try:
                self._check_attempt(int(index))
                if self.error is not None:
                    raise self.error
                if self.hook is not None:
                    self.hook(self.spec.marker, int(index))
                tables = self.work(int(index), json.loads(payload))
                blobs = [chunk_bytes(tables[stage]) for stage in self.spec.stages]
            except AuditError as exc:  # sent back as data: Ray does not keep an exception's cause chain
                error, blobs = _error_json(exc), [b""] * len(self.spec.stages)
            else:
                error = ""
            out["index"].append(int(index))
            out[ERROR].append(error)
            out[CPU].append(time.thread_time() - cpu)
            for stage, blob in zip(self.spec.stages, blobs, strict=True):
                out[stage].append(blob)
        return pd.DataFrame(out)


def _worker_error(text: str) -> AuditError:
    """The AuditError a worker reported (same class, message, file, line and hint)."""
    import audit.errors

    data = json.loads(text)
    cls = getattr(audit.errors, str(data.get("type")), AuditError)
    if not (isinstance(cls, type) and issubclass(cls, AuditError)):
        cls = AuditError
    return cls(str(data.get("message")), path=data.get("path"), line=data.get("line"), hint=data.get("hint"))


def _first_line(exc: BaseException) -> str:
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return lines[0] if lines else ""


def _audit_cause(exc: BaseException) -> AuditError | None:
    """The AuditError a worker raised, if ``exc`` wraps one (Ray wraps user errors once or twice)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, AuditError):
            return e
        stack.extend([e.__cause__, e.__context__, getattr(e, "cause", None)])
    return None


class RayExecutor:
    """Runs chunks on a Ray actor pool; joins the Ray already initialised, else starts/joins per ``ray.address``."""

    name = "ray"

    def __init__(self, config: RayConfig, *, model_ref: str, model_hash: str,
                 worker_hook: WorkerHook | None = None) -> None:
        self.config = config
        self.model_ref, self.model_hash = model_ref, model_hash
        self.worker_hook = worker_hook
        self._ray = import_ray()
        self._started = False
        self._attempts: Any = None  # the _attempts_actor, made with the first stage that runs on Ray
        self.stats: dict[str, float] = {"chunks": 0, "actor_work_cpu_s": 0.0}
        """Chunks run here and the CPU seconds the actors spent in their work (the rest of a Ray run's CPU is
        Ray's overhead: see benchmarks/scale_out.py)."""

    def _ensure_ray(self) -> Any:
        ray = self._ray
        if not ray.is_initialized():
            cfg = self.config
            env = {k: os.environ[k] for k in ENV_FORWARDED if k in os.environ}
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                      "runtime_env": {"env_vars": env} if env else None}
            if cfg.address is None:
                kwargs["num_cpus"] = max(1, round(cfg.num_actors * cfg.cpus_per_actor))
            log.info("starting Ray (%s)", cfg.address or f"local, {kwargs.get('num_cpus')} CPUs")
            ray.init(address=cfg.address, **kwargs)
            self._started = True
        return ray

    def _gpus(self, ray: Any) -> float | None:
        want = self.config.gpus_per_actor
        if want <= 0:
            return None
        if float(ray.cluster_resources().get("GPU", 0)) <= 0:
            log.warning("ray.gpus_per_actor=%s but the Ray cluster has no GPU: actors run on CPU", want)
            return None
        return want

    def run_chunks(self, writer: RunWriter, *, spec: WorkSpec, tasks: Iterable[ChunkTask], total: int, desc: str,
                   progress: bool | None, on_chunk: ChunkHook | None) -> None:
        pending = {}
        with Progress(total=total, desc=desc, enabled=progress) as bar:
            for task in tasks:
                if writer.has_chunk(spec.marker, task.index):
                    bar.update(task.n_texts)
                else:
                    pending[task.index] = task
            if not pending:
                return
            ray = self._ensure_ray()
            self._run(ray, writer, spec, pending, bar=bar, on_chunk=on_chunk)

    def _run(self, ray: Any, writer: RunWriter, spec: WorkSpec, pending: Mapping[int, ChunkTask], *,
             bar: Progress, on_chunk: ChunkHook | None) -> None:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        items = [{"index": t.index, "payload": json.dumps(t.payload)} for t in pending.values()]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        if self._attempts is None:
            self._attempts = _attempts_actor(ray)
        out = self._map(ray, ds, spec, n_items=len(items), attempts=self._attempts)
        done = 0
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="pandas"):
                for row in batch.to_dict("records"):
                    index = int(row["index"])
                    if row[ERROR]:
                        raise _worker_error(row[ERROR])
                    write_chunk_bytes(writer, spec, index, {stage: row[stage] for stage in spec.stages})
                    done += 1
                    self.stats["chunks"] += 1
                    self.stats["actor_work_cpu_s"] += float(row[CPU])
                    if on_chunk is not None:
                        on_chunk(spec.marker, index)
                    bar.update(pending[index].n_texts)
        except AuditError:
            raise
        except Exception as exc:
            cause = _audit_cause(exc)
            if cause is not None:
                raise cause from exc
            raise ExecutorError(
                f"the Ray {spec.kind} stage stopped after {done} of {len(pending)} pending chunks "
                f"({type(exc).__name__}: {_first_line(exc)})",
                hint="the chunks written are kept: rerun the same job to resume (raise ray.max_retries to let "
                     "Ray restart dead workers)",
            ) from exc
        if done != len(pending):
            raise ExecutorError(f"the Ray {spec.kind} stage returned {done} of {len(pending)} chunks",
                                hint="rerun the same job to resume")
        log.info("ray %s stage: %d chunks, actors' work %.1f s CPU", spec.kind, done, self.stats["actor_work_cpu_s"])

    def _map(self, ray: Any, ds: Any, spec: WorkSpec, *, n_items: int, attempts: Any) -> Any:
        cfg = self.config
        return ds.map_batches(
            _ChunkActor,
            fn_constructor_kwargs={"spec": spec, "model_ref": self.model_ref, "model_hash": self.model_hash,
                                   "hook": self.worker_hook, "attempts": attempts, "max_retries": cfg.max_retries},
            batch_size=cfg.batch_size, batch_format="pandas",
            # a fixed pool of stateful actors (``concurrency=n`` in older Ray; deprecated since Ray 2.51)
            compute=ray.data.ActorPoolStrategy(size=min(cfg.num_actors, n_items)),
            num_cpus=cfg.cpus_per_actor, num_gpus=self._gpus(ray),
            # no **ray_remote_args (deprecated): Ray Data's default actor fault tolerance restarts a dead actor
            # and retries its task; _attempts_actor bounds it at 1 + max_retries starts per chunk
        )

    def close(self) -> None:
        if self._attempts is not None and self._ray.is_initialized():
            self._ray.kill(self._attempts)
        self._attempts = None
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False
