"""What guides the search: word importance and cheap estimates of what a swap does.

A :class:`Guide` is called once per search round on the current text and returns
:class:`Guidance`: an importance score per position (higher = more support for the
class under attack) and, optionally, an estimator of the change of ``log p(class)``
for candidate swaps.  Each call costs ``guide.passes`` *rank queries* (passes over
the current text); candidates it only estimates are not model queries, every text
the search sends to the model is.

:class:`ReatGuide` (the default) gets both from **one** forward and backward pass
over the text (:class:`ReatView`):

* importance: the exact REAT word scores of the top layer (Eq. 13/20/22; they add up
  to the logit minus the bias);
* estimate: for a candidate ``w`` at position ``t``, the first layer's cell is
  recomputed exactly at ``t`` from the cached state before it (each direction), and
  the change of that state is carried to the output by the gradient of
  ``log p(class)`` with respect to the state::

      d log p ~ g_h[t] . (h_t(w) - h_t)  (+ g_c[t] . (c_t(w) - c_t) for an LSTM)

  It is exact in the swapped cell and first order after it.  On the SST-2 models its
  rank correlation with the true change is about 0.99 (embedding-gradient: 0.86-0.92;
  see ``benchmarks/attack_quality.py --estimators``).  Cost per candidate: one cell step
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
from torch import nn

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


Weights = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]


def _weights(rnn: nn.GRU | nn.LSTM, layer: int, backward: bool) -> Weights:
    sfx = f"_l{layer}" + ("_reverse" if backward else "")
    w_ih = getattr(rnn, "weight_ih" + sfx).detach()
    w_hh = getattr(rnn, "weight_hh" + sfx).detach()
    b_ih = getattr(rnn, "bias_ih" + sfx).detach() if rnn.bias else None
    b_hh = getattr(rnn, "bias_hh" + sfx).detach() if rnn.bias else None
    return w_ih, w_hh, b_ih, b_hh


def _cell(
    kind: str, weights: Weights, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """One cell step for a batch of rows: ``(h', c', alpha, o)`` in PyTorch's gate order."""
    w_ih, w_hh, b_ih, b_hh = weights
    gi = x @ w_ih.T
    gh = h @ w_hh.T
    if b_ih is not None:
        gi = gi + b_ih
    if b_hh is not None:
        gh = gh + b_hh
    if kind == "gru":
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h, None, z, None
    if c is None:
        raise ValueError("an LSTM cell needs its cell state")
    i, f, g, o = (gi + gh).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new, f, o


@dataclass
class _Sweep:
    """One direction of one layer, rows indexed by position (not by sweep step)."""

    weights: Weights
    backward: bool
    prev_h: torch.Tensor  # (T, H) state the cell reads at position t
    prev_c: torch.Tensor | None
    h: list[torch.Tensor]  # T x (1, H), in the autograd graph
    c: list[torch.Tensor] | None
    h_all: torch.Tensor  # (T, H) the same states, detached
    c_all: torch.Tensor | None
    alpha: torch.Tensor  # (T, H) GRU z / LSTM f
    o: torch.Tensor | None  # (T, H) LSTM output gate

    @property
    def last(self) -> int:
        """Position of the state this direction hands to the head."""
        return 0 if self.backward else len(self.h) - 1

    def forgetting(self) -> torch.Tensor:
        """``(T, H)``: product of ``alpha`` over the positions read after ``t`` (Eq. 13 / 21)."""
        a = self.alpha if self.backward else self.alpha.flip(0)
        prod = torch.cumprod(torch.cat([torch.ones_like(a[:1]), a[:-1]]), dim=0)
        return prod if self.backward else prod.flip(0)


