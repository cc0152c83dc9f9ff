"""REAT word scores: exactness, agreement with a step-by-step reference, hand-worked cases."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from audit.attribution import reat_logits_check, reat_scores
from audit.errors import IncompatibleModelError, InputError
from audit.models.base import final_state


def _make(cls: type, *, d: int, h: int, layers: int, bi: bool, classes: int, dtype: torch.dtype, seed: int):
    torch.manual_seed(seed)
    rnn = cls(d, h, num_layers=layers, bidirectional=bi, batch_first=True, dropout=0.2 if layers > 1 else 0.0)
    head = nn.Linear(h * (2 if bi else 1), classes)
    return rnn.to(dtype).eval(), head.to(dtype)


# ---------------------------------------------------------------- reference (per step, per example)


def _ref_layer(rnn: nn.Module, layer: int, suffix: str, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one direction of one layer step by step on ``xs`` (L, Din) from the raw equations.

    Returns states (L, H) and the paper's alpha (L, H) and h_{t-1} (L, H) for this direction's order.
    """
    w_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}")
    b_ih = getattr(rnn, f"bias_ih_l{layer}{suffix}")
    b_hh = getattr(rnn, f"bias_hh_l{layer}{suffix}")
    hs = rnn.hidden_size
    h = torch.zeros(hs, dtype=xs.dtype)
    c = torch.zeros(hs, dtype=xs.dtype)
    o_prev = torch.ones(hs, dtype=xs.dtype)  # unused at t=0 since h_0 = 0
    states, alphas, prevs = [], [], []
    for x in xs:
        gi = w_ih @ x + b_ih
        gh = w_hh @ h + b_hh
        if isinstance(rnn, nn.GRU):
            r = torch.sigmoid(gi[:hs] + gh[:hs])
            z = torch.sigmoid(gi[hs : 2 * hs] + gh[hs : 2 * hs])
            n = torch.tanh(gi[2 * hs :] + r * gh[2 * hs :])
            new_h = (1 - z) * n + z * h
            alpha = z
        else:
            g = gi + gh
            i, f, gg, o = (g[:hs].sigmoid(), g[hs : 2 * hs].sigmoid(), g[2 * hs : 3 * hs].tanh(), g[3 * hs :].sigmoid())
            c = f * c + i * gg
            new_h = o * torch.tanh(c)
            alpha = f * o / o_prev  # Eq. 18
            o_prev = o
        prevs.append(h)
        states.append(new_h)
        alphas.append(alpha)
        h = new_h
    return torch.stack(states), torch.stack(alphas), torch.stack(prevs)


def _ref_scores(rnn: nn.Module, head: nn.Linear, emb: torch.Tensor, length: int) -> torch.Tensor:
    """Eq. 13 (and 22 for bidirectional) literally, one example: (L, C)."""
    x = emb[:length]
    dirs = 2 if rnn.bidirectional else 1
    for layer in range(rnn.num_layers - 1):
        outs = [_ref_layer(rnn, layer, "", x)[0]]
        if dirs == 2:
            outs.append(_ref_layer(rnn, layer, "_reverse", x.flip(0))[0].flip(0))
        x = torch.cat(outs, -1)
    top = rnn.num_layers - 1
    hs = rnn.hidden_size
    scores = torch.zeros(length, head.out_features, dtype=emb.dtype)
    for d, suffix in enumerate(["", "_reverse"][:dirs]):
        xs = x if d == 0 else x.flip(0)
        states, alphas, prevs = _ref_layer(rnn, top, suffix, xs)
        w = head.weight[:, d * hs : (d + 1) * hs]
        for t in range(length):  # t in this direction's processing order
            forget = torch.ones(hs, dtype=emb.dtype)
            for k in range(t + 1, length):
                forget = forget * alphas[k]
            contrib = w @ ((states[t] - alphas[t] * prevs[t]) * forget)
            pos = t if d == 0 else length - 1 - t
            scores[pos] += contrib
    return scores


# ---------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    cell=st.sampled_from(["gru", "lstm"]),
    layers=st.integers(1, 3),
    bi=st.booleans(),
    double=st.booleans(),
    d=st.integers(1, 6),
    h=st.integers(1, 6),
    classes=st.integers(1, 4),
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=5),
    extra=st.integers(0, 2),
    naive=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_scores_add_up_to_logits(cell, layers, bi, double, d, h, classes, lengths, extra, naive, seed) -> None:
    dtype = torch.float64 if double else torch.float32
    rnn, head = _make(nn.GRU if cell == "gru" else nn.LSTM, d=d, h=h, layers=layers, bi=bi, classes=classes, dtype=dtype, seed=seed)
    steps = max(lengths) + extra
    emb = torch.randn(len(lengths), steps, d, dtype=dtype) * 2
    lens = torch.tensor(lengths)
    scores = reat_scores(rnn, head, emb, lens, naive=naive)
    assert scores.shape == (len(lengths), steps, classes)
    assert scores.dtype == dtype
    with torch.inference_mode():
        logits = head(final_state(rnn, emb, lens))
    tol = 1e-10 if double else 2e-5
    torch.testing.assert_close(scores.sum(1) + head.bias, logits, rtol=tol, atol=tol)
    for i, n in enumerate(lengths):
        assert torch.all(scores[i, n:] == 0)
    assert float(reat_logits_check(rnn, head, emb, lens, scores=scores).max()) <= tol * 10


