"""The Ray executor: the job's chunks in a pool of stateful Ray actors (Ray Data ``map_batches``).

Each stage becomes one Ray Dataset of chunk tasks (``ray.data.from_items``, one
row per chunk: its index and JSON payload).  ``map_batches`` runs them on a
fixed pool of :class:`_ChunkActor` (``compute=ActorPoolStrategy(size=num_actors)``,
what ``concurrency=num_actors`` meant before Ray 2.51 deprecated it) that loads the
model once per actor and builds the same work as the local executor
(:func:`~audit.engine.executors.work.build_work`).  An actor returns each chunk's
tables as Parquet bytes; the driver, which alone holds the store lock, writes
them with :meth:`RunWriter.write_chunk`: the run store lives on the driver's
disk and the workers return their tables.  Chunks are independent and carry
their own seed, so the order in which they come back does not matter.

Faults: a dead actor is restarted and its chunk retried up to
``ray.max_retries`` times (Ray's ``max_restarts`` / ``max_task_retries``); past
that the job fails with :class:`~audit.errors.ExecutorError` (exit 8), keeping
every chunk already written, so a rerun resumes and gives identical tables.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.engine.executors.base import ChunkHook, ChunkTask, WorkerHook, WorkSpec, write_chunk_tables
from audit.engine.meta import Progress
from audit.errors import AuditError, ConfigError, ExecutorError

if TYPE_CHECKING:
    from audit.engine.config import RayConfig
    from audit.store import RunWriter

log = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'reat-audit[ray]'"
ENV_FORWARDED = ("AUDIT_DATA_DIR", "NLTK_DATA")
ERROR = "__error__"  # result column: a worker's AuditError as JSON ("" when the chunk succeeded)


def import_ray() -> Any:
    """``ray`` (with Ray Data), or a :class:`ConfigError` naming the extra to install."""
    try:
        import ray
        import ray.data  # the executor needs Ray Data, not only Ray core
    except ImportError as exc:
        raise ConfigError(f"executor: ray needs Ray, which is not installed ({exc})", hint=EXTRA_HINT) from exc
    return ray


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


class _ChunkActor:
    """One Ray actor: loads the model once, then runs the chunks of one stage."""

    def __init__(self, *, spec: WorkSpec, model_ref: str, model_hash: str, hook: WorkerHook | None) -> None:
        import torch

        from audit.engine.executors.work import build_work, load_worker_model

        torch.set_num_threads(spec.threads)
        self.spec, self.hook = spec, hook
        self.error: AuditError | None = None
        try:
            self.work = build_work(spec, model=load_worker_model(model_ref, model_hash))
        except AuditError as exc:  # e.g. a node with another model file: reported with the first chunk
            self.error = exc

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, list[Any]] = {"index": [], ERROR: [], **{stage: [] for stage in self.spec.stages}}
        for index, payload in zip(batch["index"], batch["payload"], strict=True):
            try:
                if self.error is not None:
                    raise self.error
                if self.hook is not None:
                    self.hook(self.spec.marker, int(index))
                tables = self.work(int(index), json.loads(payload))
            except AuditError as exc:  # sent back as data: Ray does not keep an exception's cause chain
                out["index"].append(int(index))
                out[ERROR].append(json.dumps({"type": type(exc).__name__, "message": exc.message,
                                              "path": exc.path, "line": exc.line, "hint": exc.hint}))
                for stage in self.spec.stages:
                    out[stage].append(b"")
                continue
            out["index"].append(int(index))
            out[ERROR].append("")
            for stage in self.spec.stages:
                out[stage].append(_parquet(tables[stage]))
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
        with warnings.catch_warnings():  # max_restarts/max_task_retries have no named parameter (Ray 2.60)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated", category=Warning)
            out = self._map(ray, ds, spec, n_items=len(items))
        done = 0
        try:
            for batch in out.iter_batches(batch_size=None, batch_format="pandas"):
                for row in batch.to_dict("records"):
                    index = int(row["index"])
                    if row[ERROR]:
                        raise _worker_error(row[ERROR])
                    tables = {stage: pd.read_parquet(io.BytesIO(row[stage])) for stage in spec.stages}
                    write_chunk_tables(writer, spec, index, tables)
                    done += 1
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

    def _map(self, ray: Any, ds: Any, spec: WorkSpec, *, n_items: int) -> Any:
        cfg = self.config
        return ds.map_batches(
            _ChunkActor,
            fn_constructor_kwargs={"spec": spec, "model_ref": self.model_ref, "model_hash": self.model_hash,
                                   "hook": self.worker_hook},
            batch_size=cfg.batch_size, batch_format="pandas",
            # a fixed pool of stateful actors (``concurrency=n`` in older Ray; deprecated since Ray 2.51)
            compute=ray.data.ActorPoolStrategy(size=min(cfg.num_actors, n_items)),
            num_cpus=cfg.cpus_per_actor, num_gpus=self._gpus(ray),
            max_restarts=cfg.max_retries, max_task_retries=cfg.max_retries,
        )

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False
