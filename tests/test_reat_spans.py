"""Phrase scores: sums of word scores, and equal to Eq. 14/16 computed directly from the states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from audit.attribution import reat_scores, span_scores
from audit.errors import InputError


def _gru_states(rnn: nn.GRU, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """States h_0..h_T (T+1, H) and update gates z_1..z_T (T, H) of a 1-layer GRU, step by step."""
    hs = rnn.hidden_size
    h = torch.zeros(hs, dtype=x.dtype)
    states, gates = [h], []
    for xt in x:
        gi = rnn.weight_ih_l0 @ xt + rnn.bias_ih_l0
        gh = rnn.weight_hh_l0 @ h + rnn.bias_hh_l0
        r = torch.sigmoid(gi[:hs] + gh[:hs])
        z = torch.sigmoid(gi[hs : 2 * hs] + gh[hs : 2 * hs])
        n = torch.tanh(gi[2 * hs :] + r * gh[2 * hs :])
        h = (1 - z) * n + z * h
        states.append(h)
        gates.append(z)
    return torch.stack(states), torch.stack(gates)


def _spans(draw_len: int, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({0, draw_len, *[c % (draw_len + 1) for c in cuts]})
    return [(a, b) for a, b in zip(points, points[1:]) if b > a]


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 9), cuts=st.lists(st.integers(0, 20), max_size=4), seed=st.integers(0, 10_000))
def test_eq16_from_states_equals_sum_of_word_scores(length: int, cuts: list[int], seed: int) -> None:
    torch.manual_seed(seed)
    rnn = nn.GRU(3, 4, batch_first=True).double().eval()
    head = nn.Linear(4, 2).double()
    x = torch.randn(length, 3, dtype=torch.float64)
    words = reat_scores(rnn, head, x.unsqueeze(0), torch.tensor([length]))[0]
    with torch.no_grad():
        states, z = _gru_states(rnn, x)
        for q, r in _spans(length, cuts):  # 0-based [q, r) == paper's 1-based q+1..r
            update = states[r] - torch.prod(z[q:r], 0) * states[q]
            forget = torch.prod(z[r:], 0) if r < length else torch.ones(4, dtype=torch.float64)
            direct = head.weight @ (update * forget)
            torch.testing.assert_close(span_scores(words, [(q, r)])[0], direct, rtol=1e-9, atol=1e-12)
            torch.testing.assert_close(words[q:r].sum(0), direct, rtol=1e-9, atol=1e-12)


def test_span_scores_shapes_and_backends() -> None:
    scores = torch.arange(12, dtype=torch.float64).view(2, 3, 2)
    got = span_scores(scores, [(0, 2), (2, 3)])
    torch.testing.assert_close(got, torch.stack([scores[:, :2].sum(1), scores[:, 2]], 1))
    flat = np.array([1.0, -2.0, 4.0])
    np.testing.assert_allclose(span_scores(flat, [(0, 3), (1, 2)]), [3.0, -2.0])
    np.testing.assert_allclose(span_scores(torch.tensor(flat), [(0, 1)]).numpy(), [1.0])


@pytest.mark.parametrize("bad", [(0, 0), (2, 1), (-1, 1), (0, 4)])
def test_bad_spans(bad: tuple[int, int]) -> None:
    with pytest.raises(InputError):
        span_scores(np.zeros(3), [bad])
