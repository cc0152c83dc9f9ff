"""``audit run`` in process: exit codes for pass, breach, config, data and model errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from audit.cli import main
from audit.store import RunStore
from tests.test_engine_job import TABLES, make_setup


def _edit(config: Path, **changes: object) -> Path:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.update(changes)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def test_run_passes_gate_prints_summary_and_run_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_setup(tmp_path, attack={"enabled": False}, gate={"min_accuracy": 0.0, "max_new_failures": 0})
    code = main(["run", "--config", str(config), "--store", str(tmp_path / "store"), "--seed", "5", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    runs = RunStore(tmp_path / "store").list_runs()
    assert [r.status for r in runs] == ["complete"]
    run_id = runs[0].run_id
    assert out.strip().splitlines()[-1] == run_id
    assert "gate: PASSED" in out and "accuracy" in out
    # a first run cannot compare with a previous one: the check is named as skipped, not implied passed
    assert "max_new_failures: skipped (no previous run to compare with)" in out
    record = RunStore(tmp_path / "store").get(run_id)
    assert record.manifest["seed"] == 5
    assert set(TABLES) <= set(record.tables())


def test_breached_gate_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_setup(tmp_path, attack={"enabled": False}, gate={"min_accuracy": 1.0, "max_completeness_delta": 1e-3})
    code = main(["run", "--config", str(config), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert "gate: FAILED" in captured.out and "min_accuracy" in captured.err
    record = RunStore(tmp_path / "runs").latest_complete()
    assert record is not None and record.manifest["gate"]["passed"] is False  # the run itself is published


def test_config_error_exits_3_with_field_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _edit(make_setup(tmp_path), batch_size="big")
    assert main(["run", "--config", str(config)]) == 3
    assert f"{config}: batch_size: Input should be a valid integer" in capsys.readouterr().err


def test_broken_dataset_row_exits_4_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_setup(tmp_path)
    test = tmp_path / "test.tsv"
    lines = test.read_text(encoding="utf-8").splitlines()
    lines[3] = "7\tan unknown label"  # file line 4
    test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 4
    err = capsys.readouterr().err
    assert f"{test}:4:" in err
    assert RunStore(tmp_path / "runs").list_runs() == []  # nothing was started


def test_vocab_model_mismatch_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_setup(tmp_path)
    vocab_file = tmp_path / "model" / "vocab.json"
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    vocab["tokens"] = vocab["tokens"][:-3]  # fewer tokens than embedding rows
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 5
    assert "vocab" in capsys.readouterr().err
