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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from audit.attack import _nlp
from audit.attack.constraints import Constraint, SwapContext, apply_filters
from audit.attack.goal import UntargetedClassification, argmax
from audit.attack.transformation import Transformation
from audit.models.base import AuditModel, eval_mode

logger = logging.getLogger(__name__)

Ranker = Callable[[AuditModel, Sequence[str], int], np.ndarray]
"""``(model, tokens, target class) -> importance (T,)``; higher = more support for ``target``."""
Tagger = Callable[[Sequence[str]], list[str]]


def reat_ranker(model: AuditModel, tokens: Sequence[str], target: int) -> np.ndarray:
    """REAT word scores toward ``target`` (one forward pass)."""
    from audit.attribution import reat_scores

    enc = model.encode_tokens([list(tokens)])
    with eval_mode(model.module), torch.no_grad():
        scores = reat_scores(model.rnn, model.head, model.embedding(enc.ids), enc.lengths)
    return scores[0, : len(tokens), target].detach().cpu().numpy()


Estimator = Callable[[AuditModel, Sequence[str], int], Callable[[int, str], float]]
"""``(model, tokens, original class) -> estimate(position, candidate)``; lower = hurts the class more."""


def gradient_estimator(model: AuditModel, tokens: Sequence[str], target: int) -> Callable[[int, str], float]:
    """First-order estimate of the change in ``log p(target)`` when a word is swapped.

    One forward and one backward pass (counted as one rank query by :class:`QueryCounter`):
    ``g_i . (e(candidate) - e(token_i))`` with ``g`` the gradient of ``log p(target)``
    with respect to the input embeddings.  Only orders candidates; every candidate the
    search then evaluates is still a model query.
    """
    from audit.models.base import final_state

    enc = model.encode_tokens([list(tokens)])
    with eval_mode(model.module), torch.enable_grad():
        emb = model.embedding(enc.ids).detach().requires_grad_(True)
        logits = model.head(final_state(model.rnn, emb, enc.lengths))
        (grad,) = torch.autograd.grad(torch.log_softmax(logits, dim=-1)[0, target], emb)
    g = grad[0].detach()
    base = emb[0].detach()
    table = model.embedding.weight.detach()

    def estimate(position: int, word: str) -> float:
        idx = model.vocab.encode([word])[0]
        return float(torch.dot(g[position], table[idx] - base[position]))

    return estimate


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

    def estimator(self, estimator: Estimator, tokens: Sequence[str], target: int) -> Callable[[int, str], float]:
        """One estimating pass (e.g. a gradient): counted like a ranking pass."""
        if self.remaining < 1:
            raise RuntimeError("query budget exceeded")
        self.rank_queries += 1
        return estimator(self.model, tokens, target)


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
    """Greedy word-importance search; ``ranker`` defaults to REAT.

    Options (keyword-only):

    * ``retry_positions``: False marks a position none of whose candidates
      improved as dead for the rest of the search;
    * ``min_gain``: a swap is accepted at once only if it lowers the original
      class's probability by at least this much; a weaker (but improving)
      swap is remembered and the walk moves on to the next REAT-ranked
      position, so a small gain does not use up the words-changed budget.  The
      best remembered swap is taken when ``patience`` weak positions have been
      tried in the round or the ranking is exhausted (no extra query: it was
      already evaluated);
    * ``batch_size``: evaluate a position's candidates in chunks of this size
      (None: all at once).  The search stops as soon as a chunk contains a
      success, and, with ``min_gain``, stops the position as soon as a chunk
      reaches ``min_gain`` (its best is accepted).  Every candidate text sent
      to the model is one query; candidates not sent are not counted;
    * ``rerank``: re-rank with REAT (one rank query) after each accepted swap;
      False keeps the first ranking for the whole search;
    * ``estimator``: orders each position's candidates by a cheap estimate
      (e.g. :func:`gradient_estimator`; one extra rank query per round) before
      they are evaluated in chunks; None keeps WordNet order (most frequent
      sense first);
    * ``window``: pool the candidates of this many consecutive REAT-ranked
      positions into one group, ordered by the estimate (1: one position at a
      time).  ``min_gain``, ``patience`` and chunks then apply per group;
    * ``max_weak``: at most this many swaps below ``min_gain`` per text (None:
      no limit); once used up, a round without a ``min_gain`` swap ends the
      search (``exhausted``), which bounds the queries spent on hopeless texts.
    """

    name = "greedy_reat"

    def __init__(
        self,
        *,
        ranker: Ranker | None = None,
        tagger: Tagger | None = None,
        retry_positions: bool = True,
        min_gain: float = 0.0,
        batch_size: int | None = None,
        patience: int | None = None,
        rerank: bool = True,
        estimator: Estimator | None = None,
        window: int = 1,
        max_weak: int | None = None,
    ) -> None:
        self.max_weak = max_weak
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        if min_gain < 0:
            raise ValueError("min_gain must be >= 0")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1 (or None)")
        if patience is not None and patience < 1:
            raise ValueError("patience must be >= 1 (or None)")
        self.ranker: Ranker = ranker if ranker is not None else reat_ranker
        self._tagger = tagger
        self.retry_positions = retry_positions
        """False: a position none of whose candidates improved is not tried again after later swaps."""
        self.min_gain = min_gain
        self.batch_size = batch_size
        self.patience = patience
        self.rerank = rerank
        self.estimator = estimator

    def _tag(self, tokens: Sequence[str]) -> list[str]:
        return self._tagger(tokens) if self._tagger is not None else _nlp.tag(tokens)

    def _units(
        self,
        order: Sequence[int],
        ctx_for: Callable[[int], SwapContext],
        tags: tuple[str, ...],
        transformation: Transformation,
        constraints: Sequence[Constraint],
        estimate: Callable[[int, str], float] | None,
    ) -> Iterator[list[tuple[int, str]]]:
        """Groups of ``(position, candidate)`` to evaluate, in REAT order: one position each,
        or the candidates of ``window`` positions pooled and sorted by the estimate."""
        pool: list[tuple[int, str]] = []
        used = 0
        for i in order:
            ctx = ctx_for(i)
            cands = apply_filters(ctx, transformation.candidates(ctx.tokens, tags, i), constraints)
            if not cands:
                continue
            pool += [(i, c) for c in cands]
            used += 1
            if used >= self.window:
                yield self._sorted(pool, estimate)
                pool, used = [], 0
        if pool:
            yield self._sorted(pool, estimate)

    @staticmethod
    def _sorted(pool: list[tuple[int, str]], estimate: Callable[[int, str], float] | None) -> list[tuple[int, str]]:
        if estimate is None:
            return pool
        return sorted(pool, key=lambda ic: estimate(ic[0], ic[1]))  # stable: REAT, then WordNet order on ties

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
        scores: np.ndarray | None = None
        weak_taken = 0

        def outcome(reason: str) -> SearchOutcome:
            return SearchOutcome(current, swaps, cur_probs, argmax(cur_probs), reason, rounds, tried)

        while True:
            if goal.is_success(pred, cur_probs):
                return outcome("succeeded")
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
                return outcome("exhausted")
            if scores is None or self.rerank:
                if counter.remaining < 1:
                    return outcome("budget")
                scores = counter.rank(self.ranker, current, argmax(cur_probs))
            estimate = None
            if self.estimator is not None:
                if counter.remaining < 1:
                    return outcome("budget")
                estimate = counter.estimator(self.estimator, current, pred)
            rounds += 1
            order = sorted(positions, key=lambda i: (-float(scores[i]), i))
            base = goal.score(pred, cur_probs)
            chosen: tuple[float, int, str, list[float]] | None = None  # (gain, position, word, probs)
            fallback: tuple[float, int, str, list[float]] | None = None
            weak = 0
            out_of_budget = False
            for unit in self._units(order, ctx_for, tags, transformation, constraints, estimate):
                if counter.remaining < 1:
                    out_of_budget = True
                    break
                positions_in_unit = sorted({i for i, _ in unit})
                tried.extend(positions_in_unit)
                best: tuple[float, int, str, list[float]] | None = None
                step = self.batch_size or len(unit)
                for start in range(0, len(unit), step):
                    chunk = unit[start : start + step]
                    chunk = chunk[: int(min(len(chunk), counter.remaining))]
                    if not chunk:
                        out_of_budget = True
                        break
                    batch_probs = counter.predict([current[:i] + [c] + current[i + 1 :] for i, c in chunk])
                    for (i, c), p in zip(chunk, batch_probs):
                        gain = goal.score(pred, p) - base
                        if goal.is_success(pred, p):
                            gain += 1.0  # a success beats any non-success
                        if best is None or gain > best[0]:
                            best = (gain, i, c, p)
                    if best is not None and (best[0] >= 1.0 or (self.min_gain > 0 and best[0] >= self.min_gain)):
                        break  # early exit: success, or good enough under the minimum-gain rule
                if best is not None and best[0] > 0 and best[0] >= self.min_gain:
                    chosen = best
                    break
                if best is not None and best[0] > 0:
                    if fallback is None or best[0] > fallback[0]:
                        fallback = best
                    weak += 1
                    if self.patience is not None and weak >= self.patience:
                        break
                elif not self.retry_positions and len(positions_in_unit) == 1:
                    dead.add(positions_in_unit[0])
                if out_of_budget:
                    break
            if chosen is None and (self.max_weak is None or weak_taken < self.max_weak):
                chosen = fallback
                weak_taken += fallback is not None
            if chosen is None:
                return outcome("budget" if out_of_budget or counter.remaining < 1 else "exhausted")
            _, i, word, p = chosen
            swaps.append(Swap(position=i, original=current[i], replacement=word, pos=tags[i]))
            current = current[:i] + [word] + current[i + 1 :]
            cur_probs = list(p)
            modified.add(i)
            logger.debug("swap %d: %s -> %s (p_orig %.4f)", i, swaps[-1].original, word, cur_probs[pred])


