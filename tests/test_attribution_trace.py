"""audit.attribution.trace: per-step states of one text equal the fused RNN's, with gradients to every state."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from audit.attribution import trace

CASES = list(itertools.product((nn.GRU, nn.LSTM), (1, 2), (False, True)))


@pytest.mark.parametrize(("cls", "layers", "bidirectional"), CASES)
def test_trace_states_equal_the_fused_rnn(cls: type[nn.GRU | nn.LSTM], layers: int, bidirectional: bool) -> None:
    torch.manual_seed(layers * 10 + bidirectional)
    rnn = cls(4, 3, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = torch.randn(6, 4)
    with torch.no_grad():
        out, _ = rnn(x.unsqueeze(0))
    with torch.enable_grad():
        steps = trace(rnn, x.clone().requires_grad_(True))
        top = torch.cat([torch.cat(d.h) for d in steps.layers[-1]], dim=-1)
        torch.testing.assert_close(top, out[0], atol=1e-5, rtol=0)
        # the final state is the forward direction's last step and the backward direction's first
        want = torch.cat([out[0, -1, :3]] + ([out[0, 0, 3:]] if bidirectional else []))
        torch.testing.assert_close(steps.final[0], want, atol=1e-5, rtol=0)
        first = steps.layers[0][0]
        grads = torch.autograd.grad(steps.final.sum(), first.h, allow_unused=True)
    assert steps.kind == ("lstm" if cls is nn.LSTM else "gru")
    assert grads[-1 if layers == 1 else 0] is not None  # states are graph nodes the output depends on
    assert all(not d.h_all.requires_grad for layer in steps.layers for d in layer)
