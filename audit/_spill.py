"""Rows a statistic must see all of (exact ranks, order statistics), kept in bounded memory.

Some run-wide statistics cannot be accumulated as sums: the Mann-Whitney test ranks every score of a
unit, quantiles are order statistics.  A :class:`Spill` keeps such rows (one numpy structured dtype)
in numbered *buckets* -- the caller puts everything one statistic needs together in one bucket, e.g.
all rows of one unit -- and gives each bucket back in the order its rows were appended, so a statistic
computed bucket by bucket is the one computed over the whole table.

Below ``memory_rows`` rows in all, the rows stay in memory.  Past it every bucket goes to its own file
in a private temporary directory (under ``TMPDIR``; one ``tofile`` append per bucket and block), and
from then on only the bucket being read is in memory.  The directory is removed by :meth:`close`
(or when the object is garbage-collected, or at interpreter exit).  No pickling: raw fixed-width
records only.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
from typing import Self

log = logging.getLogger(__name__)

__all__ = ["SPILL_ROWS", "Spill"]

SPILL_ROWS = 2_000_000
"""Default rows kept in memory before a :class:`Spill` moves to disk (~40 MB at 20 bytes a row); read
when a :class:`Spill` is made, so a test can lower it."""


class Spill:
    """Structured rows in buckets (see the module docstring).  ``dtype``: the rows' numpy dtype."""

    def __init__(self, dtype: np.dtype | list[tuple[str, str]], *, memory_rows: int | None = None,
                 directory: str | Path | None = None, name: str = "rows") -> None:
        self.dtype = np.dtype(dtype)
        self.memory_rows = SPILL_ROWS if memory_rows is None else int(memory_rows)
        self.name = name
        self._parent = directory
        self._memory: dict[int, list[np.ndarray]] = {}
        self._on_disk: set[int] = set()
        self._dir: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self.n_rows = 0

    @property
    def spilled(self) -> bool:
        """Whether the rows are on disk."""
        return self._dir is not None

    @property
    def bucket_ids(self) -> list[int]:
        """The buckets holding rows, ascending."""
        return sorted(set(self._memory) | self._on_disk)

    def append(self, bucket: np.ndarray, rows: np.ndarray) -> None:
        """Append ``rows`` (of :attr:`dtype`), row i to bucket ``bucket[i]`` (non-negative ints); rows of
        one bucket keep their order."""
        if len(rows) != len(bucket):
            raise ValueError(f"{len(rows)} rows for {len(bucket)} bucket ids")
        if not len(rows):
            return
        rows = np.asarray(rows, dtype=self.dtype)
        bucket = np.asarray(bucket, dtype=np.int64)
        order = np.argsort(bucket, kind="stable")
        sorted_ids = bucket[order]
        cuts = np.flatnonzero(np.diff(sorted_ids)) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [len(order)]])
        self.n_rows += len(rows)
        for start, stop in zip(starts, stops, strict=True):
            b = int(sorted_ids[start])
            part = rows[order[start:stop]]
            if self._dir is not None:
                self._write(b, part)
            else:
                self._memory.setdefault(b, []).append(part)
        if self._dir is None and self.n_rows > self.memory_rows:
            self._to_disk()

    def bucket(self, b: int) -> np.ndarray:
        """Every row of bucket ``b``, in the order appended (empty if none)."""
        if self._dir is not None:
            path = self._path(b)
            return np.fromfile(path, dtype=self.dtype) if b in self._on_disk else np.zeros(0, dtype=self.dtype)
        parts = self._memory.get(b, [])
        if len(parts) > 1:  # joined once, so a second read costs nothing
            parts[:] = [np.concatenate(parts)]
        return parts[0] if parts else np.zeros(0, dtype=self.dtype)

    def buckets(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(bucket id, rows)`` of every non-empty bucket, ascending, one bucket in memory at a time
        (once spilled)."""
        for b in self.bucket_ids:
            yield b, self.bucket(b)

    def close(self) -> None:
        """Drop every row (and the temporary directory)."""
        self._memory.clear()
        self._on_disk.clear()
        self.n_rows = 0
        if self._finalizer is not None:
            self._finalizer()
        self._dir = self._finalizer = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ disk
    def _to_disk(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"reat-audit-spill-{self.name}-", dir=self._parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._dir), ignore_errors=True)
        log.info("spilling %s rows of %s to %s (more than %d in memory)", f"{self.n_rows:,}", self.name,
                 self._dir, self.memory_rows)
        memory, self._memory = self._memory, {}
        for b in sorted(memory):
            for part in memory.pop(b):
                self._write(b, part)

    def _path(self, b: int) -> Path:
        assert self._dir is not None
        return self._dir / f"{b}.bin"

    def _write(self, b: int, rows: np.ndarray) -> None:
        with open(self._path(b), "ab") as fh:
            rows.tofile(fh)
        self._on_disk.add(b)
