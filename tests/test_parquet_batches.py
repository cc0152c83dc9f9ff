"""Streaming a Parquet file holds one row group in Arrow memory, never the whole file (pyarrow's
``iter_batches`` over a whole file pre-buffers every row group first)."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from audit._parquet import iter_row_group_batches
from audit.data.stream import scan_dataset
from audit.store.records import iter_parquet

GROUPS, ROWS, WIDTH = 8, 4000, 400


def _file(tmp_path: Path) -> tuple[Path, list[str]]:
    rng = random.Random(0)  # random letters: the file's pages do not compress, as real text barely does at this size
    texts = [f"row {i} " + "".join(rng.choices(string.ascii_lowercase, k=WIDTH)) for i in range(GROUPS * ROWS)]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": texts, "label": [i % 2 for i in range(len(texts))]}), path, row_group_size=ROWS)
    return path, texts


def test_batches_in_file_order_one_row_group_in_memory(tmp_path: Path) -> None:
    path, texts = _file(tmp_path)
    whole = sum(len(t) for t in texts)  # the text column's bytes (~12.8 MB)
    before = pa.total_allocated_bytes()
    got: list[str] = []
    held: list[int] = []
    with pq.ParquetFile(path) as pf:
        for batch in iter_row_group_batches(pf, batch_size=1000, columns=["text"]):
            held.append(pa.total_allocated_bytes() - before)
            got += batch.column(0).to_pylist()
            assert batch.num_columns == 1
    assert got == texts
    assert max(held) < whole / 2, (max(held), whole)  # one row group (1/8) measured ~4.7 MB; pre-buffering all, ~16 MB


def test_iter_parquet_and_the_scan_read_by_row_group(tmp_path: Path) -> None:
    path, texts = _file(tmp_path)
    before = pa.total_allocated_bytes()
    held = []
    rows: list[str] = []
    for df in iter_parquet(path, columns=["text"], batch_size=1000):
        held.append(pa.total_allocated_bytes() - before)
        rows += df["text"].tolist()
    assert rows == texts and max(held) < sum(map(len, texts)) / 2
    scanned = scan_dataset(path, block_rows=64)
    assert scanned.n_rows == len(texts) and len(scanned.blocks) == -(-len(texts) // 64)
