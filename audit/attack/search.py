"""Greedy search guided by REAT word importance, with exact query counting.

Each round ranks the positions of the current text by their REAT score toward
the currently predicted class (one forward pass: one *rank query*), then walks
the ranking: at the first position that has acceptable candidates it
evaluates all of them in one batch (each candidate text is one *model query*)
and keeps the one that lowers the original class's probability most.  If no
candidate lowers it, the next position is tried; otherwise the text is updated
and re-ranked.  The search stops on success, when no position is left (cap on
words changed included), or when the next query would exceed the budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from audit.attack import _nlp
from audit.attack.constraints import Constraint, SwapContext, apply_filters
from audit.attack.goal import UntargetedClassification
from audit.attack.transformation import Transformation
from audit.models.base import AuditModel

logger = logging.getLogger(__name__)

Ranker = Callable[[AuditModel, Sequence[str], int], np.ndarray]
"""``(model, tokens, target class) -> importance (T,)``; higher = more support for ``target``."""
Tagger = Callable[[Sequence[str]], list[str]]


def reat_ranker(model: AuditModel, tokens: Sequence[str], target: int) -> np.ndarray:
    """REAT word scores toward ``target`` (one forward pass)."""
    from audit.attribution import reat_scores

    enc = model.encode_tokens([list(tokens)])
    model.module.eval()
    with torch.no_grad():
        scores = reat_scores(model.rnn, model.head, model.embedding(enc.ids), enc.lengths)
    return scores[0, : len(tokens), target].detach().cpu().numpy()


@dataclass(frozen=True)
class Swap:
    """One word replacement."""

    position: int
    original: str
    replacement: str
    pos: str
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The ``variants.swaps`` contract: position, original, replacement, pos."""
        return {"position": self.position, "original": self.original, "replacement": self.replacement, "pos": self.pos}


class QueryCounter:
    """Wraps a model; counts every text evaluated and refuses to exceed the budget."""

    def __init__(self, model: AuditModel, *, budget: int | None) -> None:
        self.model = model
        self.budget = budget
        self.model_queries = 0
        self.rank_queries = 0

    @property
    def used(self) -> int:
        return self.model_queries + self.rank_queries

    @property
    def remaining(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.used

    def predict(self, batch: Sequence[Sequence[str]]) -> list[list[float]]:
        if len(batch) > self.remaining:
            raise RuntimeError("query budget exceeded")  # callers truncate first; this is a programming error
        self.model_queries += len(batch)
        if not batch:
            return []
        return self.model.predict_proba_tokens([list(t) for t in batch]).tolist()

    def rank(self, ranker: Ranker, tokens: Sequence[str], target: int) -> np.ndarray:
        if self.remaining < 1:
            raise RuntimeError("query budget exceeded")
        self.rank_queries += 1
        return np.asarray(ranker(self.model, tokens, target), dtype=float)


@dataclass
class SearchOutcome:
    tokens: list[str]
    swaps: list[Swap]
    probs: list[float]
    pred: int
    stop_reason: str
    """``succeeded``, ``budget``, ``exhausted`` (no acceptable improving swap left)."""
    rounds: int = 0
    tried_positions: list[int] = field(default_factory=list)


class GreedyReatSearch:
    """Greedy word-importance search; ``ranker`` defaults to REAT."""

    name = "greedy_reat"

    def __init__(self, *, ranker: Ranker | None = None, tagger: Tagger | None = None, retry_positions: bool = True) -> None:
        self.ranker: Ranker = ranker if ranker is not None else reat_ranker
        self._tagger = tagger
        self.retry_positions = retry_positions
        """False: a position none of whose candidates improved is not tried again after later swaps."""

    def _tag(self, tokens: Sequence[str]) -> list[str]:
        return self._tagger(tokens) if self._tagger is not None else _nlp.tag(tokens)

    def run(
        self,
        counter: QueryCounter,
        tokens: Sequence[str],
        *,
        pred: int,
        probs: Sequence[float],
        goal: UntargetedClassification,
        transformation: Transformation,
        constraints: Sequence[Constraint],
        raw_tokens: Sequence[str] | None = None,
    ) -> SearchOutcome:
        original = tuple(tokens)
        current = list(tokens)
        cur_probs = list(probs)
        swaps: list[Swap] = []
        modified: set[int] = set()
        dead: set[int] = set()
        tried: list[int] = []
        rounds = 0
        raw = tuple(raw_tokens) if raw_tokens is not None else None
        while True:
            if goal.is_success(pred, cur_probs):
                return SearchOutcome(current, swaps, cur_probs, _argmax(cur_probs), "succeeded", rounds, tried)
            tags = tuple(self._tag(current))

            def ctx_for(i: int, tags: tuple[str, ...] = tags) -> SwapContext:
                return SwapContext(
                    tokens=tuple(current), tags=tags, position=i, original=original,
                    modified=frozenset(modified), raw_tokens=raw,
                )

            positions = [
                i for i in range(len(current))
                if i not in dead and all(c.allows_position(ctx_for(i)) for c in constraints)
            ]
            if not positions:
                return SearchOutcome(current, swaps, cur_probs, _argmax(cur_probs), "exhausted", rounds, tried)
            if counter.remaining < 1:
                return SearchOutcome(current, swaps, cur_probs, _argmax(cur_probs), "budget", rounds, tried)
            rounds += 1
            scores = counter.rank(self.ranker, current, _argmax(cur_probs))
            order = sorted(positions, key=lambda i: (-float(scores[i]), i))
            applied = False
            for i in order:
                ctx = ctx_for(i)
                cands = apply_filters(ctx, transformation.candidates(ctx.tokens, tags, i), constraints)
                if not cands:
                    continue
                if counter.remaining < 1:
                    return SearchOutcome(current, swaps, cur_probs, _argmax(cur_probs), "budget", rounds, tried)
                cands = cands[: int(min(len(cands), counter.remaining))]
                variants = [current[:i] + [c] + current[i + 1 :] for c in cands]
                tried.append(i)
                batch_probs = counter.predict(variants)
                best = max(range(len(cands)), key=lambda k: (goal.score(pred, batch_probs[k]), -k))
                if goal.score(pred, batch_probs[best]) <= goal.score(pred, cur_probs):
                    if not self.retry_positions:
                        dead.add(i)
                    continue
                swaps.append(Swap(position=i, original=current[i], replacement=cands[best], pos=tags[i]))
                current = variants[best]
                cur_probs = batch_probs[best]
                modified.add(i)
                applied = True
                logger.debug("swap %d: %s -> %s (p_orig %.4f)", i, swaps[-1].original, swaps[-1].replacement, cur_probs[pred])
                break
            if not applied:
                reason = "budget" if counter.remaining < 1 else "exhausted"
                return SearchOutcome(current, swaps, cur_probs, _argmax(cur_probs), reason, rounds, tried)


def _argmax(values: Sequence[float]) -> int:
    return int(max(range(len(values)), key=lambda i: (values[i], -i)))
