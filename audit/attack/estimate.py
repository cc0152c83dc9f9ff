"""What guides the search: word importance and cheap estimates of what a swap does.

A :class:`Guide` is called once per search round on the current text and returns
:class:`Guidance`: an importance score per position (higher = more support for the
class under attack) and, optionally, an estimator of the change of ``log p(class)``
for candidate swaps.  Each call costs ``guide.passes`` *rank queries* (passes over
the current text); candidates it only estimates are not model queries, every text
the search sends to the model is.

:class:`ReatGuide` (the default) gets both from **one** forward and backward pass
over the text (:class:`ReatView`; per-step states from :func:`audit.attribution.trace`):

* importance: the exact REAT word scores of the top layer from the one REAT,
  :func:`audit.attribution.reat_scores` (Eq. 13/20/22; they add up to the logit minus
  the bias), on the same embeddings (one fused forward, no gradient);
* estimate: for a candidate ``w`` at position ``t``, the first layer's cell is
  recomputed exactly at ``t`` from the cached state before it (each direction), and
  the change of that state is carried to the output by the gradient of
  ``log p(class)`` with respect to the state::

      d log p ~ g_h[t] . (h_t(w) - h_t)  (+ g_c[t] . (c_t(w) - c_t) for an LSTM)

  It is exact in the swapped cell and first order after it.  On the SST-2 models its
  rank correlation with the true change is about 0.99 (embedding-gradient: 0.86-0.92;
  measured by ``benchmarks/attack_quality.py --estimators`` as of commit 57a6ffa).  Cost per candidate: one cell step
  per direction, about ``1/T`` of a forward pass.

:class:`RankerGuide` wraps any ``Ranker`` (e.g. a test's fixed order) and, optionally,
the older embedding-space :func:`gradient_estimator` (one more pass per round).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from audit.attribution import cell_step, reat_scores, trace
from audit.models.base import AuditModel, eval_mode, final_state

Pairs = Sequence[tuple[int, str]]
"""``(position, candidate word)`` swaps of the current text."""
EstimateFn = Callable[[Pairs], np.ndarray]
"""Estimated change of ``log p(class)`` for each pair (lower = hurts the class more)."""
Ranker = Callable[[AuditModel, Sequence[str], int], np.ndarray]
"""``(model, tokens, target class) -> importance (T,)``; higher = more support for ``target``."""
Estimator = Callable[[AuditModel, Sequence[str], int], EstimateFn]
"""``(model, tokens, class) -> estimate``: one pass over the text."""


@dataclass(frozen=True)
class Guidance:
    scores: np.ndarray
    """``(T,)`` importance of each position toward the class under attack."""
    estimate: EstimateFn | None = None


class Guide(Protocol):
    passes: int
    """Rank queries one call costs."""

    def __call__(self, model: AuditModel, tokens: Sequence[str], target: int) -> Guidance: ...


class ReatView:
    """One forward and one backward pass over a text (see the module docstring).

    ``target`` is the class whose log-probability the estimates track.  The forward is
    :func:`audit.attribution.trace`'s per-step loop over this one text; the model's own
    fused forward stays the reference for predictions (the two agree to rounding, tested)
    and gives the REAT scores (:func:`audit.attribution.reat_scores`, no second copy).
    """

    def __init__(self, model: AuditModel, tokens: Sequence[str], target: int) -> None:
        self.model = model
        self.tokens = list(tokens)
        self.target = target
        rnn = model.rnn
        ids = torch.tensor(model.vocab.encode(self.tokens), dtype=torch.long)
        with eval_mode(model.module), torch.enable_grad():
            x = model.embedding(ids).detach().requires_grad_(True)
            steps = trace(rnn, x)
            logits = model.head(steps.final)[0]
            log_p = torch.log_softmax(logits, dim=-1)[target]
            first = steps.layers[0]
            wrt = [s for d in first for s in d.h + (d.c or [])]
            raw = torch.autograd.grad(log_p, wrt, allow_unused=True)  # the last cell state feeds nothing
            grads = [g if g is not None else torch.zeros_like(w) for g, w in zip(raw, wrt)]
        self.kind = steps.kind
        self.logits = logits.detach()
        self.log_prob = float(log_p.detach())
        self._first = first
        per = len(self.tokens) * (2 if self.kind == "lstm" else 1)
        self._grads = [torch.cat(grads[k * per : (k + 1) * per]) for k in range(len(first))]
        with eval_mode(model.module), torch.no_grad():  # the one REAT: the batched engine, same input
            self._scores = reat_scores(rnn, model.head, x.detach().unsqueeze(0), torch.tensor([len(self.tokens)]))[0]

    def scores(self, target: int) -> np.ndarray:
        """Exact REAT scores toward ``target``, ``(T,)``: they sum to ``logit[target] - bias[target]``."""
        return self._scores[:, target].numpy().astype(float)

    def estimate(self, pairs: Pairs) -> np.ndarray:
        """Estimated change of ``log p(target)`` for each swap (see the module docstring)."""
        if not pairs:
            return np.zeros(0)
        pos = torch.tensor([i for i, _ in pairs], dtype=torch.long)
        ids = torch.tensor(self.model.vocab.encode([w for _, w in pairs]), dtype=torch.long)
        T = len(self.tokens)
        total = torch.zeros(len(pairs))
        with eval_mode(self.model.module), torch.no_grad():
            x = self.model.embedding(ids)
            for d, g in zip(self._first, self._grads):
                prev_c = d.prev_c[pos] if d.prev_c is not None else None
                h, c, _, _ = cell_step(self.kind, d.weights, x, d.prev_h[pos], prev_c)
                total += ((h - d.h_all[pos]) * g[:T][pos]).sum(-1)
                if c is not None and d.c_all is not None:
                    total += ((c - d.c_all[pos]) * g[T:][pos]).sum(-1)
        return total.numpy().astype(float)


class ReatGuide:
    """REAT importance plus state-gradient swap estimates from one pass (:class:`ReatView`)."""

    passes = 1
    name = "reat"

    def __call__(self, model: AuditModel, tokens: Sequence[str], target: int) -> Guidance:
        view = ReatView(model, tokens, target)
        return Guidance(scores=view.scores(target), estimate=view.estimate)


def reat_estimator(model: AuditModel, tokens: Sequence[str], target: int) -> EstimateFn:
    """:class:`ReatView`'s swap estimate alone (one pass), for use with another ranker."""
    return ReatView(model, tokens, target).estimate


