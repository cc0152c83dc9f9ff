"""Part-of-speech tags: NLTK's averaged perceptron (PTB tags) and the universal tagset map."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from audit.nlp.resources import ensure

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _tagger() -> Any:
    ensure("tagger")
    from nltk.tag.perceptron import PerceptronTagger

    log.debug("loading the NLTK perceptron tagger")
    return PerceptronTagger(lang="eng")


@functools.lru_cache(maxsize=1)
def _universal_map() -> dict[str, str]:
    ensure("universal_tagset")
    from nltk.tag.mapping import tagset_mapping

    return dict(tagset_mapping("en-ptb", "universal"))


def tag(tokens: Sequence[str]) -> list[str]:
    """PTB tags for ``tokens`` (one per token; ``[]`` for no tokens)."""
    if not tokens:
        return []
    return [t for _, t in _tagger().tag(list(tokens))]


def universal(ptb_tag: str) -> str:
    """Universal tag (``NOUN``, ``VERB``, ``PRT``, ``.``...) of a PTB tag; ``X`` when unknown."""
    return _universal_map().get(ptb_tag, "X")


def tag_universal(tokens: Sequence[str]) -> list[str]:
    """Universal tags for ``tokens``."""
    return [universal(t) for t in tag(tokens)]
