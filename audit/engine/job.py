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

from audit.engine import adversarial
from audit.engine.attribute import BatchInput
from audit.engine.config import NightlyConfig
from audit.engine.drivers import driver_words
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
from audit.engine.prepare import Prepared, attack_tokens, load_model_for_job, prepare  # noqa: F401 (re-exported)
from audit.engine.stream_findings import (  # noqa: F401 (FindingsTables re-exported)
    AttributionBlocks,
    FindingsTables,
    _reat_word_drivers,
    attribution_blocks,
    findings_of_blocks,
)
from audit.findings import Findings, analyze, confirmed_drivers
from audit.gate import GateResult, evaluate_gate
from audit.metrics import PredictionCounts
from audit.store import RunDiff, RunRecord, RunStore, RunWriter, diff_runs

log = logging.getLogger(__name__)

ChunkHook = Callable[[str, int], None]
"""Called as ``hook(stage, index)`` after each chunk is written (tests use it to interrupt a job)."""


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
    write_attribution_chunks(writer, prep, config, progress=progress, on_chunk=on_chunk, executor=executor)
    return writer.read_chunks(STAGE_PRED), writer.read_chunks(STAGE_TOKENS), writer.read_chunks(STAGE_SEGMENTS)


FINAL_CHUNK_TABLES = {"predictions": STAGE_PRED, "token_attributions": STAGE_TOKENS, "segments": STAGE_SEGMENTS}
"""The run tables that are the attribution chunks put end to end (``stream: true`` writes them chunk by chunk)."""
_STREAM_PRED = ["example_id", "dataset", "line", "text", "gold", "pred", "prob_pred", "prob_gold", "correct",
                "n_tokens", "completeness_delta"]


def write_attribution_chunks(writer: RunWriter, prep: Prepared, config: NightlyConfig, *, progress: bool | None,
                             on_chunk: ChunkHook | None, executor: Executor | None = None) -> None:
    """Predict + REAT every batch not already in the store (on ``executor``), as store chunks."""
    executor = executor or LocalExecutor(model=prep.model)
    if prep.scanned:  # local: one sequential pass here; Ray: each worker reads its own blocks
        tasks = stream_tasks(prep.scanned, max_len=config.max_len, with_rows=executor.name == "local",
                             tokenize=prep.model.tokenize)
        total = sum(ds.n_rows for ds in prep.scanned)
    else:
        tasks, total = memory_tasks(_batches(prep, config.batch_size)), sum(len(ds) for ds in prep.datasets)
    executor.run_chunks(writer, spec=attribution_spec(config), tasks=tasks, total=total, desc="attribution",
                        progress=progress, on_chunk=on_chunk)


def compute_metrics(predictions: pd.DataFrame | PredictionCounts, variants: pd.DataFrame, *, n_truncated: int,
                    max_len: int | None, truncated: dict[str, int] | None = None,
                    skipped_rows: list[dict[str, Any]] | None = None,
                    driver_stats: pd.DataFrame | None = None) -> dict[str, Any]:
    """The manifest's metrics; each headline metric is defined once, in :mod:`audit.metrics`.

    ``predictions`` is the whole table, or (streamed job) the counts accumulated chunk by chunk."""
    from audit import metrics as headline

    counts = predictions if isinstance(predictions, PredictionCounts) else PredictionCounts.of(predictions)
    # max_completeness_delta keeps NaN (skipna=False): one NaN delta is a gate breach
    metrics: dict[str, Any] = counts.metrics()
    metrics.update({"n_truncated": int(n_truncated), "max_len": max_len})
    metrics.update(headline.attack_metrics(variants))
    metrics.update(headline.findings_metrics(driver_stats))
    metrics["n_skipped_rows"] = len(skipped_rows or [])
    metrics["per_dataset"] = headline.per_dataset_metrics(counts, variants, truncated=truncated or {},
                                                          skipped_rows=skipped_rows or [])
    return metrics


