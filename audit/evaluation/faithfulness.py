"""Attribution faithfulness (paper Eq. 23, Table 4).

Texts made of two clauses joined by a conjunction ("but") are selected with
:func:`select_two_clause_texts`.  Each method scores both clauses toward the
predicted class (sum of its word scores over the clause; for REAT that sum *is*
the phrase score of Eq. 14, by telescoping).  The clause with the higher score
is deleted and the drop of the predicted class's probability is averaged:

    S = 1/N * sum_i ( y(x_i) - y(x_i without A_i) )

Two reference points come with every table, for reading the numbers: ``random``
(the expected drop when the clause is picked by a coin flip, i.e. the mean of
both deletions) and ``oracle`` (the larger of the two drops, the best any
clause-picking method can do).  ``agreement`` is how often a method picked the
clause whose deletion hurts more, and ``second_share`` how often it deleted the
second clause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from audit.data.tokenize import is_punct

log = logging.getLogger(__name__)

ProbaFn = Callable[[Sequence[Sequence[str]]], np.ndarray]


@dataclass(frozen=True)
class TwoClauseText:
    """A selected text: ``clauses`` are two ``(start, end)`` spans (end exclusive) of ``tokens``."""

    index: int
    tokens: tuple[str, ...]
    conjunction_at: int
    clauses: tuple[tuple[int, int], tuple[int, int]]

    def without(self, which: int) -> list[str]:
        """The tokens with clause ``which`` (0 or 1) deleted."""
        start, end = self.clauses[which]
        return list(self.tokens[:start]) + list(self.tokens[end:])


def select_two_clause_texts(
    texts: Sequence[Sequence[str]],
    *,
    conjunction: str = "but",
    min_clause_tokens: int = 3,
    conjunction_goes_with: Literal["second", "neither"] = "second",
) -> list[TwoClauseText]:
    """Select texts with exactly one ``conjunction`` token and at least ``min_clause_tokens``
    non-punctuation tokens on each side of it.

    Clause 1 is everything before the conjunction (a comma before it stays with
    clause 1); clause 2 is everything after it, plus the conjunction itself when
    ``conjunction_goes_with == "second"``.
    """
    out: list[TwoClauseText] = []
    for index, toks in enumerate(texts):
        toks = tuple(toks)
        hits = [i for i, t in enumerate(toks) if t == conjunction]
        if len(hits) != 1:
            continue
        at = hits[0]
        left = sum(1 for t in toks[:at] if not is_punct(t))
        right = sum(1 for t in toks[at + 1 :] if not is_punct(t))
        if left < min_clause_tokens or right < min_clause_tokens:
            continue
        second_start = at if conjunction_goes_with == "second" else at + 1
        out.append(
            TwoClauseText(index=index, tokens=toks, conjunction_at=at, clauses=((0, at), (second_start, len(toks))))
        )
    return out


@dataclass
class FaithfulnessItem:
    """Per-text record of one method on one model."""

    index: int
    pred: int
    prob: float
    clause_scores: tuple[float, float]
    deleted: int
    prob_after: float
    drops: tuple[float, float]

    @property
    def drop(self) -> float:
        return self.prob - self.prob_after


@dataclass
class FaithfulnessResult:
    method: str
    n: int
    score: float
    random: float
    oracle: float
    agreement: float
    ties: int
    second_share: float = float("nan")
    items: list[FaithfulnessItem] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        return {
            "method": self.method,
            "n": self.n,
            "score": self.score,
            "random": self.random,
            "oracle": self.oracle,
            "agreement": self.agreement,
            "ties": self.ties,
            "second_share": self.second_share,
        }


@dataclass
class DeletionTable:
    """Model predictions on the full texts and on both deletions (shared by all methods)."""

    preds: np.ndarray  # (N,) predicted class on the full text
    probs: np.ndarray  # (N,) its probability
    probs_after: np.ndarray  # (N, 2) that class's probability with clause 0 / 1 deleted

    @property
    def drops(self) -> np.ndarray:
        return self.probs[:, None] - self.probs_after


def deletion_table(items: Sequence[TwoClauseText], proba: ProbaFn, *, batch_size: int = 64) -> DeletionTable:
    """Run the model on every selected text and on both of its clause deletions."""
    n = len(items)
    full = _batched(proba, [list(it.tokens) for it in items], batch_size)
    preds = full.argmax(axis=1) if n else np.zeros(0, dtype=int)
    after = np.zeros((n, 2))
    for which in (0, 1):
        p = _batched(proba, [it.without(which) for it in items], batch_size)
        if n:
            after[:, which] = p[np.arange(n), preds]
    probs = full[np.arange(n), preds] if n else np.zeros(0)
    return DeletionTable(preds=preds.astype(int), probs=probs, probs_after=after)


def score_clauses(word_scores: np.ndarray, item: TwoClauseText) -> tuple[float, float]:
    """Sum of a method's word scores (toward the predicted class) over each clause."""
    s = np.asarray(word_scores, dtype=float)
    if s.shape != (len(item.tokens),):
        raise ValueError(f"expected {len(item.tokens)} word scores, got shape {s.shape}")
    return tuple(float(s[a:b].sum()) for a, b in item.clauses)  # type: ignore[return-value]


def faithfulness(
    method: str,
    items: Sequence[TwoClauseText],
    word_scores: Sequence[np.ndarray],
    table: DeletionTable,
) -> FaithfulnessResult:
    """Eq. 23 for one method. ``word_scores[i]`` are the method's scores of ``items[i]`` toward ``table.preds[i]``.

    Ties (equal clause scores) delete clause 1 and are counted.
    """
    if len(word_scores) != len(items):
        raise ValueError(f"{len(items)} texts but {len(word_scores)} attributions")
    records: list[FaithfulnessItem] = []
    ties = 0
    agree = 0
    drops_all = table.drops
    for i, (item, ws) in enumerate(zip(items, word_scores)):
        s0, s1 = score_clauses(ws, item)
        if s0 == s1:
            ties += 1
        deleted = 0 if s0 >= s1 else 1
        d = (float(drops_all[i, 0]), float(drops_all[i, 1]))
        if d[deleted] >= d[1 - deleted]:
            agree += 1
        records.append(
            FaithfulnessItem(
                index=item.index,
                pred=int(table.preds[i]),
                prob=float(table.probs[i]),
                clause_scores=(s0, s1),
                deleted=deleted,
                prob_after=float(table.probs_after[i, deleted]),
                drops=d,
            )
        )
    n = len(records)
    if n == 0:
        log.warning("faithfulness: no texts selected; scores are NaN")
        nan = float("nan")
        return FaithfulnessResult(method=method, n=0, score=nan, random=nan, oracle=nan, agreement=nan, ties=0)
    return FaithfulnessResult(
        method=method,
        n=n,
        score=float(np.mean([r.drop for r in records])),
        random=float(drops_all.mean()),
        oracle=float(drops_all.max(axis=1).mean()),
        agreement=agree / n,
        ties=ties,
        second_share=sum(r.deleted == 1 for r in records) / n,
        items=records,
    )


def _batched(proba: ProbaFn, batch: list[list[str]], batch_size: int) -> np.ndarray:
    parts = [np.asarray(proba(batch[i : i + batch_size]), dtype=float) for i in range(0, len(batch), batch_size)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 0))
