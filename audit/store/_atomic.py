"""Atomic file writes (tmp file + fsync + ``os.replace``) and OSError -> StoreError."""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import StoreError


def store_error(exc: OSError, *, action: str, path: Path | str, staging: Path | None = None) -> StoreError:
    """Turn an OSError into a StoreError whose message says what happened and what to do."""
    code = exc.errno
    kept = f"; nothing was published, staging kept at {staging} (rerun the job to resume)" if staging else ""
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return StoreError(f"no space left on device while {action}{kept}", path=path,
                          hint="free disk space or point --store / AUDIT_STORE elsewhere")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(f"the run store is read-only or not writable while {action}{kept}", path=path,
                          hint="make the store directory writable or point --store / AUDIT_STORE elsewhere")
    return StoreError(f"I/O error while {action}: {exc.strerror or exc}{kept}", path=path)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (best effort on odd filesystems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TMP_MARK = ".tmp-"
"""Temporary files of :func:`write_bytes_atomic` are named ``.<name>.tmp-<pid>``."""


def is_temporary(name: str) -> bool:
    """True for a temporary file left by :func:`write_bytes_atomic` (e.g. by a killed job)."""
    return name.startswith(".") and TMP_MARK in name


def remove_temporaries(root: Path) -> list[Path]:
    """Delete every temporary file under ``root`` (only while holding the store lock); returns them."""
    removed = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if is_temporary(name):
                path = Path(dirpath) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically. Raises OSError (callers translate it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.reset_index(drop=True).to_parquet(buf, index=False)
    return buf.getvalue()


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode("utf-8")


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root``."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def _drop_write_bits(path: str) -> None:
    os.chmod(path, os.stat(path).st_mode & 0o444)


def make_read_only(root: Path, *, last: str | None = None) -> None:
    """Drop write bits on every file under ``root`` (published runs are immutable).

    ``last`` (a file directly under ``root``) is done after all others, so a writable ``last``
    means the job may have died before finishing. Directories stay writable so retention
    scripts can still delete whole runs.
    """
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if last is not None and name == last and Path(dirpath) == root:
                continue
            _drop_write_bits(os.path.join(dirpath, name))
    if last is not None and (root / last).exists():
        _drop_write_bits(str(root / last))


def is_writable_file(path: Path) -> bool:
    """True when ``path`` exists and still has a write bit."""
    try:
        return bool(os.stat(path).st_mode & 0o222)
    except OSError:
        return False
