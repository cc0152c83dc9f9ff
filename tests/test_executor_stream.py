"""audit.data.stream: block-by-block reading gives exactly the rows, errors and hash of the whole-file reader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit.data.readers import read_dataset
from audit.data.stream import iter_blocks, read_block, scan_dataset
from audit.errors import DataError

TEXTS = [f"text number {i} , with words" for i in range(23)] + ['a "quoted" one', "multi\nline text"]


def _write(path: Path, fmt: str, texts: list[str], *, bom: bool = False) -> Path:
    labels = [i % 2 for i in range(len(texts))]
    if fmt == "tsv":
        body = "label\ttext\n" + "".join(f"{lab}\t{t.replace(chr(10), ' ')}\n" for lab, t in zip(labels, texts))
        path.write_bytes(("\ufeff" if bom else "").encode() + body.encode())
    elif fmt == "csv":
        pd.DataFrame({"label": labels, "text": texts}).to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in zip(texts, labels)) + "\n\n")
    else:
        pd.DataFrame({"text": texts, "label": labels}).to_parquet(path, row_group_size=7)
    return path


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl", "parquet"])
@pytest.mark.parametrize("block_rows", [1, 4, 100])
def test_blocks_equal_the_whole_file_reader(tmp_path: Path, fmt: str, block_rows: int) -> None:
    path = _write(tmp_path / f"d.{fmt}", fmt, TEXTS, bom=fmt == "tsv")
    whole = read_dataset(path, name="d")
    seen: list[tuple[int, str]] = []
    scanned = scan_dataset(path, block_rows=block_rows, name="d", on_row=lambda line, text: seen.append((line, text)))
    assert scanned.sha256 == whole.sha256 and scanned.n_rows == len(whole)
    assert scanned.label_names == whole.label_names
    assert seen == list(zip(whole.lines, whole.texts))
    assert [b.ref for b in iter_blocks(scanned)] == scanned.blocks
    for reader in (lambda: list(iter_blocks(scanned)), lambda: [read_block(scanned.source, r) for r in reversed(scanned.blocks)][::-1]):
        blocks = reader()
        assert [t for b in blocks for t in b.texts] == whole.texts
        assert [x for b in blocks for x in b.labels] == whole.labels
        assert [x for b in blocks for x in b.lines] == whole.lines
    assert all(len(b.texts) <= block_rows for b in iter_blocks(scanned))


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
def test_a_bad_row_fails_the_scan_naming_file_and_line(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path / f"d.{fmt}", fmt, TEXTS[:5])
    lines = path.read_text().splitlines()
    lines[3] = "7\tbroken" if fmt == "tsv" else '{"text": "x", "label": "maybe"}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as whole:
        read_dataset(path, label_names=("a", "b"))
    with pytest.raises(DataError) as streamed:
        scan_dataset(path, block_rows=2, label_names=("a", "b"))
    assert streamed.value.line == whole.value.line == 4
    assert streamed.value.message == whole.value.message


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_bytes(b"label\ttext\n0\tfine\n1\tbad \xff byte\n")
    with pytest.raises(DataError, match="UTF-8") as exc:
        scan_dataset(path, block_rows=8)
    assert exc.value.line == 3


def test_a_blank_line_in_the_middle_is_refused_trailing_ones_are_not(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("label\ttext\n0\ta\n\n1\tb\n")
    with pytest.raises(DataError, match="blank line") as exc:
        scan_dataset(path, block_rows=8)
    assert exc.value.line == 3
    path.write_text("label\ttext\n0\ta\n1\tb\n\n\n")
    assert scan_dataset(path, block_rows=8).n_rows == 2


def test_a_file_changed_after_the_scan_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.tsv", "tsv", TEXTS[:6])
    scanned = scan_dataset(path, block_rows=4)
    _write(path, "tsv", TEXTS[:3])
    with pytest.raises(DataError, match="changed"):
        list(iter_blocks(scanned))
