"""Word lists shared by the attack, the findings and harden: NLTK's stopwords, the Hu & Liu opinion lexicon.

Loaded lazily and cached; a missing resource raises ``ResourceMissingError`` naming ``audit data fetch``.
"""

from __future__ import annotations

from functools import lru_cache

from audit.errors import ResourceMissingError
from audit.nlp import resources
from audit.settings import data_dir

__all__ = ["opinion_lexicon", "stopwords"]


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """NLTK's English stopword list (179 words)."""
    resources.ensure("stopwords")
    from nltk.corpus import stopwords as sw

    try:
        return frozenset(w.lower() for w in sw.words("english"))
    except LookupError as exc:
        raise ResourceMissingError("NLTK stopwords are not available", hint="run `audit data fetch`") from exc


@lru_cache(maxsize=1)
def opinion_lexicon() -> dict[str, int]:
    """Hu & Liu opinion lexicon: word -> +1 (positive) / -1 (negative).

    Read from ``<data dir>/opinion_lexicon`` when present, else from NLTK's corpus.
    """
    out: dict[str, int] = {}
    try:
        folder = data_dir() / "opinion_lexicon"
    except ResourceMissingError:
        folder = None
    if folder is not None and (folder / "positive-words.txt").is_file() and (folder / "negative-words.txt").is_file():
        for name, sign in (("positive-words.txt", 1), ("negative-words.txt", -1)):
            for line in (folder / name).read_text(encoding="utf-8", errors="replace").splitlines():
                word = line.strip()
                if word and not word.startswith(";"):
                    out[word] = sign
        return out
    resources.ensure("opinion_lexicon")
    from nltk.corpus import opinion_lexicon as ol

    try:
        out.update({w: 1 for w in ol.positive()})
        out.update({w: -1 for w in ol.negative()})
    except LookupError as exc:
        raise ResourceMissingError("the opinion lexicon is not available", hint="run `audit data fetch`") from exc
    return out
