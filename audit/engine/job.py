"""The nightly audit job behind ``audit run``.

Predict and explain every text (REAT, word + phrase + clause level), derive the
findings (failure drivers, driver words, POS distributions; then the driver
statistics, verified failure reasons and minimal fixes of :mod:`audit.findings`,
one batched re-prediction), attack correctly
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
from audit.engine import adversarial
from audit.engine.attribute import BatchInput, attribute_batch
from audit.engine.config import DatasetSpec, NightlyConfig, dataset_name
from audit.engine.drivers import driver_words, train_label_counts
from audit.engine.meta import Progress, code_version, run_key, seed_everything
from audit.engine.pos_stats import pos_stats
from audit.errors import DataError
from audit.findings import Findings, analyze, confirmed_drivers
from audit.gate import GateResult, evaluate_gate
from audit.models.base import AuditModel
from audit.settings import resolve_data_path
from audit.store import RunDiff, RunRecord, RunStore, RunWriter, diff_runs

log = logging.getLogger(__name__)

ChunkHook = Callable[[str, int], None]
"""Called as ``hook(stage, index)`` after each chunk is written (tests use it to interrupt a job)."""

STAGE_PRED, STAGE_TOKENS, STAGE_SEGMENTS = "predict_attr", "predict_attr_tokens", "predict_attr_segments"


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


def prepare(config: NightlyConfig) -> Prepared:
    """Load the model and read every dataset (all errors surface before a run is opened)."""
    model, model_hash = load_model_for_job(config)
    labels = tuple(model.labels)
    datasets = [_read(spec, label_names=labels) for spec in config.datasets]
    tokens, n_truncated = {}, 0
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
    return Prepared(model, config.model, model_hash, datasets, tokens, n_truncated, train_counts, train_hash)


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


def _notify(hook: ChunkHook | None, stage: str, index: int) -> None:
    if hook is not None:
        hook(stage, index)


def run_attribution(writer: RunWriter, prep: Prepared, config: NightlyConfig, *, progress: bool | None,
                    on_chunk: ChunkHook | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Predict + REAT every batch not already in the store; return the assembled tables."""
    batches = _batches(prep, config.batch_size)
    with Progress(total=sum(len(b.texts) for b in batches), desc="attribution", enabled=progress) as bar:
        for i, batch in enumerate(batches):
            if not writer.has_chunk(STAGE_PRED, i):
                seed_everything(config.seed + i)
                tables = attribute_batch(prep.model, batch)
                writer.write_chunk(STAGE_TOKENS, i, tables.tokens)
                writer.write_chunk(STAGE_SEGMENTS, i, tables.segments)
                writer.write_chunk(STAGE_PRED, i, tables.predictions)  # last: marks the batch done
                _notify(on_chunk, STAGE_PRED, i)
            bar.update(len(batch.texts))
    return writer.read_chunks(STAGE_PRED), writer.read_chunks(STAGE_TOKENS), writer.read_chunks(STAGE_SEGMENTS)


def compute_metrics(predictions: pd.DataFrame, variants: pd.DataFrame, *, n_truncated: int,
                    max_len: int | None, driver_stats: pd.DataFrame | None = None) -> dict[str, Any]:
    """The manifest's metrics; each headline metric is defined once, in :mod:`audit.metrics`."""
    from audit import metrics as headline

    # max_completeness_delta keeps NaN (skipna=False): one NaN delta is a gate breach
    metrics: dict[str, Any] = headline.prediction_metrics(predictions)
    metrics.update({"n_truncated": int(n_truncated), "max_len": max_len})
    metrics.update(headline.attack_metrics(variants))
    metrics.update(headline.findings_metrics(driver_stats))
    return metrics


def run_findings(prep: Prepared, predictions: pd.DataFrame, tokens: pd.DataFrame, segments: pd.DataFrame,
                 config: NightlyConfig) -> Findings:
    """Driver statistics, verified failure reasons and minimal fixes (one batched re-prediction)."""
    return analyze(predictions, tokens, segments, model=prep.model, config=config.findings)


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
) -> JobResult:
    """Run the nightly audit and publish it; returns the run and the gate verdict (never raises on a breach)."""
    updates: dict[str, Any] = {}
    if seed is not None:
        updates["seed"] = seed
    if store_root is not None:
        updates["store"] = str(store_root)
    config = config.model_copy(update=updates) if updates else config
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run(config, config_path=config_path, resume=resume, progress=progress, on_chunk=on_chunk,
                    wait_s=wait_s)
    finally:
        torch.set_num_threads(threads)


