"""The run store's exclusive write lock (``fcntl.flock`` on ``<root>/.lock``).

One job writes to a store at a time.  The lock is tied to an open file
description, so it is released by the kernel when the holder dies (``kill -9``
included): a stale lock file never blocks the next job.  Readers (``audit runs
list``, the dashboard) never take it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from pathlib import Path

from audit.errors import StoreError, StoreLockedError
from audit.store._atomic import store_error

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class StoreLock:
    """An exclusive, non-blocking ``flock`` retried until ``wait_s`` has passed."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder_pid(self) -> int | None:
        """The pid written by the current holder, if it can be read."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self, *, wait_s: float = 0.0, poll_s: float = 0.1) -> None:
        """Take the lock or raise :class:`StoreLockedError` naming the holder's pid."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error(exc, action="opening the store lock", path=self.path) from exc
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise StoreError(f"cannot lock the store ({exc.strerror or exc})", path=self.path) from exc
                if time.monotonic() >= deadline:
                    os.close(fd)
                    pid = self.holder_pid()
                    who = f"process {pid}" if pid is not None else "another process"
                    raise StoreLockedError(
                        f"the run store is locked by {who}" + (f" (waited {wait_s:g}s)" if wait_s > 0 else ""),
                        path=self.path,
                        hint="wait for that job to finish, or rerun with `audit run --wait SECONDS` to wait for it",
                    ) from None
                time.sleep(poll_s)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
            os.fsync(fd)
        except OSError as exc:  # the lock is held; the pid is only informative
            log.warning("could not record the lock holder's pid in %s: %s", self.path, exc)
        self._fd = fd
        log.debug("store lock %s taken by pid %d", self.path, os.getpid())

    def release(self) -> None:
        """Release the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
