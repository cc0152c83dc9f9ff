"""Dataset readers: every format, and each bad-input case names the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.data.readers import read_dataset
from audit.errors import DataError, ResourceMissingError


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_tsv_reads_every_row_in_order(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.tsv", "label\ttext\n1\ta great film .\n0\tdull , dull , dull\n1\tcrème brûlée\n")
    ds = read_dataset(p)
    assert ds.texts == ["a great film .", "dull , dull , dull", "crème brûlée"]
    assert ds.labels == [1, 0, 1]
    assert ds.lines == [2, 3, 4]
    assert ds.name == "d" and ds.label_names == ("0", "1")
    assert len(ds.sha256) == 64 and len(ds) == 3


def test_label_map_and_names(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", 'sentiment,review\npos,"fine, really"\nneg,"bad\nreally bad"\npos,ok\n')
    ds = read_dataset(p, text_column="review", label_column="sentiment", label_map={"neg": 0, "pos": 1})
    assert ds.labels == [1, 0, 1]
    assert ds.texts[1] == "bad\nreally bad"
    assert ds.lines == [2, 3, 5]  # a quoted field spans lines 3-4
    assert ds.label_names == ("neg", "pos")


def test_jsonl_and_parquet(tmp_path: Path) -> None:
    rows = [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]
    p = _write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    ds = read_dataset(p, label_names=["negative", "positive"])
    assert ds.texts == ["good", "bad"] and ds.labels == [1, 0] and ds.label_names == ("negative", "positive")

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"t": ["good", "bad"], "y": ["p", "n"]}), tmp_path / "d.parquet")
    ds = read_dataset(tmp_path / "d.parquet", text_column="t", label_column="y", label_map={"n": 0, "p": 1})
    assert ds.labels == [1, 0] and ds.lines == [1, 2]


def test_headerless_csv_like_yelp(tmp_path: Path) -> None:
    p = _write(tmp_path / "y.csv", '2,"great food"\n1,"cold, slow"\n')
    ds = read_dataset(p, text_column=1, label_column=0, header=False, label_map={"1": 0, "2": 1})
    assert ds.texts == ["great food", "cold, slow"] and ds.labels == [1, 0] and ds.lines == [1, 2]


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "line", "needle"),
    [
        ("missing_col.tsv", "label\tsentence\n1\tgood\n", {}, 1, "missing text column 'text'"),
        ("empty.tsv", "", {}, None, "empty"),
        ("header_only.tsv", "label\ttext\n", {}, None, "no rows"),
        ("unknown.tsv", "label\ttext\n1\tgood\npositive\tbad\n", {}, 3, "unknown label"),
        ("unknown_map.tsv", "label\ttext\npos\tgood\nmeh\tbad\n", {"label_map": {"pos": 1, "neg": 0}}, 3, "unknown label 'meh'"),
        ("out_of_range.tsv", "label\ttext\n2\tgood\n", {"label_names": ["neg", "pos"]}, 2, "unknown label 2"),
        ("utf8.tsv", b"label\ttext\n1\tgood\n0\tbad \xff\xfe film\n", {}, 3, "UTF-8"),
        ("empty_text.tsv", "label\ttext\n1\tgood\n0\t   \n", {}, 3, "empty text"),
        ("fields.tsv", "label\ttext\n1\tgood\textra\n", {}, 2, "expected 2 fields"),
        ("blank.tsv", "label\ttext\n1\tgood\n\n0\tbad\n", {}, 3, "blank line"),
        ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n', {}, 2, "invalid JSON"),
        ("nokey.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 0}\n', {}, 2, "missing text column"),
        ("empty_text.csv", 'label,text\n1,""\n', {}, 2, "empty text"),
    ],
)
def test_bad_input_names_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, kwargs: dict, line: int | None, needle: str
) -> None:
    p = _write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_dataset(p, **kwargs)
    err = info.value
    assert err.path == str(p)
    assert err.line == line
    assert needle in str(err)
    assert str(p) in str(err)


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_dataset(tmp_path / "nope.tsv")
    p = _write(tmp_path / "d.xlsx", "x")
    with pytest.raises(DataError, match="suffix"):
        read_dataset(p)


def test_sst2_via_data_dir() -> None:
    from audit.settings import resolve_data_path

    try:
        path = resolve_data_path("data:sst2/dev.tsv")
    except ResourceMissingError:
        pytest.skip("AUDIT_DATA_DIR / shared data not available")
    if not path.is_file():
        pytest.skip("SST-2 not available")
    ds = read_dataset(path)
    assert len(ds) == 872 and sum(ds.labels) == 444 and ds.lines[0] == 2 and ds.lines[-1] == 873


def _corrupt_deflate_gz(path: Path) -> Path:
    """A .gz with a valid header but garbage deflate data (zlib.error, not OSError, when read)."""
    import gzip

    body = "".join(f"w{i} " + " ".join(f"{(i * j) % 7 * 0.1:.1f}" for j in range(4)) + "\n" for i in range(400))
    blob = bytearray(gzip.compress(body.encode("utf-8")))
    for i in range(12, len(blob) - 8):  # keep the 10-byte header, scramble the deflate stream
        blob[i] ^= 0x5A
    path.write_bytes(bytes(blob))
    return path


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_gzip_vectors_raise_data_error(tmp_path: Path, damage: str) -> None:
    import gzip

    from audit.data.embeddings import load_vectors, vector_words
    from audit.data.vocab import PAD, UNK, Vocab

    if damage == "corrupt":
        p = _corrupt_deflate_gz(tmp_path / "vec.txt.gz")
    else:
        full = gzip.compress(b"".join(b"w%d 0.1 0.2 0.3\n" % i for i in range(2000)))
        p = tmp_path / "vec.txt.gz"
        p.write_bytes(full[: len(full) // 2])
    vocab = Vocab([PAD, UNK, "w1", "w2"])
    with pytest.raises(DataError, match="cannot read word-vector file") as info:
        load_vectors(p, vocab)
    assert info.value.path == str(p)
    with pytest.raises(DataError, match="cannot read word-vector file"):
        vector_words(p)
