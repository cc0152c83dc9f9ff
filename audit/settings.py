"""Where external resources live. Nothing here reads a file at import time.

Resolution order for the shared data directory:
1. an explicit argument,
2. the ``AUDIT_DATA_DIR`` environment variable,
3. ``../shared/data`` next to the current working directory's repository
   (the layout of a clean clone with ``shared/`` beside it) -- only used when it exists.

NLTK data follows NLTK's own ``NLTK_DATA``; when unset we fall back to
``<data dir>/nltk_data`` if that exists.
"""

from __future__ import annotations

import os
from pathlib import Path

from audit.errors import ResourceMissingError

DATA_DIR_ENV = "AUDIT_DATA_DIR"


def data_dir(explicit: str | Path | None = None) -> Path:
    """Return the shared data directory or raise :class:`ResourceMissingError`."""
    if explicit is not None:
        path = Path(explicit).expanduser()
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV]).expanduser()
    else:
        path = Path.cwd().parent / "shared" / "data"
    if not path.is_dir():
        raise ResourceMissingError(
            f"data directory {path} does not exist",
            hint=f"set {DATA_DIR_ENV}=/path/to/shared/data (the README's setup does this)",
        )
    return path


def resolve_data_path(value: str | Path) -> Path:
    """Resolve a dataset path from a config.

    ``${AUDIT_DATA_DIR}/sst2/test.tsv`` style values are expanded with
    :func:`data_dir`; ``data:sst2/test.tsv`` is shorthand for the same.
    Other values are taken as plain (relative or absolute) paths.
    """
    text = str(value)
    if text.startswith("data:"):
        return data_dir() / text[len("data:") :]
    if "${" + DATA_DIR_ENV + "}" in text or "$" + DATA_DIR_ENV in text:
        base = str(data_dir())
        text = text.replace("${" + DATA_DIR_ENV + "}", base).replace("$" + DATA_DIR_ENV, base)
    return Path(os.path.expanduser(text))


def nltk_data_dir() -> Path | None:
    """The directory NLTK should search first, or None to rely on NLTK defaults."""
    env = os.environ.get("NLTK_DATA")
    if env:
        return Path(env.split(os.pathsep)[0])
    try:
        candidate = data_dir() / "nltk_data"
    except ResourceMissingError:
        return None
    return candidate if candidate.is_dir() else None


STORE_ENV = "AUDIT_STORE"
DEFAULT_STORE = "reports/runs"


def store_dir(explicit: str | Path | None = None, *, configured: str | Path | None = None) -> Path:
    """The run store directory: ``explicit`` (``--store``), else ``$AUDIT_STORE``,
    else ``configured`` (a config's ``store``), else ``reports/runs`` relative to the working directory."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    return Path(configured if configured is not None else DEFAULT_STORE).expanduser()
