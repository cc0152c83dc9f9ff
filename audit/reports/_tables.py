"""What the run report reads of a run's big tables, in bounded memory: its top errors from ``predictions``
(a running top-k over record batches) and the tokens of those errors only (row groups pruned by their
``example_id`` statistics)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

__all__ = ["top_failures"]


def top_failures(batches: Iterable[pd.DataFrame], n: int) -> pd.DataFrame:
    """The ``n`` errors (``correct`` False) with the highest ``prob_pred`` (the first ``n`` errors without
    that column), ties in table order: a running top-``n`` over ``batches`` (the table whole, or in
    record batches in table order), so memory holds ``n`` rows plus one batch.  The sort is stable: the
    top of the running top plus the next batch is the top of the whole table, ties included."""
    top: pd.DataFrame | None = None
    for batch in batches:
        wrong = batch[~batch["correct"].astype(bool)]
        both = wrong if top is None else pd.concat([top, wrong])
        if "prob_pred" in both:
            both = both.sort_values("prob_pred", ascending=False, kind="stable")
        top = both.head(n)
    return top if top is not None else pd.DataFrame()


def _streamed_failures(batches: Iterator[pd.DataFrame], n: int) -> pd.DataFrame:
    """:meth:`_Report.failures` of a ``predictions`` table read in batches (same rows, same order)."""
    first = next(batches, None)
    if first is None or "correct" not in first:  # empty, or no outcomes: failures() shows the rows (here the first batch)
        return first if first is not None else pd.DataFrame()
    return top_failures(itertools.chain([first], batches), n)


def _tokens_of_rows(path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the ``token_attributions`` file at ``path`` that belong to the texts of ``rows``: only
    the row groups whose ``example_id`` statistics can hold one of them are read (a streamed run has one
    row group per chunk), one at a time, so memory holds those texts' tokens, never a column of the table."""
    import numpy as np
    import pyarrow.parquet as pq

    if rows.empty or not {"dataset", "example_id"} <= set(rows.columns):
        return pd.DataFrame()
    wanted = np.array(sorted({int(x) for x in rows["example_id"]}), dtype=np.int64)
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    if meta.num_row_groups == 0:
        return pf.read().to_pandas()
    first = meta.row_group(0)
    column = next((j for j in range(first.num_columns) if first.column(j).path_in_schema == "example_id"), None)
    parts = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics if column is not None else None
        if stats is not None and stats.has_min_max:
            i = int(np.searchsorted(wanted, int(stats.min)))
            if i == len(wanted) or wanted[i] > int(stats.max):
                continue  # no wanted text in this row group
        part = pf.read_row_group(g).to_pandas()
        parts.append(part[part["example_id"].isin(wanted)])
    table = pd.concat(parts, ignore_index=True) if parts else pf.schema_arrow.empty_table().to_pandas()
    keys = pd.MultiIndex.from_frame(rows[["dataset", "example_id"]].astype({"example_id": "int64"}))
    return table[pd.MultiIndex.from_frame(table[["dataset", "example_id"]]).isin(keys)].reset_index(drop=True)