def _run(config: NightlyConfig, *, config_path: str | Path | None, resume: bool, progress: bool | None,
         on_chunk: ChunkHook | None, wait_s: float) -> JobResult:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    seed_everything(config.seed)
    prep = prepare(config)
    timings["load"] = time.perf_counter() - t_start
    version = code_version()
    data_hashes = {ds.name: ds.sha256 for ds in prep.datasets}
    if prep.train_hash is not None:
        data_hashes["train_data"] = prep.train_hash
    config_dict, config_hash = config.as_dict(), config.config_hash()
    key = run_key(config=config_hash, model=prep.model_hash, data=data_hashes, code=version)
    manifest = {
        "config": config_dict, "config_hash": config_hash, "config_path": str(config_path) if config_path else None,
        "model_ref": prep.model_ref, "model_hash": prep.model_hash, "labels": list(prep.model.labels),
        "data": data_hashes,
        "code_version": version, "seed": config.seed,
    }
    store = RunStore(config.store)
    writer = store.begin(key, manifest, resume=resume, wait_s=wait_s)
    try:
        if writer.resumed:
            log.info("resuming run %s: completed chunks are skipped", writer.run_id)
        t0 = time.perf_counter()
        predictions, tokens, segments = run_attribution(writer, prep, config, progress=progress, on_chunk=on_chunk)
        timings["attribution"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        found = run_findings(prep, predictions, tokens, segments, config)
        timings["driver_statistics"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        drivers = found.failure_drivers
        words = driver_words(predictions, tokens, drivers, label_names=prep.model.labels,
                             train_counts=prep.train_counts, words_only=config.findings.words_only)
        pos_table = pos_stats(tokens)
        timings["findings"] = time.perf_counter() - t0
        timings["attribution_and_findings"] = timings["attribution"] + timings["findings"]

        t0 = time.perf_counter()
        variants, flip_rates = adversarial.run_attacks(
            writer, prep.model, predictions, tokens, prep.tokens, words, config, progress=progress,
            on_chunk=on_chunk,
        )
        timings["attack"] = time.perf_counter() - t0

        tables = {
            "predictions": predictions, "token_attributions": tokens, "segments": segments,
            "failure_drivers": drivers, "driver_words": words, "pos_stats": pos_table,
            "variants": variants, "driver_flip_rates": flip_rates,
            "driver_stats": found.driver_stats, "minimal_fixes": found.minimal_fixes,
        }
        for name, df in tables.items():
            writer.write_table(name, df)
        metrics = compute_metrics(predictions, variants, n_truncated=prep.n_truncated, max_len=config.max_len,
                                  driver_stats=found.driver_stats)

        previous = store.latest_complete(before_run_id=writer.run_id, model_ref=prep.model_ref)
        writer.manifest["metrics"] = metrics
        diff = diff_runs(previous, writer.record()) if previous else None
        gate = evaluate_gate(config.gate, metrics, diff)
        timings["total"] = time.perf_counter() - t_start
        updates = {
            "metrics": metrics, "timings": {k: round(v, 4) for k, v in timings.items()},
            "gate": gate.to_manifest(), "previous_run_id": previous.run_id if previous else None,
            "diff": diff.to_dict() if diff is not None else None,
            "confirmed_drivers": confirmed_drivers(found.driver_stats),
        }
        writer.manifest.update(updates)
        _write_report(writer, diff)
        record = writer.publish(manifest_updates=updates)
    except BaseException as exc:
        writer.fail(f"{type(exc).__name__}: {exc}")
        raise
    return JobResult(record=record, metrics=metrics, gate=gate, diff=diff, timings=timings, resumed=writer.resumed,
                     new_driver_words=list(diff.new_driver_words) if diff is not None else [])


def _write_report(writer: RunWriter, diff: RunDiff | None) -> None:
    from audit.reports import write_run_report

    write_run_report(writer, diff=diff)
