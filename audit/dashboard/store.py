"""Locating and opening the run store the dashboard displays."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from audit.settings import DEFAULT_STORE, STORE_ENV, store_dir  # re-exported for the CLI and tests

if TYPE_CHECKING:
    from audit.store import RunStore

log = logging.getLogger(__name__)


__all__ = [
    "DEFAULT_STORE",
    "FIRST_RUN_MESSAGE",
    "STORE_ENV",
    "first_run_message",
    "open_store",
    "resolve_store_dir",
]

FIRST_RUN_MESSAGE = (
    "No audit runs yet in `{store}`. Make the first one with `make nightly` "
    "(or `audit run --config configs/nightly.yaml`), then reload this page. "
    "To look at another store, start the dashboard with `audit dashboard --store DIR`."
)


def resolve_store_dir(explicit: str | Path | None = None) -> Path:
    """The store directory: ``explicit``, else ``$AUDIT_STORE``, else ``reports/runs``."""
    return store_dir(explicit)


def first_run_message(store_dir: str | Path) -> str:
    """The message shown when the store is missing or holds no run."""
    return FIRST_RUN_MESSAGE.format(store=store_dir)


def open_store(store_dir: str | Path) -> RunStore | None:
    """A :class:`~audit.store.RunStore` on ``store_dir``, or None if the directory does not exist.

    Never creates the directory: the dashboard is read-only.  Errors of an
    existing but unreadable store propagate as :class:`~audit.errors.StoreError`.
    """
    path = Path(store_dir)
    if not path.is_dir():
        log.info("run store %s does not exist", path)
        return None
    from audit.store import RunStore

    return RunStore(path)
