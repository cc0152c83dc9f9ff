"""Per-step states of a GRU/LSTM over one text, kept in the autograd graph.

:func:`audit.attribution.reat_scores` is the one REAT: it runs the fused, packed RNN and never
needs the states one step at a time.  Some users do: the attack's swap estimates
(:mod:`audit.attack.estimate`) recompute the first layer's cell at one position from the state
before it, and carry the change to the output with the gradient of ``log p(class)`` with respect
to every per-step state.  :func:`trace` gives them that: a per-step loop over one text, each
state its own graph node, in PyTorch's gate order (the fused forward stays the reference for
predictions; the two agree to rounding, tested in ``tests/test_attack_estimate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CellWeights = tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]
"""``(w_ih, w_hh, b_ih, b_hh)`` of one layer and direction, detached."""


def cell_weights(rnn: nn.GRU | nn.LSTM, layer: int, backward: bool) -> CellWeights:
    """The (detached) weights of one layer and direction, read by their public parameter names."""
    sfx = f"_l{layer}" + ("_reverse" if backward else "")
    w_ih = getattr(rnn, "weight_ih" + sfx).detach()
    w_hh = getattr(rnn, "weight_hh" + sfx).detach()
    b_ih = getattr(rnn, "bias_ih" + sfx).detach() if rnn.bias else None
    b_hh = getattr(rnn, "bias_hh" + sfx).detach() if rnn.bias else None
    return w_ih, w_hh, b_ih, b_hh


def cell_step(
    kind: str, weights: CellWeights, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """One cell step for a batch of rows: ``(h', c', alpha, o)`` (``alpha``: GRU ``z`` / LSTM ``f``)."""
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
class Sweep:
    """One direction of one layer over a text; rows indexed by position (not by sweep step)."""

    weights: CellWeights
    backward: bool
    prev_h: torch.Tensor
    """``(T, H)`` the state the cell reads at position t (detached)."""
    prev_c: torch.Tensor | None
    h: list[torch.Tensor]
    """T x ``(1, H)`` states, each its own node of the autograd graph."""
    c: list[torch.Tensor] | None
    h_all: torch.Tensor
    """``(T, H)`` the same states, detached."""
    c_all: torch.Tensor | None

    @property
    def last(self) -> int:
        """Position of the state this direction hands to the next layer's end / the head."""
        return 0 if self.backward else len(self.h) - 1


def kind_of(rnn: nn.Module) -> str:
    return "lstm" if isinstance(rnn, nn.LSTM) else "gru"


def sweep(kind: str, x: torch.Tensor, weights: CellWeights, *, backward: bool) -> Sweep:
    """Run one direction of one layer over ``x`` ``(T, D)`` step by step."""
    T = x.shape[0]
    hidden = weights[1].shape[1]
    h = x.new_zeros(1, hidden)
    c = x.new_zeros(1, hidden) if kind == "lstm" else None
    prev_h: list[torch.Tensor] = [h] * T
    prev_c: list[torch.Tensor | None] = [c] * T
    hs: list[torch.Tensor] = [h] * T
    cs: list[torch.Tensor | None] = [c] * T
    for t in range(T - 1, -1, -1) if backward else range(T):
        prev_h[t], prev_c[t] = h, c
        h, c, _, _ = cell_step(kind, weights, x[t : t + 1], h, c)
        if c is not None:
            # the cell state carried to the next step is its own graph node, so that its gradient
            # covers only that path (h_t = o_t * tanh(c_t) is credited through h_t's gradient)
            c = c.clone()
        hs[t], cs[t] = h, c
    lstm = kind == "lstm"
    return Sweep(
        weights=weights,
        backward=backward,
        prev_h=torch.cat(prev_h).detach(),
        prev_c=torch.cat([r for r in prev_c if r is not None]).detach() if lstm else None,
        h=hs,
        c=[r for r in cs if r is not None] if lstm else None,
        h_all=torch.cat(hs).detach(),
        c_all=torch.cat([r for r in cs if r is not None]).detach() if lstm else None,
    )


@dataclass
class Trace:
    """Every layer's sweeps (one per direction) and the final state the head reads."""

    kind: str
    layers: list[list[Sweep]]
    final: torch.Tensor
    """``(1, H * directions)``: the top layer's final states, in the graph."""


def trace(rnn: nn.GRU | nn.LSTM, x: torch.Tensor) -> Trace:
    """Per-step states of ``rnn`` (``batch_first``, any depth, uni- or bidirectional) over one text's
    embeddings ``x`` ``(T, D)``.  Call under ``torch.enable_grad()`` with ``x`` requiring grad to get
    gradients with respect to the states."""
    kind = kind_of(rnn)
    directions = (False, True) if rnn.bidirectional else (False,)
    layers: list[list[Sweep]] = []
    inp = x
    for layer in range(rnn.num_layers):
        layers.append([sweep(kind, inp, cell_weights(rnn, layer, back), backward=back) for back in directions])
        inp = torch.cat([torch.cat(d.h) for d in layers[-1]], dim=-1)
    final = torch.cat([d.h[d.last] for d in layers[-1]], dim=-1)
    return Trace(kind=kind, layers=layers, final=final)