@settings(max_examples=30, deadline=None)
@given(
    cell=st.sampled_from(["gru", "lstm"]),
    layers=st.integers(1, 2),
    bi=st.booleans(),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_matches_stepwise_reference(cell, layers, bi, lengths, seed) -> None:
    """The batched scores equal Eq. 13/19/22 computed literally (guards the gate choice, not just completeness)."""
    rnn, head = _make(nn.GRU if cell == "gru" else nn.LSTM, d=3, h=4, layers=layers, bi=bi, classes=2, dtype=torch.float64, seed=seed)
    emb = torch.randn(len(lengths), max(lengths), 3, dtype=torch.float64)
    scores = reat_scores(rnn, head, emb, torch.tensor(lengths))
    with torch.no_grad():
        for i, n in enumerate(lengths):
            torch.testing.assert_close(scores[i, :n], _ref_scores(rnn, head, emb[i], n), rtol=1e-9, atol=1e-10)


def test_naive_is_state_differences() -> None:
    rnn, head = _make(nn.GRU, d=3, h=4, layers=1, bi=False, classes=2, dtype=torch.float64, seed=3)
    emb = torch.randn(1, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        out, _ = rnn(emb)
    states = torch.cat([torch.zeros(1, 1, 4, dtype=torch.float64), out], 1)
    expected = (states[:, 1:] - states[:, :-1]) @ head.weight.T
    torch.testing.assert_close(reat_scores(rnn, head, emb, torch.tensor([5]), naive=True), expected)


# ---------------------------------------------------------------- hand-worked cases


def test_hand_worked_one_unit_gru() -> None:
    """z = sigmoid(0) = 0.5 always, n = tanh(x); x = atanh(0.6) twice.

    h1 = 0.5 * 0.6 = 0.3, h2 = 0.5 * 0.6 + 0.5 * 0.3 = 0.45.
    REAT: S1 = (h1 - z*0) * z2 = 0.15, S2 = h2 - z*h1 = 0.3.  Naive: S1 = 0.3, S2 = 0.15.
    """
    rnn = nn.GRU(1, 1, batch_first=True).double()
    head = nn.Linear(1, 1).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.zero_()
        rnn.weight_ih_l0[2, 0] = 1.0  # n = tanh(x + r * 0)
        head.weight.fill_(1.0)
        head.bias.fill_(0.25)
    emb = torch.full((1, 2, 1), math.atanh(0.6), dtype=torch.float64)
    lengths = torch.tensor([2])
    torch.testing.assert_close(reat_scores(rnn, head, emb, lengths)[0, :, 0], torch.tensor([0.15, 0.3], dtype=torch.float64))
    torch.testing.assert_close(reat_scores(rnn, head, emb, lengths, naive=True)[0, :, 0], torch.tensor([0.3, 0.15], dtype=torch.float64))
    # padded copy: same scores, zeros after
    padded = torch.cat([emb, torch.randn(1, 3, 1, dtype=torch.float64)], 1)
    torch.testing.assert_close(reat_scores(rnn, head, padded, lengths)[0, :, 0], torch.tensor([0.15, 0.3, 0, 0, 0], dtype=torch.float64))


def test_hand_worked_one_unit_lstm() -> None:
    """i = f = o = 0.5, g = tanh(x) = 0.8: c1 = 0.4, c2 = 0.6, h_t = 0.5 tanh(c_t).

    S1 = o2 * (tanh c1 - 0) * f2 = 0.25 tanh(0.4);  S2 = o2 * (tanh c2 - f2 tanh c1) = 0.5 (tanh .6 - .5 tanh .4).
    """
    rnn = nn.LSTM(1, 1, batch_first=True).double()
    head = nn.Linear(1, 1).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.zero_()
        rnn.weight_ih_l0[2, 0] = 1.0  # g = tanh(x)
        head.weight.fill_(1.0)
        head.bias.zero_()
    emb = torch.full((1, 2, 1), math.atanh(0.8), dtype=torch.float64)
    got = reat_scores(rnn, head, emb, torch.tensor([2]))[0, :, 0]
    expected = [0.25 * math.tanh(0.4), 0.5 * (math.tanh(0.6) - 0.5 * math.tanh(0.4))]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert math.isclose(float(got.sum()), 0.5 * math.tanh(0.6), rel_tol=1e-12)


def test_hand_worked_bigru_backward_direction() -> None:
    """Backward GRU with z = 0.5: reads x2 then x1, so x1's evidence is the last and is not forgotten."""
    rnn = nn.GRU(1, 1, batch_first=True, bidirectional=True).double()
    head = nn.Linear(2, 1).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.zero_()
        rnn.weight_ih_l0_reverse[2, 0] = 1.0
        head.weight.copy_(torch.tensor([[0.0, 1.0]]))  # read only the backward state
        head.bias.zero_()
    emb = torch.tensor([[[math.atanh(0.6)], [math.atanh(0.2)]]], dtype=torch.float64)
    # backward: h(pos1) = 0.5*0.2 = 0.1; h(pos0) = 0.5*0.6 + 0.5*0.1 = 0.35
    # S(pos0) = h(pos0) - z*h(pos1) = 0.3 ; S(pos1) = (0.1 - 0) * z(pos0) = 0.05
    got = reat_scores(rnn, head, emb, torch.tensor([2]))[0, :, 0]
    torch.testing.assert_close(got, torch.tensor([0.3, 0.05], dtype=torch.float64))


# ---------------------------------------------------------------- long inputs, errors


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
def test_long_text_stays_finite_and_exact(cls: type) -> None:
    rnn, head = _make(cls, d=4, h=5, layers=1, bi=False, classes=2, dtype=torch.float32, seed=0)
    with torch.no_grad():  # extreme gates so a naive running product of ratios would under/overflow
        rnn.bias_ih_l0.add_(torch.randn_like(rnn.bias_ih_l0) * 3)
    emb = torch.randn(1, 3000, 4) * 3
    lens = torch.tensor([3000])
    scores = reat_scores(rnn, head, emb, lens)
    assert torch.isfinite(scores).all()
    assert float(reat_logits_check(rnn, head, emb, lens, scores=scores).max()) < 1e-3


def test_empty_batch_and_bad_inputs() -> None:
    rnn, head = _make(nn.GRU, d=3, h=4, layers=1, bi=False, classes=2, dtype=torch.float32, seed=0)
    assert reat_scores(rnn, head, torch.zeros(0, 4, 3), torch.zeros(0, dtype=torch.long)).shape == (0, 4, 2)
    with pytest.raises(InputError):
        reat_scores(rnn, head, torch.zeros(1, 4, 3), torch.tensor([0]))
    with pytest.raises(InputError):
        reat_scores(rnn, head, torch.zeros(1, 4, 3), torch.tensor([5]))
    with pytest.raises(InputError):
        reat_scores(rnn, head, torch.zeros(1, 4, 2), torch.tensor([2]))
    with pytest.raises(InputError):
        reat_scores(rnn, head, torch.zeros(4, 3), torch.tensor([2]))


def test_incompatible_modules() -> None:
    rnn, head = _make(nn.GRU, d=3, h=4, layers=1, bi=False, classes=2, dtype=torch.float32, seed=0)
    with pytest.raises(IncompatibleModelError):
        reat_scores(rnn, nn.Linear(8, 2), torch.zeros(1, 2, 3), torch.tensor([2]))
    with pytest.raises(IncompatibleModelError):
        reat_scores(nn.RNN(3, 4, batch_first=True), head, torch.zeros(1, 2, 3), torch.tensor([2]))  # type: ignore[arg-type]
    with pytest.raises(IncompatibleModelError):
        reat_scores(nn.GRU(3, 4), head, torch.zeros(1, 2, 3), torch.tensor([2]))


def test_training_mode_rnn_is_explained_in_eval_semantics() -> None:
    """Inter-layer dropout never enters REAT: a module left in train mode gives eval-mode scores."""
    rnn, head = _make(nn.LSTM, d=3, h=4, layers=2, bi=False, classes=2, dtype=torch.float64, seed=1)
    emb = torch.randn(2, 4, 3, dtype=torch.float64)
    lens = torch.tensor([4, 2])
    expected = reat_scores(rnn, head, emb, lens)
    rnn.train()
    torch.testing.assert_close(reat_scores(rnn, head, emb, lens), expected)
    assert rnn.training


def test_chunked_forgetting_buffer_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Big batches build the forgetting products chunk by chunk; the result must not change."""
    import audit.attribution._reat as reat_module

    for cls in (nn.GRU, nn.LSTM):
        rnn, head = _make(cls, d=3, h=4, layers=1, bi=True, classes=2, dtype=torch.float64, seed=5)
        emb = torch.randn(7, 9, 3, dtype=torch.float64)
        lens = torch.tensor([9, 1, 4, 9, 2, 6, 3])
        whole = reat_scores(rnn, head, emb, lens)
        monkeypatch.setattr(reat_module, "_BUFFER_CELLS", 12)
        torch.testing.assert_close(reat_scores(rnn, head, emb, lens), whole, rtol=0, atol=0)
        monkeypatch.undo()
