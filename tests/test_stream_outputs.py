"""Bounded memory for the streamed job's outputs: the prediction metrics are counted chunk by chunk (one
definition, the in-memory numbers exactly), the attack keeps only the rows it reads, the report's sample
failures are a running top-k over record batches, and the run diff matches the new run's batches against a
compact index of the old run, listing a capped number of failures with exact counts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.dashboard import runs as vm_runs
from audit.engine import adversarial
from audit.engine import job as job_module
from audit.engine.config import load_config, parse_config
from audit.engine.executors.work import STAGE_PRED
from audit.engine.job import run_job
from audit.gate import GateConfig, evaluate_gate
from audit.metrics import PredictionCounts, per_dataset_metrics, prediction_metrics
from audit.reports import run_report
from audit.store import RunRecord, RunStore, diff as diff_module, diff_runs
from audit.store.diff import RunDiff, failure_counts
from audit.store.writer import RunWriter
from tests.test_engine_job import assert_same_tables, make_setup, tables_of


# ------------------------------------------------------------------------------------------ helpers
def _predictions(n: int, *, seed: int, datasets: tuple[str, ...] = ("b", "a", "c")) -> pd.DataFrame:
    """A predictions-like table: datasets interleaved, tied prob_pred values, small deltas."""
    rng = np.random.default_rng(seed)
    names = [datasets[i] for i in rng.integers(0, len(datasets), n)]
    per: dict[str, int] = {}
    ids = []
    for name in names:
        ids.append(per.get(name, 0))
        per[name] = ids[-1] + 1
    gold = rng.integers(0, 2, n)
    correct = rng.random(n) < 0.6
    return pd.DataFrame({
        "example_id": np.array(ids, dtype=np.int64), "dataset": names, "line": np.arange(n, dtype=np.int64) + 2,
        "text": [f"text {names[i]} {ids[i]}" for i in range(n)], "gold": gold,
        "pred": np.where(correct, gold, 1 - gold), "prob_pred": rng.choice([0.9, 0.8, 0.7, 0.6], n),
        "prob_gold": rng.random(n), "correct": correct, "n_tokens": rng.integers(1, 9, n),
        "completeness_delta": rng.random(n) * 1e-6,
    })


def _chunks(df: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [df.iloc[i:i + size].reset_index(drop=True) for i in range(0, len(df), size)]


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, recursively (dicts keep their key order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _reference_metrics(df: pd.DataFrame) -> dict[str, Any]:
    """The prediction metrics as they were defined before the running counts (whole-table pandas)."""
    correct = df["correct"].astype(bool)
    return {"accuracy": float(correct.mean()), "n_examples": len(df), "n_errors": int((~correct).sum()),
            "max_completeness_delta": float(df["completeness_delta"].max(skipna=False))}


def _streamed(config: Path, **overrides: Any) -> Any:
    data = yaml.safe_load(config.read_text())
    return parse_config({**data, "stream": True, **overrides})


def _forbid_whole_predictions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``RunRecord.table("predictions")`` (reading the whole table) fail the test; other tables read as usual."""
    real_table = RunRecord.table

    def table(self: RunRecord, name: str) -> pd.DataFrame:
        if name == "predictions":
            raise AssertionError("read the whole predictions table")
        return real_table(self, name)

    monkeypatch.setattr(RunRecord, "table", table)


