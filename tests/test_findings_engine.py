"""The findings stage inside the nightly job: tables, metrics, manifest, runs show --json, report, diff, gate.

A clean model is audited first, then a model with a planted shortcut under the same model path:
the second run confirms the planted token, the diff reports it as a NEW confirmed driver and the
gate's ``max_new_confirmed_drivers`` breaches.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.cli import main
from audit.engine.config import load_config
from audit.engine.job import run_job
from audit.models.io import save_model
from audit.store.schemas import DRIVER_STATS, FAILURE_DRIVERS, MINIMAL_FIXES
from tests.findings_task import PLANT, make_texts, train_model


def _write(tmp: Path, *, planted: bool) -> Path:
    model_dir = tmp / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    save_model(train_model(plant=PLANT if planted else None), model_dir)
    texts, golds = make_texts(300, seed=7, plant=PLANT, plant_rate=0.15, noise=0.1)
    (tmp / "test.tsv").write_text("label\ttext\n" + "".join(f"{g}\t{' '.join(t)}\n" for t, g in zip(texts, golds)),
                                  encoding="utf-8")
    config = {"model": str(model_dir), "datasets": [{"name": "synthetic", "path": str(tmp / "test.tsv")}],
              "batch_size": 100, "seed": 1, "store": str(tmp / "runs"), "attack": {"enabled": False},
              "findings": {"top_words": 5},
              "gate": {"min_accuracy": 0.0, "max_new_confirmed_drivers": 0}}
    path = tmp / "nightly.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    tmp = tmp_path_factory.mktemp("findings-job")
    clean = run_job(load_config(_write(tmp, planted=False)), progress=False)
    planted = run_job(load_config(_write(tmp, planted=True)), progress=False)
    return clean, planted, tmp


def test_job_writes_findings_tables_and_metrics(two_runs, one_thread) -> None:
    clean, planted, _ = two_runs
    rec = planted.record
    assert {"driver_stats", "minimal_fixes", "failure_drivers"} <= set(rec.tables())
    stats = rec.table("driver_stats")
    assert list(stats.columns) == DRIVER_STATS.names
    assert list(rec.table("failure_drivers").columns) == FAILURE_DRIVERS.names
    assert list(rec.table("minimal_fixes").columns) == MINIMAL_FIXES.names
    assert "clause" in set(rec.table("failure_drivers")["kind"])
    assert stats.loc[stats["confirmed"], "unit"].tolist() == [PLANT]
    assert planted.metrics["n_confirmed_drivers"] == 1 and clean.metrics["n_confirmed_drivers"] == 0
    assert [d["word"] for d in rec.manifest["confirmed_drivers"]] == [PLANT]
    assert rec.manifest["timings"]["driver_statistics"] > 0
    # the raw driver-word ranking is still written, with its old columns (the dashboard reads it)
    assert {"rank", "word", "n_top_error", "n_in_errors"} <= set(rec.table("driver_words").columns)


def test_diff_and_gate_use_new_confirmed_drivers(two_runs, one_thread) -> None:
    clean, planted, _ = two_runs
    assert planted.previous_run_id == clean.run_id
    assert planted.diff is not None and planted.diff.confirmed_compared
    assert planted.new_driver_words == [PLANT]
    assert not planted.gate.passed
    assert any("max_new_confirmed_drivers" in b for b in planted.gate.breaches)
    assert clean.gate.passed  # first run: nothing to compare with, the check is skipped


def test_runs_show_json_has_confirmed_drivers(two_runs, capsys, one_thread) -> None:
    clean, planted, tmp = two_runs
    assert main(["runs", "show", planted.run_id, "--store", str(tmp / "runs"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["word"] for d in data["confirmed_drivers"]] == [PLANT]
    entry = data["confirmed_drivers"][0]
    for key in ("word", "n_errors", "lift", "q_value", "fix_rate", "control_fix_rate"):
        assert entry[key] is not None
    assert entry["fix_rate"] > entry["control_fix_rate"] and entry["q_value"] <= 0.05
    assert data["metrics"]["n_confirmed_drivers"] == 1
    assert main(["runs", "show", clean.run_id, "--store", str(tmp / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["confirmed_drivers"] == []
    assert main(["runs", "show", clean.run_id, "--store", str(tmp / "runs")]) == 0
    assert "no confirmed driver words in this run" in capsys.readouterr().out
    assert main(["runs", "diff", clean.run_id, planted.run_id, "--store", str(tmp / "runs")]) == 0
    assert f"New confirmed driver words: {PLANT}" in capsys.readouterr().out


def test_report_lists_confirmed_first_then_labelled_candidates(two_runs, one_thread) -> None:
    clean, planted, _ = two_runs
    md = (planted.record.path / "report.md").read_text(encoding="utf-8")
    conf, cand = md.index("## Confirmed driver words"), md.index("## Candidate drivers (not confirmed)")
    raw = md.index("## Raw REAT top contributors (untested counts)")
    assert conf < cand < raw
    assert f"| {PLANT} | word |" in md[conf:cand]
    assert "they are not findings" in md[cand:raw]
    assert "verified reasons: " + PLANT in md or f"minimal fix: removing {{{PLANT}}}" in md
    clean_md = (clean.record.path / "report.md").read_text(encoding="utf-8")
    assert "No confirmed driver words in this run." in clean_md
    page = (planted.record.path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Confirmed driver words</h2>" in page and "<h2>Candidate drivers (not confirmed)</h2>" in page


def test_every_run_table_matches_its_store_schema(two_runs) -> None:
    """One owner for table schemas: what the job writes is exactly audit.store.schemas."""
    import pyarrow.parquet as pq

    from audit.store.schemas import SCHEMAS, schema

    _, planted, _ = two_runs
    rec = planted.record
    labels = rec.label_names()
    assert set(rec.tables()) == set(SCHEMAS) | {"driver_words"}
    for name in rec.tables():
        expected = schema(name, label_names=labels)
        written = pq.read_schema(rec.path / f"{name}.parquet")
        assert [f.name for f in written if not f.name.startswith("__")] == expected.names, name
        for field in expected:
            got = written.field(field.name).type
            if rec.table(name).empty or str(got) == "null":
                continue  # an empty column has no type to compare
            assert got.equals(field.type) or (str(got), str(field.type)) in {("large_string", "string")}, \
                (name, field.name, got, field.type)
