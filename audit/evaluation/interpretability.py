"""Attribution interpretability (paper Eq. 24, Table 5).

Texts holding at least one positive and one negative word of the Hu & Liu
opinion lexicon are selected (optionally only words the POS tagger marks as
adjectives, JJ/JJR/JJS: the paper says "adjective words").  Every method
scores the text toward the *positive* class.  A text is a match when the
positive words out-score the negative words, aggregated by

* ``mean``: mean score of the positive words > mean score of the negative words (default),
* ``sum``: sum > sum,
* ``all_pairs``: every positive word > every negative word (min positive > max negative).

Ties are mismatches.  ``S = #match / (#match + #mismatch)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from audit.errors import ResourceMissingError

log = logging.getLogger(__name__)

Aggregation = Literal["mean", "sum", "all_pairs"]
AGGREGATIONS: tuple[Aggregation, ...] = ("mean", "sum", "all_pairs")
ADJECTIVE_TAGS = frozenset({"JJ", "JJR", "JJS"})


def read_lexicon(path: str | Path) -> frozenset[str]:
    """Read a Hu & Liu word list: one word a line, ``;`` comment lines and blank lines skipped."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ResourceMissingError(f"cannot read opinion lexicon ({exc})", path=p, hint="check AUDIT_DATA_DIR") from exc
    text = raw.decode("utf-8", errors="replace")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith(";"))


@dataclass(frozen=True)
class PolarText:
    """A selected text and the positions of its positive and negative lexicon words."""

    index: int
    tokens: tuple[str, ...]
    positive: tuple[int, ...]
    negative: tuple[int, ...]


def select_polar_texts(
    texts: Sequence[Sequence[str]],
    *,
    positive: frozenset[str],
    negative: frozenset[str],
    tags: Sequence[Sequence[str]] | None = None,
) -> list[PolarText]:
    """Texts with >= 1 positive and >= 1 negative lexicon word.

    Words on both lists are ignored.  With ``tags`` (PTB tags per token), only
    words tagged JJ/JJR/JJS count.
    """
    pos_only = positive - negative
    neg_only = negative - positive
    out: list[PolarText] = []
    for index, toks in enumerate(texts):
        tg = tags[index] if tags is not None else None
        if tg is not None and len(tg) != len(toks):
            raise ValueError(f"text #{index}: {len(toks)} tokens but {len(tg)} tags")

        def keep(i: int, tg: Sequence[str] | None = tg) -> bool:
            return tg is None or tg[i] in ADJECTIVE_TAGS

        p = tuple(i for i, t in enumerate(toks) if t.lower() in pos_only and keep(i))
        n = tuple(i for i, t in enumerate(toks) if t.lower() in neg_only and keep(i))
        if p and n:
            out.append(PolarText(index=index, tokens=tuple(toks), positive=p, negative=n))
    return out


def is_match(scores: np.ndarray, item: PolarText, *, aggregation: Aggregation = "mean") -> bool:
    """Do the positive words out-score the negative words (scores toward the positive class)?"""
    s = np.asarray(scores, dtype=float)
    if s.shape != (len(item.tokens),):
        raise ValueError(f"expected {len(item.tokens)} scores, got shape {s.shape}")
    p = s[list(item.positive)]
    n = s[list(item.negative)]
    if aggregation == "mean":
        return bool(p.mean() > n.mean())
    if aggregation == "sum":
        return bool(p.sum() > n.sum())
    if aggregation == "all_pairs":
        return bool(p.min() > n.max())
    raise ValueError(f"unknown aggregation {aggregation!r}")


@dataclass
class InterpretabilityResult:
    method: str
    n: int
    matches: dict[str, int]
    matched: list[bool] = field(default_factory=list)  # per text, primary aggregation

    def score(self, aggregation: str) -> float:
        return self.matches[aggregation] / self.n if self.n else float("nan")

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"method": self.method, "n": self.n}
        for agg, m in self.matches.items():
            out[f"matches_{agg}"] = m
            out[f"score_{agg}"] = self.score(agg)
        return out


def interpretability(
    method: str,
    items: Sequence[PolarText],
    scores: Sequence[np.ndarray],
    *,
    primary: Aggregation = "mean",
    aggregations: Iterable[Aggregation] = AGGREGATIONS,
) -> InterpretabilityResult:
    """Eq. 24 for one method; ``scores[i]`` are its word scores of ``items[i]`` toward the positive class."""
    if len(scores) != len(items):
        raise ValueError(f"{len(items)} texts but {len(scores)} attributions")
    aggs = list(dict.fromkeys([primary, *aggregations]))
    matches: dict[str, int] = {a: 0 for a in aggs}
    per_text: list[bool] = []
    for item, s in zip(items, scores):
        for a in aggs:
            m = is_match(s, item, aggregation=a)
            matches[a] += int(m)
            if a == primary:
                per_text.append(m)
    return InterpretabilityResult(method=method, n=len(items), matches=matches, matched=per_text)


def lexicon_counts(
    texts: Sequence[Sequence[str]],
    *,
    positive: frozenset[str],
    negative: frozenset[str],
    tags: Sequence[Sequence[str]],
) -> dict[str, int]:
    """Selection sizes under both rules (reported so a reader can see what the POS filter does)."""
    return {
        "any_lexicon_word": len(select_polar_texts(texts, positive=positive, negative=negative)),
        "adjectives_only": len(select_polar_texts(texts, positive=positive, negative=negative, tags=tags)),
    }
