"""One run being written: its staging folder, chunks and tables, then publish or fail.

:class:`RunWriter` is opened by :meth:`audit.store.runs.RunStore.begin` (which holds the
store lock for it) and re-exported from :mod:`audit.store.runs`.  Only :meth:`RunWriter.publish`
moves the folder out of ``.staging`` (one ``os.rename``), then the store seals and indexes it.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Protocol

import pandas as pd

from audit.errors import StoreError
from audit.store._atomic import (
    TMP_MARK,
    fsync_dir,
    fsync_tree,
    json_bytes,
    parquet_bytes,
    remove_temporaries,
    store_error,
    write_bytes_atomic,
)
from audit.store.index import RunIndex
from audit.store.lock import StoreLock
from audit.store.records import RunRecord, _check_name

__all__ = ["CHUNKS", "MANIFEST", "RunWriter", "chunk_bytes"]


def chunk_bytes(df: pd.DataFrame) -> bytes:
    """A chunk table encoded as :meth:`RunWriter.write_chunk` writes it (for :meth:`RunWriter.write_chunk_bytes`)."""
    return parquet_bytes(df)

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHUNKS = "chunks"
ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 64 * 2**20
"""Row groups of the tables written from chunks: whole chunks up to this many rows or bytes (in memory)."""
SCRATCH = "_scratch"
"""Under :data:`CHUNKS`: the stages' temporary files (rows spilled to disk); dropped with the chunks."""


class _Store(Protocol):
    """What a writer uses of its :class:`~audit.store.runs.RunStore` (no import of it: no cycle)."""

    root: Path
    index: RunIndex

    def _seal(self, folder: Path, manifest: dict[str, Any]) -> None: ...



def _now() -> datetime:
    return datetime.now(timezone.utc)


