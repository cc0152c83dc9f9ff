"""Hierarchical attribution (section 3.3): word, phrase and clause levels.

* word: every token.
* phrase: NLTK perceptron POS tags mapped to the universal tagset, then the regular
  expressions of Table 1 through ``nltk.RegexpParser``: verb chunks
  ``<VERB>*<ADV>*<PRT>*<VERB>+<PRT>*`` and noun chunks ``<DET>?(<NOUN>+<ADP|CONJ>)*<NOUN>+``.
  (The paper writes ``PART``; NLTK's universal tagset calls particles ``PRT``.)  Every other
  token is a phrase of its own.
* clause: split after ``,`` ``;`` ``:`` and sentence-final punctuation (the mark stays with
  the clause it ends), and before a contrastive coordinating conjunction (``but``, ``yet``...).

Segment scores are sums of word scores, which for REAT equals Eq. 14/16/20/22 exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.attribution._spans import Span, span_scores
from audit.errors import InputError

LEVELS: tuple[str, ...] = ("word", "phrase", "clause")

GRAMMAR = r"""
VC: {<VERB>*<ADV>*<PRT>*<VERB>+<PRT>*}
NC: {<DET>?(<NOUN>+<ADP|CONJ>)*<NOUN>+}
"""

CLAUSE_END = frozenset({",", ";", ":", ".", "!", "?", "--"})
CLAUSE_START = frozenset({"but", "yet", "however", "although", "though", "whereas"})


@dataclass(frozen=True)
class Segment:
    """A contiguous token span ``[start, end)`` with its text and score."""

    text: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "score": self.score}


@dataclass
class Hierarchy:
    """Segments per level (``word``, ``phrase``, ``clause``), each covering the text in order."""

    tokens: list[str]
    levels: dict[str, list[Segment]] = field(default_factory=dict)

    def __getitem__(self, level: str) -> list[Segment]:
        return self.levels[level]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [s.to_dict() for s in segs] for name, segs in self.levels.items()}


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    import nltk

    return nltk.RegexpParser(GRAMMAR)


def phrase_spans(tokens: Sequence[str], *, upos: Sequence[str] | None = None) -> list[Span]:
    """Non-overlapping phrase spans covering ``tokens`` (chunks of Table 1, others singletons).

    ``upos`` (universal tags) defaults to NLTK's tagger, which needs the tagger data.
    """
    if not tokens:
        return []
    if upos is None:
        from audit.nlp.pos import tag_universal

        upos = tag_universal(tokens)
    if len(upos) != len(tokens):
        raise InputError(f"got {len(upos)} tags for {len(tokens)} tokens")
    tree = _parser().parse(list(zip(range(len(tokens)), upos)))
    spans: list[Span] = []
    pos = 0
    for child in tree:
        width = len(child.leaves()) if hasattr(child, "leaves") else 1
        spans.append((pos, pos + width))
        pos += width
    return spans


def clause_spans(tokens: Sequence[str]) -> list[Span]:
    """Clause spans covering ``tokens``: split after , ; : . ! ? and before but/yet/however..."""
    spans: list[Span] = []
    start = 0
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in CLAUSE_START and i > start:
            spans.append((start, i))
            start = i
        if low in CLAUSE_END:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(tokens):
        spans.append((start, len(tokens)))
    # a clause made only of punctuation joins the one before it
    merged: list[Span] = []
    for s, e in spans:
        if merged and all(t in CLAUSE_END for t in tokens[s:e]):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def segments(tokens: Sequence[str], word_scores: np.ndarray, spans: Sequence[Span]) -> list[Segment]:
    """Segments for ``spans`` with scores summed from ``word_scores`` ``(T,)``."""
    scores = span_scores(np.asarray(word_scores, dtype=np.float64), list(spans)) if spans else np.zeros(0)
    return [Segment(" ".join(tokens[s:e]), s, e, float(v)) for (s, e), v in zip(spans, scores)]


def build(
    tokens: Sequence[str],
    word_scores: np.ndarray | Sequence[float],
    *,
    levels: Sequence[str] = LEVELS,
    upos: Sequence[str] | None = None,
) -> Hierarchy:
    """The hierarchy of ``levels`` for one text with word scores ``(T,)`` toward one class."""
    scores = np.asarray(word_scores, dtype=np.float64)
    if scores.shape != (len(tokens),):
        raise InputError(f"word_scores has shape {scores.shape}, expected ({len(tokens)},)")
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise InputError(f"unknown level(s) {unknown}; choose from {', '.join(LEVELS)}")
    toks = list(tokens)
    out = Hierarchy(tokens=toks)
    for level in LEVELS:
        if level not in levels:
            continue
        if level == "word":
            spans = [(i, i + 1) for i in range(len(toks))]
        elif level == "phrase":
            spans = phrase_spans(toks, upos=upos)
        else:
            spans = clause_spans(toks)
        out.levels[level] = segments(toks, scores, spans)
    return out
