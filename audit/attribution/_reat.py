"""Batched REAT word scores for (stacked, bidirectional) GRU and LSTM classifiers.

The top recurrent layer is decomposed (Du et al., WWW'19, Eq. 13/16/20/22): for each
direction the hidden states come from the fused, packed ``nn.GRU``/``nn.LSTM`` forward,
the gates REAT needs (GRU: ``z``; LSTM: ``f`` and ``o``) are recomputed for all time steps
at once from ``[x_t ; h_{t-1}]`` (two matrix products on the packed rows), and the forgetting
products come from cumulative products over blocks of similar-length examples.  There is no
Python loop over time steps or examples.

Speed (see ``benchmarks/reat_speed.py``): the packed input is gathered directly from the padded
embeddings (no sorted copy of the whole padded batch), the previous state of every packed row
is one gather (forward) or one contiguous slice (backward), gates are computed only where they
are used, the evidence overwrites the RNN output it is built from, and the forgetting buffer
is padded per length block rather than to the longest text.

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

import logging
import warnings
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from audit.errors import InputError
from audit.models.base import check_compatible, final_state

log = logging.getLogger(__name__)

_BUFFER_CELLS = 1 << 17
"""Most cells (examples x width) of one cumulative-product block of the forgetting buffer."""


def _first_weight(rnn: nn.GRU | nn.LSTM) -> torch.Tensor:
    """``rnn.weight_ih_l0``, the parameter whose dtype and device the computation follows.

    The cast only narrows the stubs: ``nn.Module.__getattr__`` is typed ``Tensor | Module``, but this
    attribute of an RNN is always a parameter.
    """
    return cast(torch.Tensor, rnn.weight_ih_l0)


def rnn_weight_names(rnn: nn.GRU | nn.LSTM) -> list[str]:
    """Names of an RNN's own weights (``weight_ih_l0``, ``bias_hh_l1_reverse``...), through public API.

    ``named_parameters(recurse=False)`` lists exactly the per-layer weights torch keeps in sync with
    its flat-weight buffer when one is assigned (tests/test_library_contracts.py checks this).
    """
    return [name for name, _ in rnn.named_parameters(recurse=False)]


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
    for name in rnn_weight_names(sub):
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
    """Where each row of the (time-major, length-sorted) packed sequence sits, and its neighbours.

    Row ``r`` holds time step ``steps[r]`` of the example of rank ``ranks[r]`` in the sorted batch.
    The first ``first`` rows are time step 0.  ``linked[k]`` is the row at the *same* example's
    previous time step of row ``first + k``; so in the forward direction row ``first + k`` reads
    the state of row ``linked[k]``, and in the backward direction row ``linked[k]`` reads the state
    of row ``first + k`` (every other row reads ``h = 0``).  The forward neighbour rows are then
    one contiguous slice, and no mask is needed.
    """

    steps: torch.Tensor  # (N,) time step t of each packed row
    ranks: torch.Tensor  # (N,) index j of its example in the sorted batch
    offsets: torch.Tensor  # (T,) first packed row of each time step
    sorted_lengths: torch.Tensor  # (B,) lengths in packed (descending) order
    order: torch.Tensor  # (B,) original index of each sorted example
    linked: torch.Tensor  # (N - first,) see above
    first: int  # number of rows at time step 0 (= B)
    cells: torch.Tensor  # (B,) first cell of each example in the forgetting-product buffer
    ones: torch.Tensor  # buffer cells that hold 1 (each example's first cell and its cells past the text)
    chunks: list[tuple[int, int]]  # (examples, width) of each cumulative-product block, in rank order

    @classmethod
    def of(cls, lengths: torch.Tensor, device: torch.device) -> tuple[_Layout, torch.Tensor]:
        """Layout for ``lengths`` (CPU) plus the packed sequence's ``batch_sizes``."""
        sorted_cpu, order_cpu = torch.sort(lengths, descending=True, stable=True)
        longest = int(sorted_cpu[0])
        counts = torch.bincount(lengths, minlength=longest + 1)
        batch_sizes = counts.flip(0).cumsum(0).flip(0)[1:]  # (T,) examples longer than t
        total = int(batch_sizes.sum())
        sizes = batch_sizes.to(device)
        offsets = torch.cumsum(sizes, 0) - sizes
        steps = torch.repeat_interleave(torch.arange(longest, device=device), sizes, output_size=total)
        ranks = torch.arange(total, device=device) - offsets[steps]
        first = int(batch_sizes[0])
        linked = offsets[steps[first:] - 1] + ranks[first:]
        chunks = _chunks(counts.tolist(), longest)
        n = torch.tensor([c[0] for c in chunks])
        width = torch.tensor([c[1] for c in chunks])
        base = torch.cumsum(n * width, 0) - n * width - (torch.cumsum(n, 0) - n) * width
        widths = torch.repeat_interleave(width, n)
        cells = torch.repeat_interleave(base, n) + torch.arange(lengths.shape[0]) * widths
        # cells that no alpha fills: each example's first cell and its cells from `length` on
        tail = widths - sorted_cpu
        tail_starts = torch.cumsum(tail, 0) - tail
        within = torch.arange(int(tail.sum())) - torch.repeat_interleave(tail_starts, tail)
        ones = torch.cat([cells, torch.repeat_interleave(cells + sorted_cpu, tail) + within])
        layout = cls(
            steps,
            ranks,
            offsets,
            sorted_cpu.to(device),
            order_cpu.to(device),
            linked,
            first,
            cells.to(device),
            ones.to(device),
            chunks,
        )
        return layout, batch_sizes

    def sweep_positions(self, *, backward: bool) -> torch.Tensor:
        """How many steps come *after* each row in its direction's sweep (0 = the final state)."""
        if backward:
            return self.steps
        return self.sorted_lengths[self.ranks] - 1 - self.steps

    def final_rows(self, *, backward: bool) -> torch.Tensor:
        """``(B,)`` row of each sorted example's final state in the direction's sweep."""
        rank = torch.arange(self.first, device=self.steps.device)
        if backward:
            return rank
        return self.offsets[self.sorted_lengths - 1] + rank