class RunWriter:
    """Writes one run into its staging folder while holding the store lock."""

    def __init__(self, store: _Store, *, run_id: str, staging_dir: Path, manifest: dict[str, Any],
                 resumed: bool, lock: StoreLock, published: RunRecord | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.staging_dir = staging_dir
        self.manifest = manifest
        self.resumed = resumed
        self._lock = lock
        self._closed = published is not None
        self.published = published
        """Set when :meth:`RunStore.begin` found this run already published by a job killed right after
        its publish rename: the store finished that publish, and the writer is closed (nothing to redo)."""

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if not self._closed:
            self.fail(f"{exc_type.__name__}: {exc}" if exc_type else "closed without publish")

    # -- writing -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"run {self.run_id} is already published or failed", path=self.staging_dir)

    def _write(self, path: Path, data: bytes, what: str) -> None:
        self._check_open()
        try:
            write_bytes_atomic(path, data)
        except OSError as exc:
            raise store_error(exc, action=f"writing {what} of run {self.run_id}", path=path,
                              staging=self.staging_dir) from exc

    def _chunk_path(self, stage: str, index: int) -> Path:
        if index < 0:
            raise StoreError(f"chunk index must be >= 0, got {index}")
        return self.staging_dir / CHUNKS / _check_name(stage, "stage") / f"{index:06d}.parquet"

    @property
    def scratch_dir(self) -> Path:
        """A folder for this run's temporary files (e.g. the findings' spilled rows), on the store's disk:
        inside the chunks folder, so sealing the published run removes whatever a killed job left."""
        path = self.staging_dir / CHUNKS / SCRATCH
        path.mkdir(parents=True, exist_ok=True)
        return path

    def has_chunk(self, stage: str, index: int) -> bool:
        return self._chunk_path(stage, index).is_file()

    def write_chunk(self, stage: str, index: int, df: pd.DataFrame) -> None:
        self._write(self._chunk_path(stage, index), chunk_bytes(df), f"chunk {stage}/{index}")

    def write_chunk_bytes(self, stage: str, index: int, data: bytes) -> None:
        """:meth:`write_chunk` of a table a worker already encoded with :func:`chunk_bytes` (Ray executor:
        the driver writes the worker's bytes as they are, no decode and re-encode)."""
        if len(data) < 12 or data[:4] != b"PAR1" or data[-4:] != b"PAR1":
            raise StoreError(f"chunk {stage}/{index} of run {self.run_id} is not a Parquet file ({len(data)} bytes)")
        self._write(self._chunk_path(stage, index), data, f"chunk {stage}/{index}")

    def chunk_files(self, stage: str) -> list[Path]:
        """The chunk files of ``stage`` in chunk order (the order every assembled table has)."""
        folder = self.staging_dir / CHUNKS / _check_name(stage, "stage")
        return sorted(folder.glob("[0-9]*.parquet"), key=lambda p: int(p.stem)) if folder.is_dir() else []

    def iter_chunks(self, stage: str, *, columns: list[str] | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(index, table)`` of each chunk of ``stage`` in order, one at a time (bounded memory); chunks
        without columns are skipped, as :meth:`read_chunks` does."""
        for path in self.chunk_files(stage):
            df = pd.read_parquet(path, columns=columns)
            if len(df.columns):
                yield int(path.stem), df

    def read_chunk(self, stage: str, index: int, *, columns: list[str] | None = None) -> pd.DataFrame | None:
        """Chunk ``index`` of ``stage`` (None when it was never written)."""
        path = self._chunk_path(stage, index)
        return pd.read_parquet(path, columns=columns) if path.is_file() else None

    def read_chunks(self, stage: str, *, columns: list[str] | None = None) -> pd.DataFrame:
        """Every chunk of ``stage`` assembled into one table (O(rows) memory; see :meth:`iter_chunks`)."""
        frames = [df for _, df in self.iter_chunks(stage, columns=columns)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def write_table_from_chunks(self, name: str, stage: str) -> int:
        """Write table ``name`` as :meth:`write_table` would write ``read_chunks(stage)``, without assembling
        it: the chunk files are copied into one Parquet file, under their unified schema, in row groups of
        whole chunks up to :data:`ROW_GROUP_ROWS` rows or :data:`ROW_GROUP_BYTES`, so memory holds one row
        group (a row group per 64-text chunk made the file's footer, which every reader parses, ~30 MB and
        ~200 MB of RSS to open at 1M texts).  Same rows, order, columns and types as the assembled
        table (the file's row groups differ, its bytes too).  Written to a temporary file renamed into
        place, like every table: nothing half-written on failure.  Returns the number of rows."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._check_open()
        files = self.chunk_files(stage)
        schemas = [s for s in (pq.read_schema(p) for p in files) if len(s.names)]
        if not schemas:
            self.write_table(name, pd.DataFrame())
            return 0
        schema = pa.unify_schemas(schemas, promote_options="default")
        path = self.staging_dir / f"{_check_name(name, 'table')}.parquet"
        tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
        rows = 0
        pending: list[pa.Table] = []

        def flush(out: pq.ParquetWriter) -> None:
            if pending:
                group = pa.concat_tables(pending)
                out.write_table(group, row_group_size=max(group.num_rows, 1))
                pending.clear()

        try:
            with pq.ParquetWriter(tmp, schema) as out:
                for p in files:
                    table = pq.read_table(p)
                    if not table.num_columns:
                        continue
                    pending.append(table.select(schema.names).cast(schema))
                    rows += table.num_rows
                    if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS or \
                            sum(t.nbytes for t in pending) >= ROW_GROUP_BYTES:
                        flush(out)
                flush(out)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise store_error(exc, action=f"writing table {name} of run {self.run_id}", path=path,
                                  staging=self.staging_dir) from exc
            raise
        return rows

    def write_table(self, name: str, df: pd.DataFrame) -> None:
        self._write(self.staging_dir / f"{_check_name(name, 'table')}.parquet", parquet_bytes(df), f"table {name}")

    def write_json(self, name: str, obj: Any) -> None:
        name = name if name.endswith(".json") else f"{name}.json"
        if name == MANIFEST:
            raise StoreError("manifest.json is written by the store; use publish(manifest_updates=...)")
        self._write(self.staging_dir / _check_name(name, "file"), json_bytes(obj), name)

    def write_text(self, name: str, text: str) -> None:
        self._write(self.staging_dir / _check_name(name, "file"), text.encode("utf-8"), name)

    def record(self) -> RunRecord:
        """The staging folder as a :class:`RunRecord` (status 'running'), e.g. to diff before publishing."""
        return RunRecord(path=self.staging_dir, manifest=dict(self.manifest), run_id=self.run_id, status="running")

    def write_manifest(self) -> None:
        self._write(self.staging_dir / MANIFEST, json_bytes(self.manifest), MANIFEST)

    # -- finishing -----------------------------------------------------------------------------
    def publish(self, *, manifest_updates: dict[str, Any] | None = None) -> RunRecord:
        """Mark complete, fsync, rename staging -> ``root/<run_id>``, index it, release the lock."""
        self._check_open()
        final = self.store.root / self.run_id
        if final.exists():
            raise StoreError(f"run {self.run_id} is already published", path=final)
        previous = dict(self.manifest)
        self.manifest.update(manifest_updates or {})
        self.manifest.update(run_id=self.run_id, status="complete", completed_at=_now().isoformat())
        try:
            self.write_manifest()
            for stale in remove_temporaries(self.staging_dir):  # left by a job killed mid-write, then resumed
                log.info("removed temporary file %s before publishing", stale)
            fsync_tree(self.staging_dir)
            os.rename(self.staging_dir, final)
        except StoreError:
            self.manifest = previous
            self._restore_running_manifest()
            raise
        except OSError as exc:
            self.manifest = previous
            self._restore_running_manifest()
            raise store_error(exc, action=f"publishing run {self.run_id}", path=final,
                              staging=self.staging_dir) from exc
        self._closed = True
        fsync_dir(self.store.root)
        fsync_dir(self.staging_dir.parent)
        try:
            # A job killed from here on left a published run to seal: the next begin() finishes it.
            self.store._seal(final, self.manifest)
        finally:
            self._lock.release()
        log.info("published run %s", self.run_id)
        return RunRecord(path=final, manifest=dict(self.manifest), run_id=self.run_id, status="complete")

    def _restore_running_manifest(self) -> None:
        try:
            write_bytes_atomic(self.staging_dir / MANIFEST, json_bytes(self.manifest))
        except OSError as exc:
            log.warning("could not restore the staging manifest of %s: %s", self.run_id, exc)

    def fail(self, error: str) -> None:
        """Record the failure (staging kept so the next job can resume) and release the lock."""
        if self._closed:
            return
        self._closed = True
        self.manifest.update(status="failed", error=error)
        try:
            write_bytes_atomic(self.staging_dir / MANIFEST, json_bytes(self.manifest))
        except OSError as exc:
            log.warning("could not record the failure of run %s in its manifest: %s", self.run_id, exc)
        try:
            self.store.index.set_status(self.run_id, "failed")
        except StoreError as exc:
            log.warning("could not mark run %s failed in the index: %s", self.run_id, exc)
        finally:
            self._lock.release()
        log.info("run %s failed: %s", self.run_id, error)