def reat_ranker(model: AuditModel, tokens: Sequence[str], target: int) -> np.ndarray:
    """REAT word scores toward ``target`` from the batched engine (one forward pass)."""
    enc = model.encode_tokens([list(tokens)])
    with eval_mode(model.module), torch.no_grad():
        scores = reat_scores(model.rnn, model.head, model.embedding(enc.ids), enc.lengths)
    return scores[0, : len(tokens), target].detach().cpu().numpy()


def gradient_estimator(model: AuditModel, tokens: Sequence[str], target: int) -> EstimateFn:
    """Embedding-space first-order estimate: ``g_t . (e(w) - e(token_t))``.

    ``g`` is the gradient of ``log p(target)`` with respect to the input embeddings (one
    forward and backward pass).  Less accurate than :class:`ReatView`'s estimate, which
    recomputes the swapped cell exactly.
    """
    enc = model.encode_tokens([list(tokens)])
    with eval_mode(model.module), torch.enable_grad():
        emb = model.embedding(enc.ids).detach().requires_grad_(True)
        logits = model.head(final_state(model.rnn, emb, enc.lengths))
        (grad,) = torch.autograd.grad(torch.log_softmax(logits, dim=-1)[0, target], emb)
    g = grad[0].detach()
    base = emb[0].detach()
    table = model.embedding.weight.detach()

    def estimate(pairs: Pairs) -> np.ndarray:
        if not pairs:
            return np.zeros(0)
        pos = torch.tensor([i for i, _ in pairs], dtype=torch.long)
        ids = torch.tensor(model.vocab.encode([w for _, w in pairs]), dtype=torch.long)
        return ((table[ids] - base[pos]) * g[pos]).sum(-1).numpy().astype(float)

    return estimate


class RankerGuide:
    """Any ranker (one pass), plus an optional estimator (one more pass)."""

    def __init__(self, ranker: Ranker | None = None, estimator: Estimator | None = None) -> None:
        self.ranker: Ranker = ranker if ranker is not None else reat_ranker
        self.estimator = estimator
        self.passes = 1 + (estimator is not None)
        self.name = getattr(self.ranker, "__name__", "ranker")

    def __call__(self, model: AuditModel, tokens: Sequence[str], target: int) -> Guidance:
        scores = np.asarray(self.ranker(model, tokens, target), dtype=float)
        estimate = self.estimator(model, tokens, target) if self.estimator is not None else None
        return Guidance(scores=scores, estimate=estimate)