class ReatView:
    """One forward and one backward pass over a text (see the module docstring).

    ``target`` is the class whose log-probability the estimates track.  The forward is
    a per-step loop over this one text; the model's own fused forward stays the
    reference for predictions (the two agree to rounding, tested).
    """

    def __init__(self, model: AuditModel, tokens: Sequence[str], target: int) -> None:
        self.model = model
        self.tokens = list(tokens)
        self.target = target
        rnn = model.rnn
        self.kind = "lstm" if isinstance(rnn, nn.LSTM) else "gru"
        directions = (False, True) if rnn.bidirectional else (False,)
        ids = torch.tensor(model.vocab.encode(self.tokens), dtype=torch.long)
        with eval_mode(model.module), torch.enable_grad():
            x = model.embedding(ids).detach().requires_grad_(True)
            layers: list[list[_Sweep]] = []
            for layer in range(rnn.num_layers):
                layers.append([self._sweep(x, _weights(rnn, layer, back), back) for back in directions])
                x = torch.cat([torch.cat(d.h) for d in layers[-1]], dim=-1)
            top = layers[-1]
            logits = model.head(torch.cat([d.h[d.last] for d in top], dim=-1))[0]
            log_p = torch.log_softmax(logits, dim=-1)[target]
            first = layers[0]
            wrt = [s for d in first for s in d.h + (d.c or [])]
            raw = torch.autograd.grad(log_p, wrt, allow_unused=True)  # the last cell state feeds nothing
            grads = [g if g is not None else torch.zeros_like(w) for g, w in zip(raw, wrt)]
        self.logits = logits.detach()
        self.log_prob = float(log_p.detach())
        self._first = first
        per = len(self.tokens) * (2 if self.kind == "lstm" else 1)
        self._grads = [torch.cat(grads[k * per : (k + 1) * per]) for k in range(len(first))]
        self._scores = self._reat(top)

    def _sweep(self, x: torch.Tensor, weights: Weights, backward: bool) -> _Sweep:
        T = x.shape[0]
        hidden = weights[1].shape[1]
        h = x.new_zeros(1, hidden)
        c = x.new_zeros(1, hidden) if self.kind == "lstm" else None
        prev_h: list[torch.Tensor] = [h] * T
        prev_c: list[torch.Tensor | None] = [c] * T
        hs: list[torch.Tensor] = [h] * T
        cs: list[torch.Tensor | None] = [c] * T
        alpha: list[torch.Tensor] = [h] * T
        out_gate: list[torch.Tensor | None] = [None] * T
        for t in range(T - 1, -1, -1) if backward else range(T):
            prev_h[t], prev_c[t] = h, c
            h, c, alpha[t], out_gate[t] = _cell(self.kind, weights, x[t : t + 1], h, c)
            if c is not None:
                # the cell state carried to the next step is its own graph node, so that its gradient
                # covers only that path (h_t = o_t * tanh(c_t) is credited through h_t's gradient)
                c = c.clone()
            hs[t], cs[t] = h, c
        lstm = self.kind == "lstm"
        return _Sweep(
            weights=weights,
            backward=backward,
            prev_h=torch.cat(prev_h).detach(),
            prev_c=torch.cat([r for r in prev_c if r is not None]).detach() if lstm else None,
            h=hs,
            c=[r for r in cs if r is not None] if lstm else None,
            h_all=torch.cat(hs).detach(),
            c_all=torch.cat([r for r in cs if r is not None]).detach() if lstm else None,
            alpha=torch.cat(alpha).detach(),
            o=torch.cat([r for r in out_gate if r is not None]).detach() if lstm else None,
        )

    def _reat(self, top: list[_Sweep]) -> torch.Tensor:
        """``(T, C)`` REAT word scores of the top layer, both directions."""
        parts = []
        for d in top:
            if d.c_all is None:
                delta = d.h_all - d.alpha * d.prev_h
            else:
                assert d.o is not None and d.prev_c is not None
                delta = d.o[d.last] * (torch.tanh(d.c_all) - d.alpha * torch.tanh(d.prev_c))
            parts.append(delta * d.forgetting())
        return torch.cat(parts, dim=-1) @ self.model.head.weight.detach().T

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
                h, c, _, _ = _cell(self.kind, d.weights, x, d.prev_h[pos], prev_c)
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
    from audit.attribution import reat_scores

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
