"""Batched REAT word scores for (stacked, bidirectional) GRU and LSTM classifiers.

The top recurrent layer is decomposed (Du et al., WWW'19, Eq. 13/16/20/22): for each
direction the hidden states come from the fused, packed ``nn.GRU``/``nn.LSTM`` forward,
the gates REAT needs (GRU: ``z``; LSTM: ``f`` and ``o``) are recomputed for all time steps
at once from ``[x_t ; h_{t-1}]``, and the forgetting products come from one cumulative
product.  There is no Python loop over time steps or examples.

Conventions (see ``/shared/notes/reat-math.md``):

* GRU: ``alpha_t = z_t``, ``Delta_t = h_t - z_t * h_{t-1}``.
* LSTM: ``Delta_t * P_t = o_T * (tanh(c_t) - f_t * tanh(c_{t-1})) * prod_{k>t} f_k`` with
  ``tanh(c_t) = h_t / o_t`` (bounded factors only, so long texts stay finite).
* Backward direction: the "previous" state of position ``t`` is the state at ``t+1``;
  its forgetting product runs over ``k < t`` (Eq. 21).
* Padding: ``alpha = 1`` and ``Delta = 0``, so padded positions score exactly 0.

The scores are exact: ``scores.sum(1) + head.bias == head(final_state)`` up to rounding.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from audit.errors import InputError
from audit.models.base import check_compatible, final_state

log = logging.getLogger(__name__)

_BUFFER_CELLS = 1 << 17
"""Cells (examples x (longest length + 1)) of one forgetting-product buffer; bounds padding and memory."""


def _sub_rnn(rnn: nn.GRU | nn.LSTM, first: int, count: int) -> nn.GRU | nn.LSTM:
    """A module running layers ``first .. first+count-1`` of ``rnn``, sharing its parameters."""
    if first == 0 and count == rnn.num_layers == 1:
        return rnn  # a single layer has no inter-layer dropout
    input_size = rnn.input_size if first == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
    ref = rnn.weight_ih_l0
    sub = type(rnn)(
        input_size,
        rnn.hidden_size,
        num_layers=count,
        bias=rnn.bias,
        batch_first=True,
        bidirectional=rnn.bidirectional,
        device="meta",
        dtype=ref.dtype,
    )
    for name in sub._flat_weights_names:
        layer_part, _, rest = name.rpartition("_l")
        index, _, suffix = rest.partition("_")
        source = f"{layer_part}_l{int(index) + first}" + (f"_{suffix}" if suffix else "")
        setattr(sub, name, getattr(rnn, source))
    sub.train(False)
    return sub


def _run(module: nn.GRU | nn.LSTM, packed: PackedSequence) -> PackedSequence:
    with warnings.catch_warnings():
        # cuDNN complains that shared (non-flattened) weights are not one contiguous chunk.
        warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
        out, _ = module(packed)
    return out


@dataclass
class _Layout:
    """Where each row of a packed sequence sits: time step, rank in the length-sorted batch."""

    steps: torch.Tensor  # (N,) time step t of each packed row
    ranks: torch.Tensor  # (N,) index j of its example in the sorted batch
    offsets: torch.Tensor  # (T,) first packed row of each time step
    sorted_lengths: torch.Tensor  # (B,) lengths in packed (descending) order

    @functools.cached_property
    def by_example(self) -> torch.Tensor:
        """Packed rows ordered example by example, time ascending ``(N,)``."""
        return torch.argsort(self.ranks, stable=True)

    @functools.cached_property
    def example_starts(self) -> list[int]:
        """``(B+1,)`` where each sorted example starts in :attr:`by_example`."""
        return [0, *torch.cumsum(self.sorted_lengths, 0).tolist()]

    @classmethod
    def of(cls, packed: PackedSequence, lengths: torch.Tensor) -> _Layout:
        device = packed.data.device
        sizes = packed.batch_sizes.to(device)
        offsets = torch.cumsum(sizes, 0) - sizes
        steps = torch.repeat_interleave(torch.arange(sizes.shape[0], device=device), sizes)
        ranks = torch.arange(steps.shape[0], device=device) - offsets[steps]
        order = packed.sorted_indices if packed.sorted_indices is not None else torch.arange(lengths.shape[0], device=device)
        sorted_lengths = lengths[order]
        return cls(steps, ranks, offsets, sorted_lengths)

    def prev_rows(self, *, backward: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Row of the state each row reads (t-1 forward, t+1 backward), and where there is none."""
        if backward:
            nxt = self.steps + 1
            has = nxt < self.sorted_lengths[self.ranks]
            rows = self.offsets[nxt.clamp(max=self.offsets.shape[0] - 1)] + self.ranks
        else:
            has = self.steps > 0
            rows = self.offsets[(self.steps - 1).clamp(min=0)] + self.ranks
        edge = ~has
        return rows.masked_fill_(edge, 0), edge

    def sweep_positions(self, *, backward: bool) -> torch.Tensor:
        """How many steps come *after* each row in its direction's sweep (0 = the final state)."""
        if backward:
            return self.steps
        return self.sorted_lengths[self.ranks] - 1 - self.steps