# ------------------------------------------------------------------------------- (1) the metrics
@pytest.mark.parametrize("nan_at", [None, 37, 0, 99])
def test_counts_chunk_by_chunk_are_the_whole_tables_metrics(nan_at: int | None) -> None:
    df = _predictions(100, seed=1)
    if nan_at is not None:  # one NaN delta makes the max NaN, whichever chunk holds it
        df.loc[nan_at, "completeness_delta"] = float("nan")
    for size in (1, 7, 100):
        counts = PredictionCounts()
        for chunk in _chunks(df, size):
            counts.add(chunk)
        assert _same(counts.metrics(), prediction_metrics(df)) and _same(counts.metrics(), _reference_metrics(df))
        whole = per_dataset_metrics(df, df.iloc[:0], truncated={"a": 2}, skipped_rows=[{"dataset": "c"}])
        streamed = per_dataset_metrics(counts, df.iloc[:0], truncated={"a": 2}, skipped_rows=[{"dataset": "c"}])
        assert _same(streamed, whole)
        assert list(streamed) == list(dict.fromkeys(df["dataset"])) and len(streamed) == 3  # first appearance
        for name in streamed:
            part = df[df["dataset"] == name]
            assert _same({k: streamed[name][k] for k in _reference_metrics(part)}, _reference_metrics(part))
    if nan_at is not None:
        assert math.isnan(prediction_metrics(df)["max_completeness_delta"])
        nan_ds = df.loc[nan_at, "dataset"]
        assert math.isnan(per_dataset_metrics(counts, df.iloc[:0], truncated={}, skipped_rows=[])[nan_ds][
            "max_completeness_delta"])


def test_counts_of_nothing_and_of_a_table_without_deltas() -> None:
    empty = PredictionCounts()
    empty.add(pd.DataFrame())
    assert empty.metrics() == prediction_metrics(pd.DataFrame()) == {
        "accuracy": None, "n_examples": 0, "n_errors": 0, "max_completeness_delta": None}
    df = _predictions(10, seed=2).drop(columns=["completeness_delta"])
    assert prediction_metrics(df)["max_completeness_delta"] is None
    assert PredictionCounts.of(df).metrics() == prediction_metrics(df)


