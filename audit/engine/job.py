"""The nightly audit job behind ``audit run``.

Predict and explain every text (REAT, word + phrase + clause level), derive the
findings (failure drivers, driver words, POS distributions), attack correctly
classified texts, compare with the previous complete run of the same model,
evaluate the gate, and publish one immutable run (see :mod:`audit.store`).

Crash safety: the expensive stages are written batch by batch as store chunks.
A rerun with the same inputs (same run key) reopens the staging folder and
skips every chunk already there; every final table is assembled from the
chunks, so a resumed run is identical to an uninterrupted one.  Each chunk
reseeds torch/numpy/random from ``seed + chunk index`` and torch uses a fixed
number of threads, so two runs with the same inputs give identical tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from audit.data.readers import Dataset, read_dataset
from audit.data.stream import ScannedDataset, scan_dataset
from audit.engine import adversarial
from audit.engine.attribute import BatchInput
from audit.engine.config import DatasetSpec, NightlyConfig, dataset_name
from audit.engine.drivers import driver_words, failure_drivers, train_label_counts
from audit.engine.executors import (
    Executor,
    LocalExecutor,
    WorkerHook,
    attribution_spec,
    make_executor,
    memory_tasks,
    stream_tasks,
)
from audit.engine.executors.work import STAGE_PRED, STAGE_SEGMENTS, STAGE_TOKENS
from audit.engine.meta import code_version, run_key, seed_everything
from audit.engine.pos_stats import pos_stats
from audit.errors import DataError
from audit.gate import GateResult, evaluate_gate
from audit.models.base import AuditModel
from audit.settings import resolve_data_path
from audit.store import RunDiff, RunRecord, RunStore, RunWriter, diff_runs

log = logging.getLogger(__name__)

ChunkHook = Callable[[str, int], None]
"""Called as ``hook(stage, index)`` after each chunk is written (tests use it to interrupt a job)."""


@dataclass
class Prepared:
    """Everything read before the run starts."""

    model: AuditModel
    model_ref: str
    model_hash: str
    datasets: list[Dataset]
    tokens: dict[str, list[list[str]]]  # dataset name -> per-example tokens (truncated to max_len)
    n_truncated: int
    train_counts: pd.DataFrame | None
    train_hash: str | None
    scanned: list[ScannedDataset] = field(default_factory=list)  # ``stream: true``: datasets are not held whole


@dataclass
class JobResult:
    """What ``audit run`` reports: the published run plus the gate verdict."""

    record: RunRecord
    metrics: dict[str, Any]
    gate: GateResult
    diff: RunDiff | None
    timings: dict[str, float]
    resumed: bool
    new_driver_words: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def previous_run_id(self) -> str | None:
        return self.record.manifest.get("previous_run_id")


# --------------------------------------------------------------------------------- preparation
def load_model_for_job(config: NightlyConfig) -> tuple[AuditModel, str]:
    """Load the configured model (training the reference model first if its directory is missing)."""
    from audit.models.io import fingerprint_model, load_model_ref, model_fingerprint

    ref = config.model
    path = Path(ref)
    if not path.is_dir() and ":" in ref:  # module:function or path/file.py:function adapter
        model = load_model_ref(ref)
        return model, fingerprint_model(model)
    if not path.exists() and config.train_config is not None:
        from audit.models.train import ensure_reference_model

        log.info("model %s is missing: training it from %s", path, config.train_config)
        ensure_reference_model(config.train_config, path)
    model = load_model_ref(str(path))
    return model, model_fingerprint(path)


def _read(spec: DatasetSpec, *, label_names: tuple[str, ...]) -> Dataset:
    return read_dataset(
        resolve_data_path(spec.path),
        text_column=spec.text_column,
        label_column=spec.label_column,
        label_map=spec.label_map,
        fmt=spec.fmt,
        name=dataset_name(spec),
        label_names=label_names,
    )


def _tokenize(model: AuditModel, ds: Dataset, max_len: int | None) -> tuple[list[list[str]], int]:
    out, truncated = [], 0
    for text, line in zip(ds.texts, ds.lines, strict=True):
        toks = model.tokenize(text)
        if not toks:
            raise DataError("the text has no tokens", path=ds.path, line=line, hint="remove the row or give it a text")
        if max_len is not None and len(toks) > max_len:
            toks, truncated = toks[:max_len], truncated + 1
        out.append(toks)
    return out, truncated


def _scan(spec: DatasetSpec, *, model: AuditModel, config: NightlyConfig) -> tuple[ScannedDataset, int]:
    """``stream: true``: validate and tokenize every row in one bounded pass; keep only the block starts."""
    path, truncated = resolve_data_path(spec.path), 0

    def check(line: int, text: str) -> None:
        nonlocal truncated
        toks = model.tokenize(text)
        if not toks:
            raise DataError("the text has no tokens", path=path, line=line, hint="remove the row or give it a text")
        truncated += config.max_len is not None and len(toks) > config.max_len

    scanned = scan_dataset(path, block_rows=config.batch_size, text_column=spec.text_column,
                           label_column=spec.label_column, label_map=spec.label_map, fmt=spec.fmt,
                           name=dataset_name(spec), label_names=tuple(model.labels), on_row=check)
    return scanned, truncated


def prepare(config: NightlyConfig) -> Prepared:
    """Load the model and read every dataset (all errors surface before a run is opened).

    With ``stream: true`` the datasets are scanned (validated, hashed, tokenized) block by block and
    not kept: :attr:`Prepared.scanned` replaces ``datasets`` and ``tokens``."""
    model, model_hash = load_model_for_job(config)
    labels = tuple(model.labels)
    scanned: list[ScannedDataset] = []
    n_truncated = 0
    if config.stream:
        for spec in config.datasets:
            ds_scan, n = _scan(spec, model=model, config=config)
            scanned.append(ds_scan)
            n_truncated += n
            if n:
                log.warning("%s: %d of %d texts are longer than max_len=%d tokens and were truncated",
                            ds_scan.name, n, ds_scan.n_rows, config.max_len)
    datasets = [] if config.stream else [_read(spec, label_names=labels) for spec in config.datasets]
    tokens: dict[str, list[list[str]]] = {}
    for ds in datasets:
        tokens[ds.name], n = _tokenize(model, ds, config.max_len)
        n_truncated += n
        if n:
            log.warning("%s: %d of %d texts are longer than max_len=%d tokens and were truncated",
                        ds.name, n, len(ds), config.max_len)
    train_counts, train_hash = None, None
    if config.train_data is not None:
        train = _read(config.train_data, label_names=labels)
        train_counts = train_label_counts([model.tokenize(t) for t in train.texts], train.labels, labels)
        train_hash = train.sha256
    return Prepared(model, config.model, model_hash, datasets, tokens, n_truncated, train_counts, train_hash,
                    scanned=scanned)


def attack_tokens(prep: Prepared, predictions: pd.DataFrame, *, max_len: int | None) -> dict[str, list[list[str]]]:
    """Per-dataset tokens for the attack stage: ``prep.tokens``, or re-tokenized from the predictions'
    texts when the datasets were streamed (the attack holds every text's tokens; see docs/scale-out.md)."""
    if not prep.scanned:
        return prep.tokens
    out: dict[str, list[list[str]]] = {}
    for name, group in predictions.groupby("dataset", sort=False):
        texts = group.sort_values("example_id", kind="mergesort")["text"]
        out[str(name)] = [prep.model.tokenize(str(t))[:max_len] if max_len else prep.model.tokenize(str(t))
                          for t in texts]
    return out


# --------------------------------------------------------------------------------- stages
def _batches(prep: Prepared, batch_size: int) -> list[BatchInput]:
    out = []
    for ds in prep.datasets:
        toks = prep.tokens[ds.name]
        for start in range(0, len(ds), batch_size):
            stop = min(start + batch_size, len(ds))
            out.append(BatchInput(dataset=ds.name, example_ids=range(start, stop), lines=ds.lines[start:stop],
                                  texts=ds.texts[start:stop], golds=ds.labels[start:stop], tokens=toks[start:stop]))
    return out


def run_attribution(writer: RunWriter, prep: Prepared, config: NightlyConfig, *, progress: bool | None,
                    on_chunk: ChunkHook | None, executor: Executor | None = None,
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predict + REAT every batch not already in the store (on ``executor``); return the assembled tables."""
    executor = executor or LocalExecutor(model=prep.model)
    if prep.scanned:  # local: one sequential pass here; Ray: each worker reads its own blocks
        tasks = stream_tasks(prep.scanned, max_len=config.max_len, with_rows=executor.name == "local",
                             tokenize=prep.model.tokenize)
        total = sum(ds.n_rows for ds in prep.scanned)
    else:
        tasks, total = memory_tasks(_batches(prep, config.batch_size)), sum(len(ds) for ds in prep.datasets)
    executor.run_chunks(writer, spec=attribution_spec(config), tasks=tasks, total=total, desc="attribution",
                        progress=progress, on_chunk=on_chunk)
    return writer.read_chunks(STAGE_PRED), writer.read_chunks(STAGE_TOKENS), writer.read_chunks(STAGE_SEGMENTS)


def compute_metrics(predictions: pd.DataFrame, variants: pd.DataFrame, *, n_truncated: int,
                    max_len: int | None) -> dict[str, Any]:
    n = len(predictions)
    correct = predictions["correct"].astype(bool)
    metrics: dict[str, Any] = {
        "accuracy": float(correct.mean()) if n else None,
        "n_examples": int(n),
        "n_errors": int((~correct).sum()),
        # skipna=False: one NaN delta makes the max NaN, which the gate treats as a breach
        "max_completeness_delta": float(predictions["completeness_delta"].max(skipna=False)) if n else None,
        "n_truncated": int(n_truncated),
        "max_len": max_len,
    }
    metrics.update(adversarial.attack_metrics(variants))
    return metrics


# --------------------------------------------------------------------------------- the job
def run_job(
    config: NightlyConfig,
    *,
    config_path: str | Path | None = None,
    resume: bool = True,
    store_root: str | Path | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    on_chunk: ChunkHook | None = None,
    wait_s: float = 0.0,
    executor: str | None = None,
    on_worker_chunk: WorkerHook | None = None,
) -> JobResult:
    """Run the nightly audit and publish it; returns the run and the gate verdict (never raises on a breach).

    ``executor`` overrides ``config.executor`` (``local``/``ray``); ``on_worker_chunk(stage, index)`` runs in
    the worker before each chunk (fault injection in tests, e.g. :class:`~audit.engine.executors.CrashOnce`)."""
    updates: dict[str, Any] = {}
    if seed is not None:
        updates["seed"] = seed
    if store_root is not None:
        updates["store"] = str(store_root)
    if executor is not None:
        updates["executor"] = executor
    config = config.model_copy(update=updates) if updates else config
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run(config, config_path=config_path, resume=resume, progress=progress, on_chunk=on_chunk,
                    wait_s=wait_s, on_worker_chunk=on_worker_chunk)
    finally:
        torch.set_num_threads(threads)


def _run(config: NightlyConfig, *, config_path: str | Path | None, resume: bool, progress: bool | None,
         on_chunk: ChunkHook | None, wait_s: float, on_worker_chunk: WorkerHook | None = None) -> JobResult:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    seed_everything(config.seed)
    prep = prepare(config)
    timings["load"] = time.perf_counter() - t_start
    version = code_version()
    data_hashes = {ds.name: ds.sha256 for ds in prep.datasets} | {ds.name: ds.sha256 for ds in prep.scanned}
    if prep.train_hash is not None:
        data_hashes["train_data"] = prep.train_hash
    config_dict, config_hash = config.job_dict(), config.config_hash()
    key = run_key(config=config_hash, model=prep.model_hash, data=data_hashes, code=version)
    manifest = {
        "config": config_dict, "config_hash": config_hash, "config_path": str(config_path) if config_path else None,
        "model_ref": prep.model_ref, "model_hash": prep.model_hash, "labels": list(prep.model.labels),
        "data": data_hashes,
        "code_version": version, "seed": config.seed,
        "executor": config.executor, "execution": config.execution_dict(),  # not in the run key: same tables
    }
    executor = make_executor(config, model=prep.model, model_ref=prep.model_ref, model_hash=prep.model_hash,
                             worker_hook=on_worker_chunk)
    store = RunStore(config.store)
    try:
        writer = store.begin(key, manifest, resume=resume, wait_s=wait_s)
    except BaseException:
        executor.close()
        raise
    try:
        if writer.resumed:
            log.info("resuming run %s: completed chunks are skipped", writer.run_id)
        t0 = time.perf_counter()
        predictions, tokens, segments = run_attribution(writer, prep, config, progress=progress, on_chunk=on_chunk,
                                                        executor=executor)
        timings["attribution"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        drivers = failure_drivers(predictions, tokens, segments, top_k=config.findings.top_k)
        words = driver_words(predictions, tokens, drivers, label_names=prep.model.labels,
                             train_counts=prep.train_counts, words_only=config.findings.words_only)
        pos_table = pos_stats(tokens)
        timings["findings"] = time.perf_counter() - t0
        timings["attribution_and_findings"] = timings["attribution"] + timings["findings"]

        t0 = time.perf_counter()
        variants, flip_rates = adversarial.run_attacks(
            writer, prep.model, predictions, tokens,
            attack_tokens(prep, predictions, max_len=config.max_len) if config.attack.enabled else prep.tokens,
            words, config, progress=progress, on_chunk=on_chunk, executor=executor,
        )
        timings["attack"] = time.perf_counter() - t0

        tables = {
            "predictions": predictions, "token_attributions": tokens, "segments": segments,
            "failure_drivers": drivers, "driver_words": words, "pos_stats": pos_table,
            "variants": variants, "driver_flip_rates": flip_rates,
        }
        for name, df in tables.items():
            writer.write_table(name, df)
        metrics = compute_metrics(predictions, variants, n_truncated=prep.n_truncated, max_len=config.max_len)

        previous = store.latest_complete(before_run_id=writer.run_id, model_ref=prep.model_ref)
        writer.manifest["metrics"] = metrics
        diff = diff_runs(previous, writer.record(), top_n=config.findings.top_words) if previous else None
        gate = evaluate_gate(config.gate, metrics, diff)
        timings["total"] = time.perf_counter() - t_start
        updates = {
            "metrics": metrics, "timings": {k: round(v, 4) for k, v in timings.items()},
            "gate": gate.to_manifest(), "previous_run_id": previous.run_id if previous else None,
            "diff": diff.to_dict() if diff is not None else None,
        }
        writer.manifest.update(updates)
        _write_report(writer, diff)
        record = writer.publish(manifest_updates=updates)
    except BaseException as exc:
        writer.fail(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        executor.close()
    return JobResult(record=record, metrics=metrics, gate=gate, diff=diff, timings=timings, resumed=writer.resumed,
                     new_driver_words=list(diff.new_driver_words) if diff is not None else [])


def _write_report(writer: RunWriter, diff: RunDiff | None) -> None:
    from audit.reports import write_run_report

    write_run_report(writer, diff=diff)
