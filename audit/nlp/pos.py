"""Part-of-speech tags: NLTK's averaged perceptron (PTB tags) and the universal tagset map."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from audit.nlp.resources import ensure
from audit.nlp.wordnet import is_verb

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


MODALS = frozenset({"ca", "can", "could", "wo", "will", "would", "should", "shall", "may", "might", "must"})
"""Modal auxiliaries (SST-2 splits "can't" into "ca n't", "won't" into "wo n't")."""
DO_SUPPORT = MODALS | {"do", "does", "did"}
"""Auxiliaries after which, with a negation, a bare verb follows ("did n't laugh", "ca n't stand")."""
NEGATIONS = frozenset({"n't", "not"})


def _after_negated_aux(tokens: Sequence[str], tags: list[str]) -> list[str]:
    """Re-tag ``VB`` a word after auxiliary + negation that the tagger called a noun or adjective but is a
    WordNet verb: on SST-2's split contractions the perceptron tags "did n't laugh" as ``NN``."""
    out = list(tags)
    for i in range(2, len(tokens)):
        if (tokens[i - 1].lower() in NEGATIONS and tokens[i - 2].lower() in DO_SUPPORT
                and out[i] in ("NN", "JJ") and tokens[i].isalpha() and is_verb(tokens[i])):
            out[i] = "VB"
    return out


def tag(tokens: Sequence[str]) -> list[str]:
    """PTB tags for ``tokens`` (one per token; ``[]`` for no tokens), with the negated-auxiliary fix
    (:func:`_after_negated_aux`)."""
    if not tokens:
        return []
    return _after_negated_aux(tokens, [t for _, t in _tagger().tag(list(tokens))])


def universal(ptb_tag: str) -> str:
    """Universal tag (``NOUN``, ``VERB``, ``PRT``, ``.``...) of a PTB tag; ``X`` when unknown."""
    return _universal_map().get(ptb_tag, "X")


def tag_universal(tokens: Sequence[str]) -> list[str]:
    """Universal tags for ``tokens``."""
    return [universal(t) for t in tag(tokens)]