_SLACK = 1.25
"""A forgetting-product block ends where its examples would be padded by more than this factor."""


def _chunks(counts: list[int], longest: int) -> list[tuple[int, int]]:
    """Blocks of length-sorted examples ``(examples, width)`` for the cumulative products.

    Each example takes ``width >= length + 1`` cells of its block; blocks hold examples of similar
    lengths (little padding) and at most ``_BUFFER_CELLS`` cells.  Loops over lengths, not examples.
    """
    chunks: list[tuple[int, int]] = []
    n = width = 0
    for length in range(longest, 0, -1):
        left = counts[length]
        while left:
            if n == 0 or (length + 1) * _SLACK < width or n >= max(1, _BUFFER_CELLS // width):
                if n:
                    chunks.append((n, width))
                n, width = 0, length + 1
            take = min(left, max(1, _BUFFER_CELLS // width) - n)
            n += take
            left -= take
    chunks.append((n, width))
    return chunks


def _forgetting(
    alpha: torch.Tensor, rows: torch.Tensor | None, layout: _Layout, sweep: torch.Tensor, lead: torch.Tensor | None
) -> torch.Tensor:
    """``lead * prod`` of ``alpha`` over the steps after each row (Eq. 13's forgetting term), ``(N, H)``.

    ``alpha`` holds the rows ``rows`` (all rows where ``None``).  Each example gets ``length + 1`` or more
    cells of a ones-filled buffer: ``lead`` (or 1) first, then its ``alpha`` in sweep order from
    the final state backwards, so one cumulative product per block of similar-length examples
    gives every suffix product (no division: zeros are safe).  Only the cells no ``alpha`` fills
    are set to 1: the buffer is written once.
    """
    cells = layout.cells[layout.ranks].add_(sweep)  # cell of each row's product
    hidden = alpha.shape[1]
    total = sum(n * w for n, w in layout.chunks)
    buf = alpha.new_empty(total, hidden).index_fill_(0, layout.ones, 1.0)
    if lead is not None:
        buf.index_copy_(0, layout.cells, lead)
    target = cells + 1 if rows is None else cells[rows] + 1
    buf.index_copy_(0, target, alpha)
    start = 0
    for n, width in layout.chunks:
        buf[start : start + n * width].view(n, width, hidden).cumprod_(1)
        start += n * width
    return buf.index_select(0, cells)


def _weights(
    rnn: nn.GRU | nn.LSTM, suffix: str, rows: list[slice]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Input and hidden weights (transposed) and summed bias of the selected gate rows of the top layer."""
    layer = rnn.num_layers - 1
    w_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}")
    wi = w_ih[rows[0]] if len(rows) == 1 else torch.cat([w_ih[r] for r in rows])
    wh = w_hh[rows[0]] if len(rows) == 1 else torch.cat([w_hh[r] for r in rows])
    bias = None
    if rnn.bias:
        b_ih = getattr(rnn, f"bias_ih_l{layer}{suffix}")
        b_hh = getattr(rnn, f"bias_hh_l{layer}{suffix}")
        bias = torch.cat([b_ih[r] + b_hh[r] for r in rows])
    return wi.T, wh.T, bias


def _pre_gates(
    rnn: nn.GRU | nn.LSTM,
    suffix: str,
    rows: list[slice],
    x: torch.Tensor,
    h: torch.Tensor,
    layout: _Layout,
    *,
    backward: bool,
) -> torch.Tensor:
    """Pre-activations ``W_i x_t + W_h h_prev + b`` of the selected gates for every row (``(N, G)``).

    Rows without a previous state get ``W_i x_t + b`` only (``h_0 = 0``).
    """
    wi, wh, bias = _weights(rnn, suffix, rows)
    first = layout.first
    pre = torch.mm(x, wi) if bias is None else torch.addmm(bias, x, wi)
    if backward:
        pre.index_add_(0, layout.linked, torch.mm(h[first:], wh))
    else:
        pre[first:].addmm_(h.index_select(0, layout.linked), wh)
    return pre


def _direction_evidence(
    rnn: nn.GRU | nn.LSTM, x: torch.Tensor, h: torch.Tensor, layout: _Layout, *, backward: bool, naive: bool
) -> torch.Tensor:
    """``Delta_t * P_t`` of one direction of the top layer for every packed row, written over ``h``.

    ``h`` is this direction's states, a view of the RNN output that nothing else reads afterwards.
    """
    hs = rnn.hidden_size
    first, linked = layout.first, layout.linked
    if naive:
        if backward:
            h.index_copy_(0, linked, h.index_select(0, linked).sub_(h[first:]))
        else:
            h[first:].sub_(h.index_select(0, linked))
        return h
    suffix = "_reverse" if backward else ""
    sweep = layout.sweep_positions(backward=backward)
    if isinstance(rnn, nn.GRU):
        if backward:
            z = _pre_gates(rnn, suffix, [slice(hs, 2 * hs)], x, h, layout, backward=True).sigmoid_()
            h.index_add_(0, linked, z.index_select(0, linked).mul_(h[first:]), alpha=-1.0)
            return h.mul_(_forgetting(z, None, layout, sweep, None))
        # forward: z is only needed where there is a previous state (t >= 1, rows first..N)
        wi, wh, bias = _weights(rnn, suffix, [slice(hs, 2 * hs)])
        h_prev = h.index_select(0, linked)
        x_cur = x[first:]
        pre = torch.mm(x_cur, wi) if bias is None else torch.addmm(bias, x_cur, wi)
        z = pre.addmm_(h_prev, wh).sigmoid_()
        h[first:].addcmul_(z, h_prev, value=-1.0)
        rows = torch.arange(first, h.shape[0], device=h.device)
        return h.mul_(_forgetting(z, rows, layout, sweep, None))
    fo_rows = [slice(hs, 2 * hs), slice(3 * hs, 4 * hs)]
    gates = _pre_gates(rnn, suffix, fo_rows, x, h, layout, backward=backward).sigmoid_()
    f, o = gates[:, :hs], gates[:, hs:]
    o_end = o.index_select(0, layout.final_rows(backward=backward))  # o at the direction's final state
    tanh_c = torch.div(h, o.clamp_min_(torch.finfo(o.dtype).tiny), out=h)  # h = o * tanh(c) exactly, o > 0
    if backward:
        tanh_c.index_add_(0, linked, f.index_select(0, linked).mul_(tanh_c[first:]), alpha=-1.0)
    else:
        tanh_c[first:].addcmul_(f[first:], tanh_c.index_select(0, linked), value=-1.0)
    return tanh_c.mul_(_forgetting(f, None, layout, sweep, o_end))


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
    ref = _first_weight(rnn)
    batch, steps, _ = embeddings.shape
    with torch.inference_mode():
        scores = torch.zeros(batch, steps, head.out_features, dtype=ref.dtype, device=ref.device)
        if batch == 0:
            return scores.to(embeddings.device)
        emb = embeddings.to(device=ref.device, dtype=ref.dtype)
        layout, batch_sizes = _Layout.of(lengths.to(device="cpu", dtype=torch.long), ref.device)
        # pack: one gather of the real (example, step) rows, time-major, examples sorted by length
        flat = layout.order[layout.ranks].mul_(steps).add_(layout.steps)  # row of each packed row in (B*T)
        data = emb.reshape(batch * steps, emb.shape[-1]).index_select(0, flat)
        packed = PackedSequence(data, batch_sizes, layout.order, None)
        if rnn.num_layers > 1:
            packed = _run(_sub_rnn(rnn, 0, rnn.num_layers - 1), packed)
        out = _run(_sub_rnn(rnn, rnn.num_layers - 1, 1), packed)
        hs = rnn.hidden_size
        weight = head.weight.to(ref.dtype)
        x, h_all = packed.data, out.data
        # each direction's evidence overwrites its half of the output: one contraction with the head
        _direction_evidence(rnn, x, h_all[:, :hs], layout, backward=False, naive=naive)
        if rnn.bidirectional:
            _direction_evidence(rnn, x, h_all[:, hs:], layout, backward=True, naive=naive)
        per_row = torch.mm(h_all, weight.T)
        scores.view(batch * steps, -1).index_copy_(0, flat, per_row)
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
            ref = _first_weight(rnn)
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
