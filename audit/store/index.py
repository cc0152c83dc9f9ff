"""The run index: SQLite (WAL) at ``<root>/index.sqlite``, one table ``runs``.

The index is *derived* data: every row can be rebuilt from the run folders'
manifests (:meth:`RunIndex.rebuild`).  The writing job updates it while it
holds the store lock; readers (CLI, dashboard) open their own connection, only
``SELECT``, and rely on WAL so they never block the writer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from audit.errors import StoreError

log = logging.getLogger(__name__)

INDEX_NAME = "index.sqlite"
BUSY_TIMEOUT_MS = 10_000
REINDEX_HINT = "`audit runs reindex` rebuilds it from the run folders (a corrupt file is kept aside)"

COLUMNS: tuple[str, ...] = (
    "run_id", "created_at", "status", "model_ref", "model_hash", "config_hash", "accuracy", "n_examples",
    "n_errors", "attack_success_rate", "attack_success_rate_constrained", "new_driver_words", "gate_passed",
    "path", "metrics_json",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    model_ref TEXT,
    model_hash TEXT,
    config_hash TEXT,
    accuracy REAL,
    n_examples INTEGER,
    n_errors INTEGER,
    attack_success_rate REAL,
    attack_success_rate_constrained REAL,
    new_driver_words TEXT,
    gate_passed INTEGER,
    path TEXT,
    metrics_json TEXT
)
"""


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def row_from_manifest(manifest: dict[str, Any], *, status: str, path: Path | str) -> dict[str, Any]:
    """Flatten a manifest into an index row."""
    metrics = dict(manifest.get("metrics") or {})
    gate = manifest.get("gate") or {}
    new_words = metrics.get("new_driver_words", (manifest.get("diff") or {}).get("new_driver_words"))
    n_ex, n_err = _num(metrics.get("n_examples")), _num(metrics.get("n_errors"))
    passed = gate.get("passed") if isinstance(gate, dict) else None
    return {
        "run_id": manifest["run_id"],
        "created_at": manifest.get("created_at", ""),
        "status": status,
        "model_ref": manifest.get("model_ref"),
        "model_hash": manifest.get("model_hash"),
        "config_hash": manifest.get("config_hash"),
        "accuracy": _num(metrics.get("accuracy")),
        "n_examples": int(n_ex) if n_ex is not None else None,
        "n_errors": int(n_err) if n_err is not None else None,
        "attack_success_rate": _num(metrics.get("attack_success_rate")),
        "attack_success_rate_constrained": _num(metrics.get("attack_success_rate_constrained")),
        "new_driver_words": json.dumps(list(new_words)) if new_words is not None else None,
        "gate_passed": None if passed is None else int(bool(passed)),
        "path": str(path),
        "metrics_json": json.dumps(metrics, default=str, sort_keys=True),
    }


class RunIndex:
    """Thin wrapper around the SQLite file. Cheap to construct; connects per call."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / INDEX_NAME

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            else:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if write:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the run index ({exc})", path=self.path, hint=REINDEX_HINT) from exc
        try:
            yield conn
            if write:
                conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise StoreError(f"run index error ({exc})", path=self.path, hint=REINDEX_HINT) from exc
        finally:
            conn.close()

    def upsert(self, row: dict[str, Any]) -> None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join(f":{c}" for c in COLUMNS)
        with self._connect(write=True) as conn:
            conn.execute(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})", {c: row.get(c) for c in COLUMNS})

    def set_status(self, run_id: str, status: str) -> None:
        with self._connect(write=True) as conn:
            conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))

    def delete(self, run_id: str) -> None:
        """Forget a run (its folder is gone) -- only called while holding the store lock."""
        with self._connect(write=True) as conn:
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def mark_stale_running(self, *, keep: str, status: str = "interrupted") -> int:
        """Mark rows still 'running' (their job died) -- only called while holding the store lock."""
        with self._connect(write=True) as conn:
            cur = conn.execute("UPDATE runs SET status = ? WHERE status = 'running' AND run_id != ?", (status, keep))
            return cur.rowcount

    def rows(self) -> list[dict[str, Any]]:
        """All rows, oldest first. An absent index reads as empty."""
        if not self.path.exists():
            return []
        try:
            return self._select(immutable=False)
        except StoreError as exc:
            if "no such table" in str(exc):
                return []
            log.debug("read-only open of %s failed (%s); retrying as immutable", self.path, exc)
            try:  # e.g. a read-only mount where SQLite cannot create the -shm file
                return self._select(immutable=True)
            except StoreError:
                raise exc from None

    def _select(self, *, immutable: bool) -> list[dict[str, Any]]:
        if not immutable:
            with self._connect(write=False) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY run_id")]
        try:
            conn = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True)
            try:
                conn.row_factory = sqlite3.Row
                return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY run_id")]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the run index ({exc})", path=self.path, hint=REINDEX_HINT) from exc

    def is_healthy(self) -> bool:
        """True when the file is absent or an intact SQLite database (``PRAGMA quick_check``)."""
        if not self.path.exists():
            return True
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                result = conn.execute("PRAGMA quick_check").fetchone()
                conn.execute("SELECT name FROM sqlite_master").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            log.debug("run index %s is unreadable: %s", self.path, exc)
            return False
        return result is not None and result[0] == "ok"

    def quarantine(self) -> Path:
        """Move a corrupt index (and its -wal/-shm files) aside as ``index.sqlite.corrupt-<UTC time>``."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.path.with_name(f"{INDEX_NAME}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = self.path.with_name(INDEX_NAME + suffix)
                if src.exists():
                    os.replace(src, aside.with_name(aside.name + suffix))
        except OSError as exc:
            raise StoreError(f"cannot move the corrupt run index aside ({exc.strerror or exc})", path=self.path,
                             hint="make the store directory writable") from exc
        log.warning("the run index %s was corrupt; kept it as %s", self.path, aside)
        return aside

    def replace_all(self, rows: Iterable[dict[str, Any]]) -> None:
        """Replace every row in one transaction (used by rebuild)."""
        cols = ", ".join(COLUMNS)
        marks = ", ".join(f":{c}" for c in COLUMNS)
        with self._connect(write=True) as conn:
            conn.execute("DELETE FROM runs")
            conn.executemany(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})",
                             [{c: r.get(c) for c in COLUMNS} for r in rows])
