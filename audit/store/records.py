"""Read-side records of the run store: :class:`RunSummary` (index rows) and :class:`RunRecord` (a run folder)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from audit._parquet import iter_row_group_batches
from audit.errors import StoreError
from audit.store.schemas import labels_from_columns

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


TABLE_BATCH_ROWS = 65_536
"""Rows per record batch when a run table is read in batches (:meth:`RunRecord.iter_table`)."""


def iter_parquet(path: Path, *, columns: list[str] | None = None,
                 batch_size: int = TABLE_BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The Parquet file at ``path`` in record batches (one row group at a time:
    :func:`audit._parquet.iter_row_group_batches`) as DataFrames indexed by their rows' places in the file;
    ``columns`` missing from the file are left out."""
    with pq.ParquetFile(path) as pf:
        names = pf.schema_arrow.names
        wanted = None if columns is None else [c for c in columns if c in names]
        offset = 0
        for batch in iter_row_group_batches(pf, batch_size=batch_size, columns=wanted):
            df = batch.to_pandas()
            df.index = pd.RangeIndex(offset, offset + len(df))
            offset += len(df)
            yield df


def _check_name(name: str, what: str) -> str:
    if not _NAME_RE.match(name):
        raise StoreError(f"invalid {what} name {name!r}", hint="use letters, digits, '_', '-', '.'")
    return name


@dataclass(frozen=True)
class RunSummary:
    """One row of :meth:`RunStore.list_runs`."""

    run_id: str
    created_at: str
    status: str
    model_ref: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    gate_passed: bool | None = None
    model_hash: str | None = None
    config_hash: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunRecord:
    """A run folder (published, or staging for a run still in progress)."""

    path: Path
    manifest: dict[str, Any]
    run_id: str
    status: str

    def tables(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.parquet"))

    def has_table(self, name: str) -> bool:
        return (self.path / f"{name}.parquet").is_file()

    def table(self, name: str) -> pd.DataFrame:
        path = self.path / f"{_check_name(name, 'table')}.parquet"
        if not path.is_file():
            raise StoreError(f"run {self.run_id} has no table {name!r} (has: {', '.join(self.tables()) or 'none'})",
                             path=self.path)
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read table {name!r} of run {self.run_id} ({exc})", path=path) from exc

    def iter_table(self, name: str, *, columns: list[str] | None = None,
                   batch_size: int = TABLE_BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """Table ``name`` in record batches of at most ``batch_size`` rows, in table order (bounded memory;
        :meth:`table` reads it whole).  Each batch keeps its rows' places in the table as its index, so the
        batches put end to end are :meth:`table` (``columns`` missing from the file are left out)."""
        path = self.path / f"{_check_name(name, 'table')}.parquet"
        if not path.is_file():
            raise StoreError(f"run {self.run_id} has no table {name!r} (has: {', '.join(self.tables()) or 'none'})",
                             path=self.path)
        try:
            yield from iter_parquet(path, columns=columns, batch_size=batch_size)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read table {name!r} of run {self.run_id} ({exc})", path=path) from exc

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics") or {})

    def label_names(self) -> list[str]:
        """Class names: the manifest's ``labels`` (top level or config), else driver_words' train_count_<label>."""
        for source in (self.manifest, self.manifest.get("config") or {}):
            labels = source.get("labels") if isinstance(source, dict) else None
            if isinstance(labels, (list, tuple)) and labels:
                return [str(x) for x in labels]
        if self.has_table("driver_words"):
            cols = pq.read_schema(self.path / "driver_words.parquet").names
            return labels_from_columns(cols)
        return []
