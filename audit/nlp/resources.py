"""NLTK data: lazy check, load and fetch.

Nothing is read or downloaded at import.  :func:`ensure` puts
:func:`audit.settings.nltk_data_dir` first on ``nltk.data.path`` and checks that a resource
is there, raising :class:`~audit.errors.ResourceMissingError` that names ``audit data fetch``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from audit.errors import ResourceMissingError
from audit.settings import nltk_data_dir

log = logging.getLogger(__name__)

RESOURCES: dict[str, tuple[str, str]] = {
    # name: (nltk.data.find path, nltk.download package id)
    "tagger": ("taggers/averaged_perceptron_tagger_eng/", "averaged_perceptron_tagger_eng"),
    "universal_tagset": ("taggers/universal_tagset/en-ptb.map", "universal_tagset"),
    "wordnet": ("corpora/wordnet/", "wordnet"),
    "stopwords": ("corpora/stopwords/", "stopwords"),
    "opinion_lexicon": ("corpora/opinion_lexicon/", "opinion_lexicon"),
}

_found: set[tuple[str, tuple[str, ...]]] = set()


def configure_path() -> list[str]:
    """Put the configured NLTK data dir first on ``nltk.data.path``; return the path list."""
    import nltk

    directory = nltk_data_dir()
    if directory is not None:
        text = str(directory)
        if not nltk.data.path or nltk.data.path[0] != text:
            if text in nltk.data.path:
                nltk.data.path.remove(text)
            nltk.data.path.insert(0, text)
    return list(nltk.data.path)


def _lookup(name: str) -> str:
    if name not in RESOURCES:
        raise ResourceMissingError(f"unknown NLTK resource {name!r}; known: {', '.join(RESOURCES)}")
    return RESOURCES[name][0]


def _present(name: str) -> bool:
    import nltk

    path = _lookup(name)
    key = (name, tuple(configure_path()))
    if key in _found:
        return True
    try:
        nltk.data.find(path)
    except LookupError:
        return False
    _found.add(key)
    return True


def ensure(name: str) -> None:
    """Make sure NLTK resource ``name`` (a key of :data:`RESOURCES`) can be loaded."""
    if not _present(name):
        where = nltk_data_dir()
        raise ResourceMissingError(
            f"NLTK resource {name!r} ({RESOURCES[name][0]}) was not found"
            + (f" under {where}" if where is not None else " (NLTK_DATA is not set)"),
            hint="run `audit data fetch` (or set NLTK_DATA to a directory that has it)",
        )


def check() -> dict[str, bool]:
    """``{resource name: available}`` for every resource reat-audit uses."""
    return {name: _present(name) for name in RESOURCES}


def fetch(*, download_dir: str | Path | None = None, names: list[str] | None = None) -> dict[str, bool]:
    """Download missing resources with ``nltk.download`` (needs network access).

    ``download_dir`` defaults to the configured NLTK data dir.  Returns ``{name: ok}``.
    """
    import nltk

    target = Path(download_dir) if download_dir is not None else nltk_data_dir()
    if target is None:
        raise ResourceMissingError("no NLTK data directory to download into", hint="pass --dir or set NLTK_DATA")
    target.mkdir(parents=True, exist_ok=True)
    results: dict[str, bool] = {}
    for name in names or list(RESOURCES):
        _lookup(name)
        package = RESOURCES[name][1]
        log.info("downloading NLTK package %s into %s", package, target)
        results[name] = bool(nltk.download(package, download_dir=str(target), quiet=True, raise_on_error=False))
    _found.clear()
    return results
