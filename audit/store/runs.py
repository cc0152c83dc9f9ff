"""The run store: immutable run folders, resumable staging, atomic publish.

Layout under ``root`` (e.g. ``reports/runs``)::

    .lock                      exclusive write lock (fcntl.flock), holder pid inside
    index.sqlite               derived index (WAL), see :mod:`audit.store.index`
    .staging/<run_id>/         a run being written: manifest.json, chunks/<stage>/<i>.parquet, tables
    <run_id>/                  a published, complete, read-only run

Only :meth:`RunWriter.publish` moves a folder out of ``.staging`` (one
``os.rename`` on the same filesystem), so a half-written run is never listed
as complete.  A job killed mid-run leaves its staging folder behind; the next
:meth:`RunStore.begin` with the same ``run_key`` reopens it and keeps its chunks.
The writer of one run (:class:`RunWriter`) lives in :mod:`audit.store.writer`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from audit.errors import StoreError
from audit.store._atomic import (
    is_temporary,
    is_writable_file,
    make_read_only,
    remove_temporaries,
    store_error,
)
from audit.store.index import RunIndex, row_from_manifest
from audit.store.lock import StoreLock
from audit.store.records import _NAME_RE, RunRecord, RunSummary
from audit.store.writer import CHUNKS, MANIFEST, RunWriter, _now  # RunWriter was defined here: re-exported

log = logging.getLogger(__name__)

STAGING = ".staging"
_RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-z]+(?:-\d+)?$")


def _short_key(run_key: str) -> str:
    if re.fullmatch(r"[0-9a-f]{6,}", run_key):
        return run_key[:6]
    return hashlib.sha256(run_key.encode("utf-8")).hexdigest()[:6]


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours
        return True
    return True


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunStore:
    """A directory of runs. Cheap to construct; directories are created on first write."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.index = RunIndex(self.root)

    @property
    def staging_root(self) -> Path:
        return self.root / STAGING

    def _find_staging(self, run_key: str) -> Path | None:
        if not self.staging_root.is_dir():
            return None
        for folder in sorted(self.staging_root.iterdir(), reverse=True):
            if folder.name.startswith("."):
                continue  # a run being discarded
            manifest = _read_manifest(folder)
            if folder.is_dir() and manifest is not None and manifest.get("run_key") == run_key:
                return folder
        return None

    def _new_run_id(self, run_key: str) -> str:
        base = f"{_now().strftime('%Y%m%dT%H%M%SZ')}-{_short_key(run_key)}"
        run_id, n = base, 1
        while (self.root / run_id).exists() or (self.staging_root / run_id).exists():
            run_id, n = f"{base}-{n}", n + 1
        return run_id

    def begin(self, run_key: str, manifest: dict[str, Any], *, resume: bool = True, wait_s: float = 0.0) -> RunWriter:
        """Lock the store and open a staging folder (a resumed one when possible)."""
        lock = StoreLock(self.root)
        lock.acquire(wait_s=wait_s)
        try:
            return self._begin_locked(run_key, manifest, resume=resume, lock=lock)
        except BaseException:
            lock.release()
            raise

    def _seal(self, folder: Path, manifest: dict[str, Any]) -> None:
        """Finish publishing ``folder``: drop chunks and temporaries, make it read-only, index it."""
        shutil.rmtree(folder / CHUNKS, ignore_errors=True)
        try:
            remove_temporaries(folder)
            make_read_only(folder, last=MANIFEST)  # a writable manifest: sealing did not finish
        except OSError as exc:
            log.warning("could not make run %s read-only: %s", folder.name, exc)
        try:
            self.index.upsert(row_from_manifest(manifest, status="complete", path=folder))
        except StoreError as exc:  # the folder is the truth; the index is derived
            log.error("run %s is published but the index was not updated (%s); run `audit runs reindex`",
                      folder.name, exc)

    def _finish_interrupted_publishes(self) -> list[RunRecord]:
        """Seal published runs whose job died after the publish rename (only while holding the lock).

        Returns the runs whose publish was interrupted (chunks still there, or an index row that is
        not 'complete'), newest last. Runs that only lacked an index row are indexed, not returned.
        """
        rows = {r["run_id"]: r for r in self.index.rows()}
        finished = []
        for run_id in self._published_ids():
            folder = self.root / run_id
            row = rows.get(run_id)
            interrupted = (folder / CHUNKS).exists() or (row is not None and row.get("status") != "complete")
            try:
                stray = any(is_temporary(name) for name in os.listdir(folder))
            except OSError:
                stray = False
            unsealed = interrupted or stray or row is None or is_writable_file(folder / MANIFEST)
            if not unsealed:
                continue
            manifest = _read_manifest(folder)
            if manifest is None or manifest.get("status") != "complete":
                continue
            log.warning("finishing the interrupted publish of run %s", run_id)
            self._seal(folder, manifest)
            if interrupted:
                finished.append(RunRecord(path=folder, manifest=manifest, run_id=run_id, status="complete"))
        return finished

    def _discard_staging(self, run_key: str) -> None:
        """``--no-resume``: remove the unfinished runs of this key (renamed aside first, so a
        crash mid-removal never leaves a half-deleted folder that looks resumable)."""
        while (folder := self._find_staging(run_key)) is not None:
            trash = self.staging_root / f".discard-{folder.name}"
            try:
                os.rename(folder, trash)
                shutil.rmtree(trash)
            except OSError as exc:
                raise store_error(exc, action="discarding the unfinished run", path=folder) from exc
            self.index.delete(folder.name)
            log.info("discarded unfinished run %s (--no-resume)", folder.name)
        for stray in self.staging_root.glob(".discard-*") if self.staging_root.is_dir() else []:
            shutil.rmtree(stray, ignore_errors=True)  # left by a crash mid-removal

    def _begin_locked(self, run_key: str, manifest: dict[str, Any], *, resume: bool, lock: StoreLock) -> RunWriter:
        done = [r for r in self._finish_interrupted_publishes() if r.manifest.get("run_key") == run_key]
        if resume and done and self._find_staging(run_key) is None:
            record = done[-1]  # a killed job had renamed it: its publish is finished, nothing is redone
            log.info("run %s was already published by an interrupted job; its publish is now finished",
                     record.run_id)
            lock.release()
            return RunWriter(self, run_id=record.run_id, staging_dir=self.staging_root / record.run_id,
                             manifest=dict(record.manifest), resumed=True, lock=lock, published=record)
        existing = self._find_staging(run_key) if resume else None
        if existing is not None:
            old = _read_manifest(existing) or {}
            run_id, staging, resumed = existing.name, existing, True
            created_at = old.get("created_at") or _now().isoformat()
            resumes = int(old.get("resume_count", 0)) + 1
        else:
            run_id = self._new_run_id(run_key)  # before discarding: a discarded run's id is never reused
            if not resume:
                self._discard_staging(run_key)
            staging, resumed, created_at, resumes = self.staging_root / run_id, False, _now().isoformat(), 0
        full = dict(manifest)
        full.update(run_id=run_id, run_key=run_key, created_at=created_at, status="running", resume_count=resumes)
        full.pop("error", None)
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, action="creating the staging folder", path=staging) from exc
        writer = RunWriter(self, run_id=run_id, staging_dir=staging, manifest=full, resumed=resumed, lock=lock)
        writer.write_manifest()
        self.index.mark_stale_running(keep=run_id)
        self.index.upsert(row_from_manifest(full, status="running", path=staging))
        log.info("%s run %s in %s", "resuming" if resumed else "starting", run_id, staging)
        return writer

    # -- reading (never takes the lock) --------------------------------------------------------
    def _published_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _RUN_ID_RE.match(p.name)
                      and (p / MANIFEST).is_file())

    def list_runs(self, *, include_incomplete: bool = True) -> list[RunSummary]:
        """Runs, oldest first (by created_at), from the index; published folders missing from it are read directly."""
        rows = {r["run_id"]: r for r in self.index.rows()}
        published = set(self._published_ids())
        for run_id in published:
            row = rows.get(run_id)
            if row is None or row["status"] != "complete":
                manifest = _read_manifest(self.root / run_id)
                if manifest is not None:
                    rows[run_id] = row_from_manifest(manifest, status="complete", path=self.root / run_id)
        out = []
        writer_alive: bool | None = None
        for run_id in sorted(rows, key=lambda r: (str(rows[r].get("created_at") or ""), r)):
            row = rows[run_id]
            status = row["status"]
            if status == "complete" and run_id not in published:
                status = "missing"  # indexed as complete but its folder is gone
            if status == "running":
                if writer_alive is None:
                    writer_alive = _pid_alive(StoreLock(self.root).holder_pid())
                status = "running" if writer_alive else "interrupted"  # its job died (best effort, same host)
            if not include_incomplete and status != "complete":
                continue
            metrics = json.loads(row["metrics_json"]) if row.get("metrics_json") else {}
            if row.get("new_driver_words"):
                metrics.setdefault("new_driver_words", json.loads(row["new_driver_words"]))
            gp = row.get("gate_passed")
            out.append(RunSummary(run_id=run_id, created_at=row["created_at"], status=status,
                                  model_ref=row.get("model_ref"), metrics=metrics,
                                  gate_passed=None if gp is None else bool(gp), model_hash=row.get("model_hash"),
                                  config_hash=row.get("config_hash"), path=row.get("path")))
        return out

    def get(self, run_id: str) -> RunRecord:
        """A published run; raises :class:`StoreError` for an unknown id."""
        folder = self.root / run_id
        manifest = _read_manifest(folder) if _NAME_RE.match(run_id) and not run_id.startswith(".") else None
        if manifest is None:
            staging = self.staging_root / run_id
            extra = " (it is still in staging: not complete)" if staging.is_dir() and _NAME_RE.match(run_id) else ""
            raise StoreError(f"unknown run {run_id!r}{extra}", path=self.root,
                             hint="`audit runs list` shows the run ids in this store")
        return RunRecord(path=folder, manifest=manifest, run_id=run_id, status=str(manifest.get("status", "complete")))

    def latest_complete(self, *, before_run_id: str | None = None, model_ref: str | None = None) -> RunRecord | None:
        """The newest published run (by created_at), optionally older than ``before_run_id`` and for ``model_ref``."""
        runs = []
        for run_id in self._published_ids():
            manifest = _read_manifest(self.root / run_id)
            if manifest is not None:
                runs.append(((str(manifest.get("created_at", "")), run_id), manifest))
        pivot: tuple[str, str] | None = None
        if before_run_id is not None:
            ref = _read_manifest(self.root / before_run_id) if _NAME_RE.match(before_run_id) else None
            if ref is None and _NAME_RE.match(before_run_id):
                ref = _read_manifest(self.staging_root / before_run_id)
            pivot = (str(ref.get("created_at", "")) if ref else "", before_run_id)
        for key, manifest in sorted(runs, key=lambda item: item[0], reverse=True):
            if pivot is not None and (key >= pivot if pivot[0] else key[1] >= pivot[1]):
                continue
            if model_ref is not None and manifest.get("model_ref") != model_ref:
                continue
            return RunRecord(path=self.root / key[1], manifest=manifest, run_id=key[1],
                             status=str(manifest.get("status", "complete")))
        return None

    def rebuild_index(self, *, wait_s: float = 5.0) -> Path | None:
        """Rebuild ``index.sqlite`` from the run folders and staging manifests.

        Takes the store lock (waiting up to ``wait_s``, else :class:`StoreLockedError`) so a
        job publishing meanwhile cannot have its index row overwritten by a stale listing.
        A corrupt index is moved aside (``index.sqlite.corrupt-<time>``, returned) and rebuilt.
        """
        lock = StoreLock(self.root)
        lock.acquire(wait_s=wait_s)
        try:
            aside = None if self.index.is_healthy() else self.index.quarantine()
            try:
                self._rebuild_index_locked()
            except StoreError:
                if aside is not None or not self.index.path.exists():
                    raise
                aside = self.index.quarantine()  # damage quick_check did not see
                self._rebuild_index_locked()
            return aside
        finally:
            lock.release()

    def _rebuild_index_locked(self) -> None:
        rows = []
        for run_id in self._published_ids():
            manifest = _read_manifest(self.root / run_id)
            if manifest is not None:
                rows.append(row_from_manifest(manifest, status="complete", path=self.root / run_id))
        if self.staging_root.is_dir():
            for folder in sorted(self.staging_root.iterdir()):
                manifest = _read_manifest(folder)
                if manifest is not None and "run_id" in manifest:
                    status = "failed" if manifest.get("status") == "failed" else "running"
                    rows.append(row_from_manifest(manifest, status=status, path=folder))
        self.index.replace_all(rows)
        log.info("rebuilt the run index of %s (%d runs)", self.root, len(rows))
