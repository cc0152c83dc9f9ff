"""REAT in an autograd-friendly form, for training-time losses (``audit harden``'s regulariser).

:func:`audit.attribution.reat_scores` is the owner of REAT: it is fast, exact and runs under
``torch.inference_mode`` with in-place buffers, so no gradient flows through it.  A loss that
penalises REAT score mass ("right for the right reasons", Ross et al. 2017) needs the same
decomposition as a differentiable function of the weights.  This module computes exactly the
same quantity from padded tensors without in-place updates::

    S(x_t) = W_c [ (h_t - a_t * h_{t-1}) * prod_{k>t} a_k ]         GRU: a = z (update gate)
    S(x_t) = W_c [ o_T * (tanh c_t - f_t * tanh c_{t-1}) * prod_{k>t} f_k ]   LSTM (bounded form)

mirrored for the backward direction, top layer only (lower layers just feed it).  The test suite
checks it equals :func:`reat_scores` for GRU/LSTM, 1-2 layers, uni- and bidirectional, so the two
cannot drift apart.  It is slower and uses more memory than the inference path: use it only
where a gradient is needed.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from audit.attribution._reat import _sub_rnn, _validate

__all__ = ["reat_scores_differentiable"]


def _padded(module: nn.GRU | nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = module(packed)
    padded, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return padded  # zeros past each length


def _gates(rnn: nn.GRU | nn.LSTM, suffix: str, rows: slice, x: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    layer = rnn.num_layers - 1
    w_ih = cast(torch.Tensor, getattr(rnn, f"weight_ih_l{layer}{suffix}"))[rows]
    w_hh = cast(torch.Tensor, getattr(rnn, f"weight_hh_l{layer}{suffix}"))[rows]
    pre = x @ w_ih.T + h_prev @ w_hh.T
    if rnn.bias:
        b_ih = cast(torch.Tensor, getattr(rnn, f"bias_ih_l{layer}{suffix}"))[rows]
        b_hh = cast(torch.Tensor, getattr(rnn, f"bias_hh_l{layer}{suffix}"))[rows]
        pre = pre + b_ih + b_hh
    return torch.sigmoid(pre)


def _suffix_product(a: torch.Tensor, mask: torch.Tensor, *, backward: bool) -> torch.Tensor:
    """``prod`` of ``a`` over the steps read *after* each step in this direction (exclusive)."""
    ones = torch.ones_like(a)
    a = torch.where(mask, a, ones)
    if backward:  # the backward direction reads t = T-1 .. 0: later steps are k < t
        inclusive = torch.cumprod(a, dim=1)
        return torch.cat([ones[:, :1], inclusive[:, :-1]], dim=1)
    inclusive = torch.flip(torch.cumprod(torch.flip(a, [1]), dim=1), [1])
    return torch.cat([inclusive[:, 1:], ones[:, :1]], dim=1)


def _direction(
    rnn: nn.GRU | nn.LSTM, x: torch.Tensor, h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor,
    *, backward: bool,
) -> torch.Tensor:
    """``Delta_t * P_t`` of one direction, ``(B, T, H)``; zero past each length."""
    hs = rnn.hidden_size
    suffix = "_reverse" if backward else ""
    zeros = torch.zeros_like(h[:, :1])
    # the state each step reads: t-1 forward, t+1 backward (padding is 0, so the last real step reads 0)
    h_prev = torch.cat([h[:, 1:], zeros], dim=1) if backward else torch.cat([zeros, h[:, :-1]], dim=1)
    m = mask.unsqueeze(-1)
    if isinstance(rnn, nn.GRU):
        z = _gates(rnn, suffix, slice(hs, 2 * hs), x, h_prev)
        delta = h - z * h_prev
        return delta * _suffix_product(z, m, backward=backward) * m
    f = _gates(rnn, suffix, slice(hs, 2 * hs), x, h_prev)
    o = _gates(rnn, suffix, slice(3 * hs, 4 * hs), x, h_prev)
    tanh_c = h / o.clamp_min(torch.finfo(o.dtype).tiny)  # h = o * tanh(c), o > 0
    tanh_prev = torch.cat([tanh_c[:, 1:], zeros], dim=1) if backward else torch.cat([zeros, tanh_c[:, :-1]], dim=1)
    last = torch.zeros_like(lengths) if backward else lengths - 1
    o_end = o[torch.arange(o.shape[0], device=o.device), last.to(o.device)].unsqueeze(1)
    delta = tanh_c - f * tanh_prev
    return o_end * delta * _suffix_product(f, m, backward=backward) * m


def reat_scores_differentiable(
    rnn: nn.GRU | nn.LSTM, head: nn.Linear, embeddings: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """REAT scores ``(B, T, C)`` with gradients w.r.t. the weights and ``embeddings``.

    Same contract as :func:`audit.attribution.reat_scores` (``batch_first`` RNN, head on the final
    state, right-padded inputs, padded positions exactly 0).  Like the inference path, it runs
    without inter-layer dropout, so the scores are those of the model being trained, not of a
    dropout sample.
    """
    _validate(rnn, head, embeddings, lengths)
    steps = embeddings.shape[1]
    x = embeddings.to(dtype=head.weight.dtype)
    lengths = lengths.to(device=x.device, dtype=torch.long)
    if rnn.num_layers > 1:
        x = _padded(_sub_rnn(rnn, 0, rnn.num_layers - 1), x, lengths)
    top = _sub_rnn(rnn, rnn.num_layers - 1, 1)
    out = _padded(top, x, lengths)
    mask = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
    hs = rnn.hidden_size
    parts = [_direction(rnn, x, out[..., :hs], mask, lengths, backward=False)]
    if rnn.bidirectional:
        parts.append(_direction(rnn, x, out[..., hs:], mask, lengths, backward=True))
    evidence = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
    return evidence @ head.weight.T
