"""Provenance and plumbing for the nightly job: code version, hashes, seeding, progress."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import audit

log = logging.getLogger(__name__)


def _source_root() -> Path:
    return Path(audit.__file__).resolve().parent.parent


def _git(args: list[str], where: Path) -> str | None:
    """stdout of ``git <args>`` in ``where``, or None when git or the repository is unavailable."""
    try:
        out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the source tree, or None when git or the repository is unavailable."""
    commit = (_git(["rev-parse", "HEAD"], Path(cwd) if cwd is not None else _source_root()) or "").strip()
    return commit or None


def source_version(cwd: str | Path | None = None) -> str | None:
    """The source tree's commit, with ``+dirty`` when ``audit/`` has uncommitted changes; None without git.

    Part of the run key, so a resumed run never mixes chunks computed by different code.
    """
    where = Path(cwd) if cwd is not None else _source_root()
    commit = git_commit(where)
    if commit is None:
        return None
    status = _git(["status", "--porcelain", "--", "audit"], where)
    return commit + ("+dirty" if status and status.strip() else "")


def code_version() -> dict[str, str | None]:
    return {"version": audit.__version__, "git_commit": source_version()}


def run_key(**parts: Any) -> str:
    """A stable key for "the same job": equal inputs give the same key (so a rerun resumes)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class Progress:
    """A tqdm bar on a terminal; otherwise an INFO log line at most every ``every_s`` seconds."""

    def __init__(self, *, total: int, desc: str, enabled: bool | None = None, every_s: float = 10.0) -> None:
        self.total = total
        self.desc = desc
        self.done = 0
        self.every_s = every_s
        self._last = time.monotonic()
        tty = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None
        if tty and total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="text", leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            log.info("%s: %d/%d", self.desc, self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
