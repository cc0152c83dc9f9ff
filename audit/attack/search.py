"""Greedy search guided by REAT word importance, with exact query counting.

Each round calls the guide on the current text (default: one REAT view, a forward
and backward pass counted as one *rank query*), which ranks the positions by their
REAT score toward the class under attack and estimates every candidate swap.  The
search walks the ranking in groups of ``window`` positions; a group's candidates are
sent to the model best-estimated first (each candidate text is one *model query*),
a few at most, and the first that lowers the class's probability enough is taken.
Then the text is re-ranked.  The search stops on success, when no position is left
(cap on words changed included) or no swap improves, or when the next query would
exceed the budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from audit.attack import _nlp
from audit.attack.constraints import Constraint, SwapContext, apply_filters
from audit.attack.edit import apply_swap, article_fix
from audit.attack.estimate import Guidance, Guide, Pairs, ReatGuide
from audit.attack.goal import UntargetedClassification, argmax
from audit.attack.transformation import Transformation
from audit.models.base import AuditModel

logger = logging.getLogger(__name__)

Tagger = Callable[[Sequence[str]], list[str]]


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
        self.estimated = 0
        """Candidate swaps only estimated (never sent to the model): not queries, reported apart."""

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

    def guide(self, guide: Guide, tokens: Sequence[str], target: int) -> Guidance:
        """One call of the guide on the current text: ``guide.passes`` rank queries."""
        if guide.passes > self.remaining:
            raise RuntimeError("query budget exceeded")
        self.rank_queries += guide.passes
        guidance = guide(self.model, tokens, target)
        estimate = guidance.estimate
        if estimate is None:
            return guidance

        def counted(pairs: Pairs) -> np.ndarray:
            self.estimated += len(pairs)
            return estimate(pairs)

        return Guidance(scores=guidance.scores, estimate=counted)


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
    """Greedy search over REAT-ranked positions, candidates ordered by the guide's estimate.

    Each round calls the guide once on the current text (default :class:`ReatGuide`: REAT
    scores and swap estimates from one pass), walks the positions in REAT order in groups
    of ``window``, and sends the group's candidates to the model best-estimated first.

    Options (keyword-only):

    * ``guide``: importance and (optional) estimates; see :mod:`audit.attack.estimate`;
    * ``window``: pool the candidates of this many consecutive REAT-ranked positions
      (None: all positions of the round) and order the pool by the estimate (WordNet
      order without an estimator);
    * ``group_sends``: send at most this many candidates of a group (None: all); with a
      good estimator the best candidates come first, so a few are enough;
    * ``max_estimate``: do not send candidates whose estimated change of ``log p(class)``
      is above this (e.g. 0: only candidates estimated to hurt the class); None sends all;
    * ``min_gain``: a swap is accepted at once only if it lowers the original class's
      probability by at least this much; a weaker (but improving) swap is remembered
      and the walk goes on.  The best remembered swap is taken when ``patience`` weak
      groups have been tried in the round or the ranking is exhausted (no extra query);
    * ``batch_size``: send a group's candidates in chunks of this size (None: all at
      once), stopping at the first chunk with a success or a ``min_gain`` swap.  Every
      candidate text sent is one query; candidates not sent are not counted;
    * ``retry_positions``: False marks a single-position group none of whose candidates
      improved as dead for the rest of the search;
    * ``max_weak``: at most this many swaps below ``min_gain`` per text (None: no limit);
      once used up, a round without a ``min_gain`` swap ends the search (``exhausted``).
    """

    name = "greedy_reat"

    def __init__(
        self,
        *,
        guide: Guide | None = None,
        tagger: Tagger | None = None,
        window: int | None = 1,
        max_estimate: float | None = None,
        group_sends: int | None = None,
        min_gain: float = 0.0,
        batch_size: int | None = None,
        patience: int | None = None,
        retry_positions: bool = True,
        max_weak: int | None = None,
    ) -> None:
        if window is not None and window < 1:
            raise ValueError("window must be >= 1 (or None)")
        if min_gain < 0:
            raise ValueError("min_gain must be >= 0")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be >= 1 (or None)")
        if patience is not None and patience < 1:
            raise ValueError("patience must be >= 1 (or None)")
        if group_sends is not None and group_sends < 1:
            raise ValueError("group_sends must be >= 1 (or None)")
        self.guide: Guide = guide if guide is not None else ReatGuide()
        self._tagger = tagger
        self.window = window
        self.max_estimate = max_estimate
        self.group_sends = group_sends
        self.min_gain = min_gain
        self.batch_size = batch_size
        self.patience = patience
        self.retry_positions = retry_positions
        self.max_weak = max_weak

    def _tag(self, tokens: Sequence[str]) -> list[str]:
        return self._tagger(tokens) if self._tagger is not None else _nlp.tag(tokens)

    def _groups(
        self,
        order: Sequence[int],
        ctx_for: Callable[[int], SwapContext],
        candidates: dict[int, list[str]],
        constraints: Sequence[Constraint],
        guidance: Guidance,
    ) -> Iterator[tuple[list[int], list[tuple[int, str]]]]:
        """``(positions, candidates to send)`` per group of ``window`` REAT-ranked positions
        that have acceptable candidates; candidates best-estimated first.

        ``candidates``: each position's candidates after the cheap constraints (computed
        before the round's guide call, see :meth:`run`); lazy ones (a POS re-tag) run only
        while picking the ``group_sends`` candidates to send, in that order: the same picks
        as filtering everything first."""
        pool: list[tuple[int, str]] = []
        positions: list[int] = []
        for i in order:
            cands = candidates.get(i, [])
            if not cands:
                continue
            pool += [(i, c) for c in cands]
            positions.append(i)
            if self.window is not None and len(positions) >= self.window:
                yield from self._pick(positions, pool, guidance, ctx_for, constraints)
                pool, positions = [], []
        if pool:
            yield from self._pick(positions, pool, guidance, ctx_for, constraints)

    def _pick(
        self,
        positions: list[int],
        pool: list[tuple[int, str]],
        guidance: Guidance,
        ctx_for: Callable[[int], SwapContext],
        constraints: Sequence[Constraint],
    ) -> Iterator[tuple[list[int], list[tuple[int, str]]]]:
        if guidance.estimate is not None:
            est = guidance.estimate(pool)
            ranked = sorted(range(len(pool)), key=lambda k: float(est[k]))  # stable: REAT, then WordNet order on ties
            if self.max_estimate is not None:
                ranked = [k for k in ranked if est[k] <= self.max_estimate]
            pool = [pool[k] for k in ranked]
        picked: list[tuple[int, str]] = []
        for i, c in pool:
            if self.group_sends is not None and len(picked) >= self.group_sends:
                break
            if apply_filters(ctx_for(i), [c], constraints, lazy=True):
                picked.append((i, c))
        kept = sorted({i for i, _ in picked})
        if picked:
            yield kept, picked
        elif positions:
            yield positions, []  # nothing acceptable to send: still a tried (and possibly dead) group

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
        weak_taken = 0

        def outcome(reason: str) -> SearchOutcome:
            return SearchOutcome(current, swaps, cur_probs, argmax(cur_probs), reason, rounds, tried)

        while True:
            if goal.is_success(pred, cur_probs):
                return outcome("succeeded")
            tags = tuple(self._tag(current))

            def ctx_for(i: int, tags: tuple[str, ...] = tags, now: tuple[str, ...] = tuple(current)) -> SwapContext:
                return SwapContext(
                    tokens=now, tags=tags, position=i, original=original,
                    modified=frozenset(modified), raw_tokens=raw,
                )

            positions = [
                i for i in range(len(current))
                if i not in dead and all(c.allows_position(ctx_for(i)) for c in constraints)
            ]
            # cheap constraints first: a round with no acceptable candidate anywhere spends no rank query
            candidates = {
                i: apply_filters(ctx_for(i), transformation.candidates(current, tags, i), constraints, lazy=False)
                for i in positions
            }
            positions = [i for i in positions if candidates[i]]
            if not positions:
                return outcome("exhausted")
            if counter.remaining < self.guide.passes:
                return outcome("budget")
            guidance = counter.guide(self.guide, current, pred)
            rounds += 1
            scores = guidance.scores
            order = sorted(positions, key=lambda i: (-float(scores[i]), i))
            base = goal.score(pred, cur_probs)
            chosen: tuple[float, int, str, list[float]] | None = None  # (gain, position, word, probs)
            fallback: tuple[float, int, str, list[float]] | None = None
            weak = 0
            out_of_budget = False
            for group, unit in self._groups(order, ctx_for, candidates, constraints, guidance):
                if counter.remaining < 1:
                    out_of_budget = True
                    break
                tried.extend(group)
                best: tuple[float, int, str, list[float]] | None = None
                step = self.batch_size or max(1, len(unit))
                for start in range(0, len(unit), step):
                    chunk = unit[start : start + step]
                    chunk = chunk[: int(min(len(chunk), counter.remaining))]
                    if not chunk:
                        out_of_budget = True
                        break
                    batch_probs = counter.predict([apply_swap(current, i, c) for i, c in chunk])
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
                elif not self.retry_positions and len(group) == 1:
                    dead.add(group[0])
                if out_of_budget:
                    break
            if chosen is None and (self.max_weak is None or weak_taken < self.max_weak):
                chosen = fallback
                weak_taken += fallback is not None
            if chosen is None:
                return outcome("budget" if out_of_budget or counter.remaining < 1 else "exhausted")
            _, i, word, p = chosen
            fix = article_fix(current, i, word)
            if fix is not None:  # "a" -> "an" (or back) before the new word, recorded as its own swap
                swaps.append(Swap(position=fix[0], original=current[fix[0]], replacement=fix[1], pos="DT"))
            swaps.append(Swap(position=i, original=current[i], replacement=word, pos=tags[i]))
            current = apply_swap(current, i, word)
            cur_probs = list(p)
            modified.add(i)
            logger.debug("swap %d: %s -> %s (p_orig %.4f)", i, swaps[-1].original, word, cur_probs[pred])
