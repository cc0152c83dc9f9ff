"""Which WordNet sense a word has in a sentence: a SemCor prior plus gloss-to-context similarity.

For a word tagged ``ptb_tag`` at ``position``, every WordNet synset of its lemmas (same POS)
is scored

    score(s) = cos(context, signature(s)) + prior_weight * log P(s)

* ``P(s)``: the SemCor sense counts shipped with WordNet (``cntlist.rev``, read through
  NLTK's public ``Lemma.count()``), add-one smoothed over the word's senses;
* ``context``: the unit-length mean word vector of the sentence's content words within
  ``window`` tokens of the position (stopwords, punctuation and the word itself left out);
* ``signature(s)``: the same for the synset's gloss, examples, lemma names and its
  hypernyms' lemma names (a vector form of the simplified Lesk algorithm).

The highest score wins.  With no context word in the vectors the prior alone decides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from audit.nlp import wordnet
from audit.nlp.vectors import WordVectors

_TOKEN = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True)
class SenseChoice:
    """The chosen synset of a word in context, with the scores of every candidate sense."""

    synset: str
    """Synset name, e.g. ``movie.n.01``."""
    lemmas: tuple[str, ...]
    """Single-word lemma names of the chosen synset (lower-case, no underscores)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Synset name -> score, for every sense considered."""
    prior: float = 0.0
    """Smoothed SemCor probability of the chosen sense."""


def _stopwords() -> frozenset[str]:
    from audit.nlp import lexicons as _nlp

    return _nlp.stopwords()


def _content(words: Sequence[str], drop: set[str]) -> list[str]:
    stop = _stopwords()
    return [w for w in words if _TOKEN.fullmatch(w) and w not in stop and w not in drop]


@lru_cache(maxsize=65536)
def _signature_words(synset_name: str) -> tuple[str, ...]:
    wn = wordnet._wordnet()
    s = wn.synset(synset_name)
    text = " ".join([s.definition(), *s.examples()]).lower()
    words = _TOKEN.findall(text)
    for rel in (s, *s.hypernyms(), *s.similar_tos()):
        for lemma in rel.lemmas():
            words += lemma.name().lower().split("_")
    return tuple(words)


def _signature(vectors: WordVectors, synset: str, word: str, bases: tuple[str, ...]) -> np.ndarray | None:
    """Signature vector of a synset for a word (cached on the vectors object)."""
    memo = vectors.memo
    key = ("signature", synset, word, bases)
    if key not in memo:
        memo[key] = vectors.mean(_content(list(_signature_words(synset)), set(bases) | {word}))
    return memo[key]  # type: ignore[return-value]


def candidate_synsets(word: str, ptb_tag: str) -> list[Any]:
    """The synsets of ``word``'s WordNet lemmas for the tag's POS, in WordNet order (no duplicates)."""
    pos = wordnet.wordnet_pos(ptb_tag)
    if pos is None:
        return []
    out: list[Any] = []
    for base in wordnet.lemmas(word, ptb_tag):
        for s in wordnet._synsets(base, pos):
            if s not in out:
                out.append(s)
    return out


def sense_count(synset: Any, bases: Sequence[str]) -> int:
    """SemCor count of the synset's lemma(s) named like one of ``bases``."""
    return sum(int(lem.count()) for lem in synset.lemmas() if lem.name().lower() in bases)


def choose_sense(
    tokens: Sequence[str],
    position: int,
    ptb_tag: str,
    *,
    vectors: WordVectors | None,
    window: int = 8,
    prior_weight: float = 0.1,
) -> SenseChoice | None:
    """The best-scoring sense of ``tokens[position]`` (None when WordNet has no sense for it)."""
    word = tokens[position].lower()
    synsets = candidate_synsets(word, ptb_tag)
    if not synsets:
        return None
    bases = wordnet.lemmas(word, ptb_tag)
    counts = [sense_count(s, bases) for s in synsets]
    total = sum(counts) + len(counts)
    lo, hi = max(0, position - window), min(len(tokens), position + window + 1)
    around = [t.lower() for i, t in enumerate(tokens[lo:hi], start=lo) if i != position]
    ctx = vectors.mean(_content(around, set(bases) | {word})) if vectors is not None else None
    scores: dict[str, float] = {}
    for s, n in zip(synsets, counts):
        score = prior_weight * math.log((n + 1) / total)
        if ctx is not None and vectors is not None:
            sig = _signature(vectors, s.name(), word, tuple(bases))
            if sig is not None:
                score += float(np.dot(ctx, sig))
        scores[s.name()] = score
    best = max(range(len(synsets)), key=lambda k: (scores[synsets[k].name()], -k))
    chosen = synsets[best]
    lemmas = tuple(dict.fromkeys(
        lem.name().lower() for lem in chosen.lemmas() if "_" not in lem.name() and lem.name()[:1].islower()
    ))
    return SenseChoice(synset=chosen.name(), lemmas=lemmas, scores=scores, prior=(counts[best] + 1) / total)


@lru_cache(maxsize=131072)
def substitute_share(substitute: str, ptb_tag: str, synset: str) -> float | None:
    """How much of ``substitute``'s own usage is the sense ``synset``: its add-one smoothed SemCor
    share over its synsets for the POS ("take" is rarely *choose*: 0.04; "film" is mostly *movie*: 0.57).
    None when WordNet has no sense of it for the POS."""
    pos = wordnet.wordnet_pos(ptb_tag)
    bases = wordnet.lemmas(substitute, ptb_tag)
    if pos is None or not bases:
        return None
    base = bases[0]
    total = mine = 0
    for s in wordnet._synsets(base, pos):
        n = sum(int(lem.count()) for lem in s.lemmas() if lem.name().lower() == base) + 1
        total += n
        if s.name() == synset:
            mine += n
    return mine / total if total else None
