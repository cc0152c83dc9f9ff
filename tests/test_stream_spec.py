"""Streaming meets the one dataset spec: ``scan_spec`` + block reads give exactly what ``read_spec`` gives
(bad rows under ``on_bad_rows`` error and skip, ``max_examples``, ``header: false``, labels checked against
and mapped onto the model's), and a streamed job lists the same skipped rows and writes the same tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from audit.data.readers import BadRow
from audit.data.spec import DatasetSpec, read_spec
from audit.data.stream import BlockRef, StreamSource, iter_blocks, read_block, scan_spec
from audit.engine.config import parse_config
from audit.engine.job import run_job
from audit.errors import DataError
from tests.test_engine_job import assert_same_tables, make_setup, tables_of

MODEL_LABELS = ("negative", "positive")


def tokenizer(text: str) -> list[str]:
    return [w for w in text.lower().split() if any(c.isalnum() for c in w)]


# (text, label) rows, bad ones among them: empty text, unknown label, control character, no tokens
ROWS: list[tuple[str, Any]] = [
    *[(f"good text number {i}", i % 2) for i in range(7)],
    ("", 0),
    ("fine again", 1),
    ("an unknown label", "maybe"),
    ("a bell \x07 rings", 0),
    (", . !", 1),
    *[(f"more text {i}", (i + 1) % 2) for i in range(9)],
    ("label left empty", ""),
    *[(f"tail {i}", i % 2) for i in range(3)],
]


def _write(path: Path, fmt: str, rows: list[tuple[str, Any]], *, header: bool = True) -> Path:
    if fmt == "tsv":
        head = "label\ttext\n" if header else ""
        path.write_text(head + "".join(f"{lab}\t{t}\n" for t, lab in rows), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows), encoding="utf-8")
    elif fmt == "csv":
        pd.DataFrame({"label": [str(lab) for _, lab in rows], "text": [t for t, _ in rows]}).to_csv(path, index=False)
    else:
        pd.DataFrame({"text": [t for t, _ in rows], "label": [str(lab) for _, lab in rows]}).to_parquet(
            path, row_group_size=5)
    return path


def _streamed(spec: DatasetSpec, block_rows: int) -> tuple[Any, list[Any], list[Any]]:
    scanned = scan_spec(spec, block_rows=block_rows, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    source = StreamSource.from_json(json.loads(json.dumps(scanned.source.to_json())))  # as a Ray worker gets it
    far = [read_block(source, BlockRef(**json.loads(json.dumps(r.__dict__))), tokenizer=tokenizer)
           for r in reversed(scanned.blocks)][::-1]
    return scanned, list(iter_blocks(scanned, tokenizer=tokenizer)), far


def _assert_same_rows(spec: DatasetSpec, block_rows: int) -> None:
    whole = read_spec(spec, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    scanned, near, far = _streamed(spec, block_rows)
    assert (scanned.n_rows, scanned.sha256, scanned.label_names) == (len(whole), whole.sha256, whole.label_names)
    assert scanned.skipped == whole.skipped
    for blocks in (near, far):
        assert all(len(b.texts) <= block_rows for b in blocks)
        assert [t for b in blocks for t in b.texts] == whole.texts
        assert [y for b in blocks for y in b.labels] == whole.labels
        assert [n for b in blocks for n in b.lines] == whole.lines


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl", "parquet"])
@pytest.mark.parametrize("block_rows", [1, 3, 50])
def test_skip_leaves_out_the_same_rows_and_lists_them(tmp_path: Path, fmt: str, block_rows: int) -> None:
    path = _write(tmp_path / f"d.{fmt}", fmt, ROWS)
    spec = DatasetSpec(path=str(path), name="d", on_bad_rows="skip")
    _assert_same_rows(spec, block_rows)
    assert len(read_spec(spec, model_labels=MODEL_LABELS, tokenizer=tokenizer).skipped) == 5


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_error_refuses_with_the_same_message(tmp_path: Path, fmt: str) -> None:
    spec = DatasetSpec(path=str(_write(tmp_path / f"d.{fmt}", fmt, ROWS)), name="d")
    with pytest.raises(DataError) as whole:
        read_spec(spec, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    with pytest.raises(DataError) as streamed:
        scan_spec(spec, block_rows=4, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    assert str(streamed.value) == str(whole.value) and "and 4 other bad rows" in str(whole.value)


@pytest.mark.parametrize("max_examples", [3, 9, 15, 40])
def test_max_examples_keeps_the_same_rows_and_skipped_rows(tmp_path: Path, max_examples: int) -> None:
    spec = DatasetSpec(path=str(_write(tmp_path / "d.tsv", "tsv", ROWS)), name="d", on_bad_rows="skip",
                       max_examples=max_examples)
    _assert_same_rows(spec, 4)


def test_a_file_without_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.tsv", "tsv", ROWS, header=False)
    spec = DatasetSpec(path=str(path), header=False, label_column=0, text_column=1, on_bad_rows="skip")
    _assert_same_rows(spec, 3)
    assert read_spec(spec, model_labels=MODEL_LABELS, tokenizer=tokenizer).lines[0] == 1  # the first line is a row


def test_labels_named_in_another_order_are_mapped_onto_the_models(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", "jsonl", [(t, lab) for t, lab in ROWS if lab in (0, 1) and t.strip()])
    spec = DatasetSpec(path=str(path), label_names=("positive", "negative"), on_bad_rows="skip")
    _assert_same_rows(spec, 4)
    scanned, near, _ = _streamed(spec, 4)
    assert scanned.source.to_model == (1, 0) and near[0].labels[0] == 1  # file class 0 is the model's "positive"


def test_labels_the_model_does_not_have_are_refused_as_by_read_spec(tmp_path: Path) -> None:
    rows = [(f"text {i}", i % 3) for i in range(20)]
    spec = DatasetSpec(path=str(_write(tmp_path / "d.tsv", "tsv", rows)))
    with pytest.raises(DataError) as whole:
        read_spec(spec, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    with pytest.raises(DataError) as streamed:
        scan_spec(spec, block_rows=4, model_labels=MODEL_LABELS, tokenizer=tokenizer)
    assert str(streamed.value) == str(whole.value) and "and 1 more" in str(whole.value)


def test_every_row_bad_is_refused(tmp_path: Path) -> None:
    spec = DatasetSpec(path=str(_write(tmp_path / "d.tsv", "tsv", [("", 0), ("x", "maybe")])), on_bad_rows="skip")
    with pytest.raises(DataError, match="every one of the 2 rows is bad"):
        scan_spec(spec, block_rows=4, model_labels=MODEL_LABELS, tokenizer=tokenizer)


def test_a_streamed_job_skips_and_lists_the_same_rows(tmp_path: Path) -> None:
    config = make_setup(tmp_path, n_test=24)
    test = tmp_path / "test.tsv"
    lines = test.read_text(encoding="utf-8").splitlines()
    lines[3] = "0\t"  # empty text
    lines[10] = "maybe\tan unknown label"
    lines.insert(15, "1\ta bell \x07 rings")  # control character
    test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = yaml.safe_load(config.read_text())
    data["datasets"][0]["on_bad_rows"] = "skip"
    whole = run_job(parse_config(data), store_root=tmp_path / "a", progress=False)
    streamed = run_job(parse_config({**data, "stream": True}), store_root=tmp_path / "a", progress=False)
    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    a, b = whole.record.manifest, streamed.record.manifest
    assert a["skipped_rows"] == b["skipped_rows"] and [r["line"] for r in a["skipped_rows"]] == [4, 11, 16]
    assert a["metrics"]["per_dataset"] == b["metrics"]["per_dataset"] and a["metrics"]["n_skipped_rows"] == 3
    assert a["run_key"] == b["run_key"] and a["data"] == b["data"]  # same store: the config hashes agree too
    assert BadRow(test, 4, "empty text").to_dict("tiny") == a["skipped_rows"][0]