def test_the_streamed_job_never_reads_all_predictions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails if the streamed job assembles the prediction chunks, if its report or diff reads the whole
    predictions table, or if the attack stage is handed more than its targets and probed texts."""
    config = make_setup(tmp_path, n_test=48, batch_size=8, attack={"max_texts": 3, "flip_top_words": 3,
                                                                   "flip_max_texts": 10})
    store = tmp_path / "runs"
    whole = run_job(load_config(config), store_root=tmp_path / "a", progress=False)
    first = run_job(load_config(config), store_root=store, progress=False)  # the previous run to diff with

    real_read_chunks, real_table, real_run_attacks = RunWriter.read_chunks, RunRecord.table, adversarial.run_attacks
    handed: list[int] = []

    def read_chunks(self: RunWriter, stage: str, **kw: Any) -> pd.DataFrame:
        if stage == STAGE_PRED:
            raise AssertionError("assembled the prediction chunks")
        return real_read_chunks(self, stage, **kw)

    def table(self: RunRecord, name: str) -> pd.DataFrame:
        if name == "predictions":
            raise AssertionError("read the whole predictions table")
        return real_table(self, name)

    def run_attacks(writer: Any, model: Any, predictions: pd.DataFrame, *args: Any, **kw: Any) -> Any:
        handed.append(len(predictions))
        return real_run_attacks(writer, model, predictions, *args, **kw)

    monkeypatch.setattr(RunWriter, "read_chunks", read_chunks)
    monkeypatch.setattr(RunRecord, "table", table)
    monkeypatch.setattr(job_module.adversarial, "run_attacks", run_attacks)
    streamed = run_job(_streamed(config), store_root=store, progress=False)
    monkeypatch.setattr(RunWriter, "read_chunks", real_read_chunks)
    monkeypatch.setattr(RunRecord, "table", real_table)

    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    assert whole.record.manifest["metrics"] == streamed.record.manifest["metrics"]
    assert handed and 10 <= handed[0] <= 13  # the probed texts (ids 0-9) and the 3 targets, not all 48
    assert streamed.previous_run_id == first.run_id and streamed.diff is not None
    assert streamed.diff.n_matched == 48 and streamed.diff.new_failure_count == 0
    assert streamed.record.manifest["diff"]["n_new_failures"] == 0


def test_the_kept_rows_are_the_attack_targets_whatever_the_chunking(tmp_path: Path) -> None:
    """The running selection equals attack_targets of the whole table (per-dataset cap, table order)."""
    config = make_setup(tmp_path, n_test=8, attack={"max_texts": 4, "flip_max_texts": 3})
    cfg = load_config(config)
    df = _predictions(90, seed=5)
    writer = RunStore(tmp_path / "runs").begin("key", {"test": True})
    for i, chunk in enumerate(_chunks(df, 7)):
        writer.write_chunk(STAGE_PRED, i, chunk)
    for probes in (False, True):
        counts, kept = job_module.streamed_predictions(writer, cfg, probes=probes)
        assert _same(counts.metrics(), prediction_metrics(df))
        want = adversarial.attack_targets(df, max_texts=4)
        if probes:
            want = df[df.index.isin(want.index) | (df["example_id"] < 3)]
        pd.testing.assert_frame_equal(kept, want[kept.columns].reset_index(drop=True), check_exact=True)
        pd.testing.assert_frame_equal(adversarial.attack_targets(kept, max_texts=4).reset_index(drop=True),
                                      adversarial.attack_targets(df, max_texts=4).reset_index(drop=True),
                                      check_exact=True)
    off = cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"enabled": False})})
    counts, kept = job_module.streamed_predictions(writer, off, probes=True)  # attack off: counts only
    assert kept.empty and _same(counts.metrics(), prediction_metrics(df))
    assert _same(per_dataset_metrics(counts, df.iloc[:0], truncated={}, skipped_rows=[]),
                 per_dataset_metrics(df, df.iloc[:0], truncated={}, skipped_rows=[]))
    writer.fail("test over")


# ------------------------------------------------------------------------------- (2) the report
def _record_with(tmp_path: Path, tables: dict[str, pd.DataFrame], *, row_group: int) -> RunRecord:
    folder = tmp_path / "run"
    folder.mkdir()
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False, row_group_size=row_group)
    return RunRecord(path=folder, manifest={"run_id": "r1", "labels": ["negative", "positive"]}, run_id="r1",
                     status="running")


def test_the_running_top_errors_are_the_in_memory_ones_ties_included() -> None:
    df = _predictions(200, seed=3)  # four prob_pred values: ties everywhere, across every batch boundary
    wrong = df[~df["correct"]]
    want = wrong.iloc[np.argsort(-wrong["prob_pred"].to_numpy(), kind="stable")].head(10)
    report = run_report._Report({}, {"predictions": df}, None, ["negative", "positive"], 10)
    pd.testing.assert_frame_equal(report.failures(), want, check_exact=True)
    for size in (1, 3, 16, 500):
        got = run_report.top_failures([df.iloc[i:i + size] for i in range(0, len(df), size)], 10)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert want["prob_pred"].nunique() < len(want)  # the sample holds ties


def test_the_report_reads_predictions_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    df = _predictions(120, seed=4)
    record = _record_with(tmp_path, {"predictions": df}, row_group=5)
    out = tmp_path / "out"
    out.mkdir()
    run_report.write_run_report(record, tables={"predictions": df}, out_dir=out)  # in memory: failures()
    in_memory = (out / "report.md").read_text()
    _forbid_whole_predictions(monkeypatch)
    monkeypatch.setattr(run_report, "PREDICTION_BATCH_ROWS", 7)
    run_report.write_run_report(record)
    streamed = (record.path / "report.md").read_text()
    assert streamed == in_memory
    section = streamed[streamed.index("## Sample failures"):streamed.index("## Sample flips")]
    assert section.count("- [") == 10


# --------------------------------------------------------------------------------- (3) the diff
def _reference_diff(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, Any]:
    """The diff as it was computed before the index: both tables whole, merged on (dataset, id, text)."""
    key = ["dataset", "example_id", "text"]
    cols = key + ["gold", "pred", "correct"]
    merged = old[cols].drop_duplicates(key).merge(new[cols].drop_duplicates(key), on=key, suffixes=("_old", "_new"))
    merged = merged.rename(columns={"gold_old": "gold"})
    old_ok, new_ok = merged["correct_old"].astype(bool), merged["correct_new"].astype(bool)

    def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [{"dataset": str(r["dataset"]), "example_id": int(r["example_id"]), "text": str(r["text"]),
                 "gold": int(r["gold"]), "pred_old": int(r["pred_old"]), "pred_new": int(r["pred_new"])}
                for r in df.to_dict(orient="records")]

    return {"n_matched": len(merged), "accuracy_matched_old": float(old_ok.mean()) if len(merged) else None,
            "accuracy_matched_new": float(new_ok.mean()) if len(merged) else None,
            "new_failures": rows(merged[old_ok & ~new_ok].sort_values(["dataset", "example_id"])),
            "fixed_failures": rows(merged[~old_ok & new_ok].sort_values(["dataset", "example_id"]))}


def _two_runs(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    old = _predictions(150, seed=6)
    new = _predictions(150, seed=6)
    rng = np.random.default_rng(7)
    flip = rng.random(len(new)) < 0.3  # outcomes change both ways
    new.loc[flip, "correct"] = ~new.loc[flip, "correct"]
    new["pred"] = np.where(new["correct"], new["gold"], 1 - new["gold"])
    new.loc[[3, 17, 40], "text"] = ["a changed text", "another changed one", "changed too"]
    new = new.drop(index=[5, 6, 90]).reset_index(drop=True)  # removed rows
    added = _predictions(12, seed=8, datasets=("a", "z"))
    added["example_id"] += 1000
    new = pd.concat([new, added], ignore_index=True)  # added rows, one new dataset
    dup = old.iloc[[10, 11]].copy()  # duplicated keys with other outcomes: the first row counts
    dup["correct"] = ~dup["correct"]
    dup["pred"] = 1 - dup["pred"]
    old = pd.concat([old, dup], ignore_index=True)
    return old, new.sample(frac=1.0, random_state=1).reset_index(drop=True)  # another table order


def _records(tmp_path: Path, old: pd.DataFrame, new: pd.DataFrame) -> tuple[RunRecord, RunRecord]:
    out = []
    for name, df in (("old", old), ("new", new)):
        folder = tmp_path / name
        folder.mkdir()
        df.to_parquet(folder / "predictions.parquet", index=False, row_group_size=4)
        out.append(RunRecord(path=folder, manifest={"metrics": {}}, run_id=name, status="complete"))
    return out[0], out[1]


def test_the_batched_diff_equals_the_whole_table_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _two_runs(tmp_path)
    a, b = _records(tmp_path, old, new)
    _forbid_whole_predictions(monkeypatch)
    monkeypatch.setattr(diff_module, "DIFF_BATCH_ROWS", 5)
    got = diff_runs(a, b)
    want = _reference_diff(old, new)
    assert want["n_matched"] < 150 and want["new_failures"] and want["fixed_failures"]
    for k, v in want.items():
        assert getattr(got, k) == v, k
    assert got.n_new_failures == len(want["new_failures"]) and got.n_fixed_failures == len(want["fixed_failures"])
    # the manifests lack the accuracy: recomputed batch by batch with the one definition
    assert got.accuracy_old == prediction_metrics(old)["accuracy"]
    assert got.accuracy_new == prediction_metrics(new)["accuracy"]


def test_a_diff_of_runs_without_predictions_or_shared_examples(tmp_path: Path) -> None:
    old, new = _two_runs(tmp_path)
    new["dataset"] = "elsewhere"
    a, b = _records(tmp_path, old, new)
    got = diff_runs(a, b)
    assert (got.n_matched, got.accuracy_matched_old, got.new_failures, got.n_new_failures) == (0, None, [], 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    none = RunRecord(path=empty, manifest={}, run_id="e", status="complete")
    assert diff_runs(none, b).n_matched == 0 and diff_runs(b, none).n_matched == 0


def test_the_listed_failures_are_capped_and_the_counts_exact(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _two_runs(tmp_path)
    a, b = _records(tmp_path, old, new)
    want = _reference_diff(old, new)
    n_new, n_fixed = len(want["new_failures"]), len(want["fixed_failures"])
    assert n_new > 3 and n_fixed > 3
    monkeypatch.setattr(diff_module, "DIFF_BATCH_ROWS", 5)
    monkeypatch.setattr(diff_module, "MAX_LISTED_FAILURES", 3)
    got = diff_runs(a, b)
    assert got.new_failures == want["new_failures"][:3] and got.fixed_failures == want["fixed_failures"][:3]
    assert (got.n_new_failures, got.n_fixed_failures) == (n_new, n_fixed)
    d = got.to_dict()
    assert (d["n_new_failures"], d["n_fixed_failures"], len(d["new_failures"])) == (n_new, n_fixed, 3)
    assert failure_counts(d) == (n_new, n_fixed)
    md = got.to_markdown()
    assert f"New failures: {n_new}." in md and f"The diff lists the first 3 of the {n_new} new failures" in md
    # the gate counts every new failure, not the listed ones
    gate = evaluate_gate(GateConfig(max_new_failures=3, max_completeness_delta=None), {}, got)
    assert not gate.passed and gate.checks[0]["value"] == float(n_new)
    assert evaluate_gate(GateConfig(max_new_failures=n_new, max_completeness_delta=None), {}, got).passed
    # the dashboard lists the rows it has and says how many more there are
    frames, counts = vm_runs.diff_frames(d), vm_runs.diff_failure_counts(d)
    assert len(frames["broken"]) == 3 and counts == {"fixed": n_fixed, "broken": n_new}
    assert vm_runs.not_listed_note(counts["broken"], len(frames["broken"])) == f"{n_new - 3} more not listed"
    assert vm_runs.not_listed_note(3, 3) == ""
    # the run report shows the counts
    out = tmp_path / "report"
    out.mkdir()
    run_report.write_run_report(out, manifest={"run_id": "x"}, tables={}, diff=got)
    assert f"new failures: {n_new}, fixed failures: {n_fixed}" in (out / "report.md").read_text()


def test_an_old_manifest_without_counts_falls_back_to_the_lists() -> None:
    rows = [{"dataset": "d", "example_id": i, "text": "t", "gold": 0, "pred_old": 0, "pred_new": 1} for i in range(4)]
    old_style = {"new_failures": rows, "fixed_failures": rows[:1]}
    assert failure_counts(old_style) == (4, 1)
    assert vm_runs.diff_failure_counts(old_style) == {"fixed": 1, "broken": 4}
    diff = RunDiff(old_run_id="a", new_run_id="b", accuracy_old=None, accuracy_new=None, accuracy_delta=None,
                   n_matched=4, new_failures=rows, fixed_failures=rows[:1])
    assert (diff.n_new_failures, diff.new_failure_count, diff.fixed_failure_count) == (4, 4, 1)
    gate = evaluate_gate(GateConfig(max_new_failures=3, max_completeness_delta=None), {}, diff)
    assert not gate.passed



def test_the_report_reads_only_the_row_groups_of_the_failures_it_shows(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.reports import run_report

    path = tmp_path / "token_attributions.parquet"
    with pq.ParquetWriter(path, pa.schema([("dataset", pa.string()), ("example_id", pa.int64()),
                                           ("token", pa.string())])) as out:
        for g in range(10):  # one row group per chunk of 10 texts, 2 tokens each
            ids = [i for i in range(10 * g, 10 * g + 10) for _ in range(2)]
            out.write_table(pa.table({"dataset": ["d"] * len(ids), "example_id": ids, "token": ["a", "b"] * 10}))
    read: list[int] = []
    real = pq.ParquetFile.read_row_group

    def spy(self: pq.ParquetFile, i: int, *a: Any, **kw: Any) -> Any:
        read.append(i)
        return real(self, i, *a, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    rows = pd.DataFrame({"dataset": ["d", "d", "e"], "example_id": [3, 57, 58]})
    got = run_report._tokens_of_rows(path, rows)
    assert read == [0, 5]  # the row groups that can hold 3 and 57/58
    assert got["example_id"].tolist() == [3, 3, 57, 57]  # dataset "e" has no tokens here