def run_findings(prep: Prepared, predictions: pd.DataFrame, tokens: pd.DataFrame, segments: pd.DataFrame,
                 config: NightlyConfig) -> Findings:
    """Driver statistics, verified failure reasons and minimal fixes (one batched re-prediction)."""
    return analyze(predictions, tokens, segments, model=prep.model, config=config.findings, seed=config.seed)


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
        "skipped_rows": prep.skipped_rows,
        "model_rebuilt_from_parts": bool(prep.model.metadata.get("rebuilt_from_parts", False)),
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
    if writer.published is not None:  # a job killed right after its publish rename: finished, not redone
        executor.close()
        return _finished_result(store, writer.published, config, timings)
    try:
        if writer.resumed:
            log.info("resuming run %s: completed chunks are skipped", writer.run_id)
        t0 = time.perf_counter()
        streamed = bool(prep.scanned)
        if streamed:  # bounded memory: the big tables go chunk by chunk into their final files
            write_attribution_chunks(writer, prep, config, progress=progress, on_chunk=on_chunk, executor=executor)
            for name, stage in FINAL_CHUNK_TABLES.items():
                writer.write_table_from_chunks(name, stage)
            predictions = pd.DataFrame()  # never all of them: counted and picked in one pass below
            tokens = segments = pd.DataFrame()
        else:
            predictions, tokens, segments = run_attribution(writer, prep, config, progress=progress,
                                                            on_chunk=on_chunk, executor=executor)
        timings["attribution"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if streamed:  # two passes over the chunks; driver words and POS statistics counted in the first
            tables_f = findings_of_blocks(prep, AttributionBlocks(writer), config,
                                          spill_dir=writer.scratch_dir)
            found, words, pos_table = tables_f.found, tables_f.driver_words, tables_f.pos_stats
            timings["driver_statistics"] = time.perf_counter() - t0  # fused: the statistics, driver words, POS
            timings["findings"] = timings["driver_statistics"]  # ... in the same passes (both keys: the whole)
        else:
            found = run_findings(prep, predictions, tokens, segments, config)
            timings["driver_statistics"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            words = driver_words(predictions, tokens, _reat_word_drivers(predictions, tokens, config),
                                 label_names=prep.model.labels, train_counts=prep.train_counts,
                                 words_only=config.findings.words_only)
            pos_table = pos_stats(tokens)
            timings["findings"] = time.perf_counter() - t0
        timings["attribution_and_findings"] = timings["attribution"] + timings["findings"]

        t0 = time.perf_counter()
        flips = _flip_probes_run(config, words)
        counts: pd.DataFrame | PredictionCounts = predictions
        if streamed:  # the metrics' counts, and only the prediction rows the attack stage reads
            counts, predictions = streamed_predictions(writer, config, probes=flips)
        if streamed and flips and config.attack.enabled:  # the probed texts' POS tags (attack.flip_max_texts)
            tokens = _probed_tags(writer, config.attack.flip_max_texts)
        variants, flip_rates = adversarial.run_attacks(
            writer, prep.model, predictions, tokens,
            attack_tokens(prep, predictions, max_len=config.max_len,
                          only=_attack_texts(predictions, config, probes=flips))
            if config.attack.enabled else prep.tokens,
            words, config, progress=progress, on_chunk=on_chunk, executor=executor,
        )
        timings["attack"] = time.perf_counter() - t0

        tables = {
            "predictions": predictions, "token_attributions": tokens, "segments": segments,
            "failure_drivers": found.failure_drivers, "driver_words": words, "pos_stats": pos_table,
            "variants": variants, "driver_flip_rates": flip_rates,
            "driver_stats": found.driver_stats, "minimal_fixes": found.minimal_fixes,
        }
        for name, df in tables.items():
            if not (streamed and name in FINAL_CHUNK_TABLES):
                writer.write_table(name, df)
        del tokens, segments
        metrics = compute_metrics(counts, variants, n_truncated=prep.n_truncated, max_len=config.max_len,
                                  truncated=prep.truncated, skipped_rows=prep.skipped_rows,
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
            "findings_sample": found.sample_record(config.findings, seed=config.seed),
            "attack": adversarial.describe_attack(config) if config.attack.enabled else None,  # recipe + thresholds
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


def _flip_probes_run(config: NightlyConfig, words: pd.DataFrame) -> bool:
    """Whether the driver-word flip probes run (they visit every text containing a probed word)."""
    return bool(config.attack.flip_words) or (config.attack.flip_top_words > 0 and len(words) > 0)


def _attack_texts(predictions: pd.DataFrame, config: NightlyConfig, *, probes: bool) -> pd.DataFrame:
    """The texts whose tokens the attack stage needs: its targets, plus (``probes``) the first
    ``attack.flip_max_texts`` texts of each dataset that the driver-word flip probes visit."""
    targets = adversarial.attack_targets(predictions, max_texts=config.attack.max_texts,
                                         include_errors=config.attack.attack_misclassified)[["dataset", "example_id"]]
    if not probes:
        return targets
    cap = config.attack.flip_max_texts
    probed = predictions[["dataset", "example_id"]] if cap is None else predictions.loc[
        predictions["example_id"].to_numpy() < cap, ["dataset", "example_id"]]
    return pd.concat([targets, probed], ignore_index=True)


def streamed_predictions(writer: RunWriter, config: NightlyConfig, *, probes: bool,
                         ) -> tuple[PredictionCounts, pd.DataFrame]:
    """One pass over the prediction chunks (one chunk in memory at a time): the counts of the prediction
    metrics (:class:`~audit.metrics.PredictionCounts`), and only the prediction rows the attack stage reads,
    in table order: its targets (:func:`~audit.engine.adversarial.attack_targets`, kept as a running
    selection: the first ``attack.max_texts`` candidates of each dataset) plus, with ``probes``, the texts
    the driver-word flip probes visit (example_id < ``attack.flip_max_texts``).  Both are capped by the
    config; with ``attack.max_texts`` None every correctly classified text is a target (every text with
    ``attack.attack_misclassified``), and with ``attack.flip_max_texts`` None every text is probed: then
    the rows kept are O(N) by nature.  With the attack disabled no row is kept."""
    counts = PredictionCounts()
    cfg = config.attack
    keep_targets, keep_probed = cfg.enabled, cfg.enabled and probes
    targets = pd.DataFrame()
    parts: list[pd.DataFrame] = []  # rows kept for good (an uncapped selection, the probed texts)
    offset = 0
    columns = _STREAM_PRED if keep_targets else ["dataset", "correct", "completeness_delta"]  # no text: counts only
    for _, chunk in writer.iter_chunks(STAGE_PRED, columns=columns):
        counts.add(chunk)
        chunk = chunk.set_axis(pd.RangeIndex(offset, offset + len(chunk)))  # the row's place in the table
        offset += len(chunk)
        if keep_targets:
            if cfg.max_texts is None:
                parts.append(adversarial.attack_targets(chunk, max_texts=None, include_errors=cfg.attack_misclassified))
            else:  # the first max_texts of each dataset so far: bounded whatever the number of chunks
                both = chunk if targets.empty else pd.concat([targets, chunk])
                targets = adversarial.attack_targets(both, max_texts=cfg.max_texts,
                                                     include_errors=cfg.attack_misclassified)
        if keep_probed:
            cap = cfg.flip_max_texts
            parts.append(chunk if cap is None else chunk[chunk["example_id"].to_numpy() < cap])
    frames = [f for f in (targets, *parts) if len(f)]
    if not frames:
        return counts, pd.DataFrame(columns=_STREAM_PRED)
    kept = pd.concat(frames)
    kept = kept[~kept.index.duplicated()].sort_index(kind="stable")
    return counts, kept.reset_index(drop=True)


def _probed_tags(writer: RunWriter, cap: int | None) -> pd.DataFrame:
    """dataset, example_id, pos of the tokens of the texts the flip probes visit (read chunk by chunk)."""
    cols = ["dataset", "example_id", "pos"]
    parts = [df if cap is None else df[df["example_id"].to_numpy() < cap]
             for _, df in writer.iter_chunks(STAGE_TOKENS, columns=cols)]
    parts = [df for df in parts if len(df)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def _finished_result(store: RunStore, record: RunRecord, config: NightlyConfig,
                     timings: dict[str, float]) -> JobResult:
    """The result of a run published by an interrupted job (its manifest holds the recorded verdict)."""
    previous_id = record.manifest.get("previous_run_id")
    previous = store.latest_complete(before_run_id=record.run_id, model_ref=record.manifest.get("model_ref"))
    if previous is not None and previous.run_id != previous_id:
        previous = None  # the run it was compared with is gone: no diff rather than another one
    diff = diff_runs(previous, record) if previous is not None else None
    recorded = record.manifest.get("gate")
    if isinstance(recorded, dict) and {"passed", "breaches", "checks"} <= set(recorded):
        gate = GateResult(**recorded)
    else:  # no verdict recorded: evaluate it now rather than report a pass that never happened
        gate = evaluate_gate(config.gate, record.metrics, diff)
    return JobResult(record=record, metrics=record.metrics, gate=gate, diff=diff, timings=timings, resumed=True,
                     new_driver_words=list(diff.new_driver_words) if diff is not None else [])


def _write_report(writer: RunWriter, diff: RunDiff | None) -> None:
    from audit.reports import write_run_report

    write_run_report(writer, diff=diff)