def _gather_prev(data: torch.Tensor, prev: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
    """``data[prev]`` with zero rows where ``edge`` (no previous state: h_0 = 0)."""
    out = data.index_select(0, prev)
    return out.masked_fill_(edge.unsqueeze(1), 0.0)


def _forgetting(alpha: torch.Tensor, layout: _Layout, sweep: torch.Tensor) -> torch.Tensor:
    """``prod`` of ``alpha`` over the steps after each row (Eq. 13's forgetting term), ``(N, H)``.

    Rows are laid out per example in reverse sweep order in a ones-filled buffer, so one
    cumulative product gives every suffix product (no division: zeros are safe).  Big batches
    are split into chunks of length-sorted examples, which bounds the buffer's padding and size.
    """
    hidden = alpha.shape[1]
    lengths = layout.sorted_lengths.tolist()
    batch = len(lengths)
    if batch * (lengths[0] + 1) <= _BUFFER_CELLS:
        width = lengths[0] + 1
        flat = layout.ranks * width + sweep + 1
        buf = alpha.new_ones(batch * width, hidden).index_copy_(0, flat, alpha)
        buf.view(batch, width, hidden).cumprod_(1)
        return buf.index_select(0, flat - 1)
    out = torch.empty_like(alpha)
    j0 = 0
    while j0 < batch:
        width = lengths[j0] + 1
        j1 = min(batch, j0 + max(1, _BUFFER_CELLS // width))
        rows = layout.by_example[layout.example_starts[j0] : layout.example_starts[j1]]
        flat = (layout.ranks[rows] - j0) * width + sweep[rows] + 1
        buf = alpha.new_ones((j1 - j0) * width, hidden).index_copy_(0, flat, alpha.index_select(0, rows))
        buf.view(j1 - j0, width, hidden).cumprod_(1)
        out.index_copy_(0, rows, buf.index_select(0, flat - 1))
        j0 = j1
    return out


def _gates(
    rnn: nn.GRU | nn.LSTM, suffix: str, x: torch.Tensor, h_prev: torch.Tensor, rows: list[slice]
) -> torch.Tensor:
    """Sigmoid of the selected gate rows for all packed rows: ``W_i x_t + W_h h_{t-1} + b``."""
    layer = rnn.num_layers - 1
    w_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}")
    wi = w_ih[rows[0]] if len(rows) == 1 else torch.cat([w_ih[r] for r in rows])
    wh = w_hh[rows[0]] if len(rows) == 1 else torch.cat([w_hh[r] for r in rows])
    if rnn.bias:
        b_ih = getattr(rnn, f"bias_ih_l{layer}{suffix}")
        b_hh = getattr(rnn, f"bias_hh_l{layer}{suffix}")
        pre = torch.addmm(torch.cat([b_ih[r] + b_hh[r] for r in rows]), x, wi.T)
    else:
        pre = torch.mm(x, wi.T)
    return pre.addmm_(h_prev, wh.T).sigmoid_()


def _direction_evidence(
    rnn: nn.GRU | nn.LSTM, x: torch.Tensor, h: torch.Tensor, layout: _Layout, *, backward: bool, naive: bool
) -> torch.Tensor:
    """``Delta_t * P_t`` of one direction of the top layer for every packed row, ``(N, H)``."""
    hs = rnn.hidden_size
    prev, edge = layout.prev_rows(backward=backward)
    h_prev = _gather_prev(h, prev, edge)
    if naive:
        return h.sub(h_prev)
    suffix = "_reverse" if backward else ""
    sweep = layout.sweep_positions(backward=backward)
    if isinstance(rnn, nn.GRU):
        z = _gates(rnn, suffix, x, h_prev, [slice(hs, 2 * hs)])
        delta = torch.addcmul(h, z, h_prev, value=-1.0)
        return delta.mul_(_forgetting(z, layout, sweep))
    gates = _gates(rnn, suffix, x, h_prev, [slice(hs, 2 * hs), slice(3 * hs, 4 * hs)])
    f, o = gates[:, :hs], gates[:, hs:]
    tanh_c = h / o.clamp_min(torch.finfo(o.dtype).tiny)  # h = o * tanh(c) exactly, o > 0
    delta = torch.addcmul(tanh_c, f, _gather_prev(tanh_c, prev, edge), value=-1.0)
    delta.mul_(_forgetting(f.contiguous(), layout, sweep))
    # o at the direction's final state: last real token (forward) or the first token (backward)
    final_rows = (sweep == 0).nonzero().squeeze(1)
    o_end = o.new_empty(layout.sorted_lengths.shape[0], hs)
    o_end[layout.ranks[final_rows]] = o[final_rows]
    return delta.mul_(o_end[layout.ranks])


def _validate(rnn: nn.Module, head: nn.Module, embeddings: torch.Tensor, lengths: torch.Tensor) -> None:
    check_compatible(rnn, head)
    if embeddings.dim() != 3:
        raise InputError(f"embeddings must be (batch, time, dim), got shape {tuple(embeddings.shape)}")
    if not embeddings.is_floating_point():
        raise InputError("embeddings must be a floating point tensor")
    if lengths.dim() != 1 or lengths.shape[0] != embeddings.shape[0]:
        raise InputError(f"lengths must be (batch,) = ({embeddings.shape[0]},), got {tuple(lengths.shape)}")
    if embeddings.shape[-1] != rnn.input_size:
        raise InputError(f"embeddings have dim {embeddings.shape[-1]}, the RNN expects {rnn.input_size}")
    if embeddings.shape[0] and (int(lengths.min()) < 1 or int(lengths.max()) > embeddings.shape[1]):
        raise InputError(
            f"lengths must be in [1, {embeddings.shape[1]}], got [{int(lengths.min())}, {int(lengths.max())}]",
            hint="empty texts cannot be explained",
        )


def reat_scores(
    rnn: nn.GRU | nn.LSTM,
    head: nn.Linear,
    embeddings: torch.Tensor,
    lengths: torch.Tensor,
    *,
    naive: bool = False,
) -> torch.Tensor:
    """REAT contribution of every position to every class logit.

    Args:
        rnn: ``nn.GRU`` / ``nn.LSTM`` with ``batch_first=True`` (any depth, uni- or bidirectional).
        head: ``nn.Linear`` reading the final hidden state (see :mod:`audit.models.base`).
        embeddings: ``(B, T, D)`` right-padded inputs of the RNN (cast to the RNN's dtype).
        lengths: ``(B,)`` real lengths, each in ``[1, T]``.
        naive: use NaiveREAT (Eq. 9: ``W_c (h_t - h_{t-1})``) instead of REAT.

    Returns:
        ``(B, T, C)`` scores on the embeddings' device; padded positions are exactly 0 and
        ``scores.sum(1) + head.bias`` equals the logits up to floating point rounding.
    """
    _validate(rnn, head, embeddings, lengths)
    ref = rnn.weight_ih_l0
    batch, steps, _ = embeddings.shape
    with torch.inference_mode():
        scores = torch.zeros(batch, steps, head.out_features, dtype=ref.dtype, device=ref.device)
        if batch == 0:
            return scores.to(embeddings.device)
        emb = embeddings.to(device=ref.device, dtype=ref.dtype)
        lengths = lengths.to(device=ref.device, dtype=torch.long)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        if rnn.num_layers > 1:
            packed = _run(_sub_rnn(rnn, 0, rnn.num_layers - 1), packed)
        out = _run(_sub_rnn(rnn, rnn.num_layers - 1, 1), packed)
        layout = _Layout.of(packed, lengths)
        hs = rnn.hidden_size
        weight = head.weight.to(ref.dtype)
        x, h_all = packed.data, out.data
        per_row = torch.mm(
            _direction_evidence(rnn, x, h_all[:, :hs], layout, backward=False, naive=naive), weight[:, :hs].T
        )
        if rnn.bidirectional:
            evidence = _direction_evidence(rnn, x, h_all[:, hs:].contiguous(), layout, backward=True, naive=naive)
            per_row.addmm_(evidence, weight[:, hs:].T)
        order = packed.sorted_indices if packed.sorted_indices is not None else torch.arange(batch, device=ref.device)
        scores[order[layout.ranks], layout.steps] = per_row
    return scores.to(embeddings.device)


def reat_logits_check(
    rnn: nn.GRU | nn.LSTM,
    head: nn.Linear,
    embeddings: torch.Tensor,
    lengths: torch.Tensor,
    *,
    scores: torch.Tensor | None = None,
    naive: bool = False,
) -> torch.Tensor:
    """Completeness gap ``|scores.sum(1) + bias - logits|`` per example and class, ``(B, C)``.

    The logits are the model's own (packed, fused) ``head(final_state)``; ``scores`` default to
    :func:`reat_scores`.  A gap far above float rounding means the head does not read the final state.
    """
    if scores is None:
        scores = reat_scores(rnn, head, embeddings, lengths, naive=naive)
    with torch.inference_mode():
        was_training = rnn.training
        rnn.train(False)
        try:
            ref = rnn.weight_ih_l0
            logits = head(final_state(rnn, embeddings.to(device=ref.device, dtype=ref.dtype), lengths))
        finally:
            rnn.train(was_training)
        return completeness_gap(scores, logits, head.bias)


def completeness_gap(scores: torch.Tensor, logits: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``|scores.sum(1) + bias - logits|`` for ``(B, T, C)`` scores and ``(B, C)`` logits."""
    total = scores.sum(1).to(logits.dtype)
    if bias is not None:
        total = total + bias.to(logits.dtype)
    return (total - logits).abs()
