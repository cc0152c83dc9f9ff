"""The nightly job's data faults (issue 10 items 4.1, 4.2, 4.7, 4.10, 4.13) end to end on a tiny GRU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit._markdown import md_escape
from audit.engine.config import load_config
from audit.engine.job import run_job
from audit.errors import DataError
from audit.store import RunStore
from tests.test_engine_job import _rows, _write_tsv, make_setup

NO_ATTACK = {"enabled": False, "flip_top_words": 0}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _bad_test_file(tmp_path: Path) -> Path:
    """test.tsv with 3 bad rows (lines 4, 7, 9) among good ones."""
    lines = (tmp_path / "test.tsv").read_text(encoding="utf-8").splitlines()
    lines[3] = "7x\tan unknown label"  # file line 4
    lines[6] = "1\t"  # line 7: empty text
    lines[8] = "0\tthe plot\x00 is dull ."  # line 9: a NUL byte
    path = tmp_path / "test.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_rows_error_names_the_first_and_counts_the_others(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack=NO_ATTACK)
    path = _bad_test_file(tmp_path)
    with pytest.raises(DataError) as info:
        run_job(load_config(config), progress=False)
    msg = str(info.value)
    assert msg.startswith(f"{path}:4: unknown label '7x'")
    assert "and 2 other bad rows (line 7: empty text; line 9: control character U+0000" in msg
    assert "on_bad_rows: skip" in msg
    assert RunStore(tmp_path / "runs").list_runs() == []  # nothing was started


def test_bad_rows_skip_lists_them_in_manifest_summary_and_report(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack=NO_ATTACK)
    path = _bad_test_file(tmp_path)
    cfg = load_config(config)
    cfg = cfg.model_copy(update={"datasets": [cfg.datasets[0].model_copy(update={"on_bad_rows": "skip"})]})
    result = run_job(cfg, progress=False)
    m = result.record.manifest
    assert [(r["dataset"], r["path"], r["line"]) for r in m["skipped_rows"]] == [
        ("tiny", str(path), 4), ("tiny", str(path), 7), ("tiny", str(path), 9)]
    assert [r["reason"].split(" (")[0] for r in m["skipped_rows"]] == [
        "unknown label '7x': not an integer class id", "empty text", "control character U+0000 at column 9 of the text"]
    assert m["metrics"]["n_skipped_rows"] == 3 and m["metrics"]["n_examples"] == 17
    assert m["metrics"]["per_dataset"]["tiny"]["n_skipped_rows"] == 3
    preds = result.record.table("predictions")
    assert 4 not in set(preds["line"]) and 9 not in set(preds["line"]) and len(preds) == 17
    md = (result.record.path / "report.md").read_text(encoding="utf-8")
    page = (result.record.path / "report.html").read_text(encoding="utf-8")
    assert "## Skipped rows (3)" in md and f"| tiny | {md_escape(path)} | 9 | {md_escape('control character U+0000')}" in md
    assert "Skipped rows (3)" in page and "unknown label &#x27;7x&#x27;" in page
    # the NUL byte of line 9 reached neither report (nor any other control character)
    for text in (md, page):
        assert _CONTROL.search(text) is None


def test_control_character_never_reaches_a_report_from_other_fields(tmp_path: Path) -> None:
    from audit.reports.run_report import write_run_report
    from tests.fixtures_runs import make_manifest, make_tables

    manifest = make_manifest()
    manifest["model_ref"] = "evil\x00\x1b[2Jmodel"
    manifest["skipped_rows"] = [{"dataset": "d\x07", "path": "p\x00", "line": 3, "reason": "r\x1b"}]
    md_path, html_path = write_run_report(tmp_path, manifest=manifest, tables=make_tables(), out_dir=tmp_path)
    for p in (md_path, html_path):
        text = p.read_text(encoding="utf-8")
        assert _CONTROL.search(text) is None and "evil" in text


def test_three_class_dataset_against_two_class_model_is_refused(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack=NO_ATTACK)
    _write_tsv(tmp_path / "test.tsv", [(0, "a dull film ."), (1, "a good film ."), (2, "a film .")])
    cfg = load_config(config)
    spec = cfg.datasets[0].model_copy(update={"label_map": {"0": 0, "1": 1, "2": 2}})
    with pytest.raises(DataError) as info:
        run_job(cfg.model_copy(update={"datasets": [spec]}), progress=False)
    msg = str(info.value)
    assert "3 classes" in msg and "['negative', 'positive']" in msg
    named = cfg.datasets[0].model_copy(update={"label_names": ("negative", "neutral", "positive")})
    with pytest.raises(DataError, match=r"\['negative', 'neutral', 'positive'\] do not map onto the model's labels"):
        run_job(cfg.model_copy(update={"datasets": [named]}), progress=False)
    assert RunStore(tmp_path / "runs").list_runs() == []


def test_labels_given_by_name_in_another_order_are_mapped(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack=NO_ATTACK)
    rows = _rows(12, seed=2)
    _write_tsv(tmp_path / "test.tsv", rows)
    _write_tsv(tmp_path / "flipped.tsv", [(1 - y, t) for y, t in rows])  # ids swapped, names swapped too
    cfg = load_config(config)
    flipped = cfg.datasets[0].model_copy(update={"name": "flipped", "path": str(tmp_path / "flipped.tsv"),
                                                 "label_names": ("positive", "negative")})
    result = run_job(cfg.model_copy(update={"datasets": [cfg.datasets[0], flipped]}), progress=False)
    preds = result.record.table("predictions")
    a, b = preds[preds["dataset"] == "tiny"], preds[preds["dataset"] == "flipped"]
    assert a["gold"].tolist() == b["gold"].tolist()  # compared by label name, not index
    per = result.metrics["per_dataset"]
    assert per["tiny"]["accuracy"] == per["flipped"]["accuracy"]


def test_max_texts_is_a_per_dataset_budget_and_metrics_are_per_dataset(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack={"max_texts": 2, "flip_top_words": 0})
    _write_tsv(tmp_path / "second.tsv", _rows(10, seed=5))
    cfg = load_config(config)
    second = cfg.datasets[0].model_copy(update={"name": "second", "path": str(tmp_path / "second.tsv")})
    result = run_job(cfg.model_copy(update={"datasets": [cfg.datasets[0], second]}), progress=False)
    preds = result.record.table("predictions")
    variants = result.record.table("variants")
    text = variants[variants["kind"] == "text"]
    for name in ("tiny", "second"):
        correct = preds[(preds["dataset"] == name) & preds["correct"]]
        assert text[text["dataset"] == name]["example_id"].tolist() == correct["example_id"].head(2).tolist()
    m = result.metrics
    per = m["per_dataset"]
    assert list(per) == ["tiny", "second"]
    for name, df in preds.groupby("dataset"):
        row = per[str(name)]
        assert row["n_examples"] == len(df) and row["n_errors"] == int((~df["correct"]).sum())
        assert row["accuracy"] == pytest.approx(df["correct"].mean())
        assert row["n_attacked"] == len(text[text["dataset"] == name])
        assert set(row) >= {"attack_success_rate", "attack_success_rate_constrained", "n_truncated"}
    assert m["n_examples"] == 30 and m["n_attacked"] == per["tiny"]["n_attacked"] + per["second"]["n_attacked"]
    assert result.record.manifest["metrics"]["per_dataset"] == per
    md = (result.record.path / "report.md").read_text(encoding="utf-8")
    assert "## Per dataset" in md and "| second |" in md and "| tiny |" in md


def test_csv_text_over_128_kib_is_read_and_truncated_to_max_len(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack=NO_ATTACK)
    long_text = " ".join(["good"] * 40_000)  # 200 KB, one field
    csv_path = tmp_path / "long.csv"
    csv_path.write_text(f'label,text\n1,"{long_text}"\n0,"a dull film ."\n', encoding="utf-8")
    cfg = load_config(config)
    spec = cfg.datasets[0].model_copy(update={"path": str(csv_path), "name": "long"})
    result = run_job(cfg.model_copy(update={"datasets": [spec]}), progress=False)
    preds = result.record.table("predictions")
    assert preds["n_tokens"].tolist() == [9, 4]  # max_len 9
    assert result.metrics["n_truncated"] == 1 and result.metrics["per_dataset"]["long"]["n_truncated"] == 1
