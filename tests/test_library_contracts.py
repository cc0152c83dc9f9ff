"""Loud checks of the few third-party behaviours reat-audit relies on beyond their plain public calls.

Each one guards exactly one small wrapper; when a library release changes the behaviour, the
test names the wrapper to fix instead of letting attributions silently go wrong.
(typer/click: tests/test_cli_contract.py::test_parser_exception_classes_are_typers_own.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audit.attribution._reat import _sub_rnn, rnn_weight_names
from audit.attribution.methods import _WeightedRidge


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sub_rnn_shares_the_weights_of_each_layer(cls: type[nn.GRU] | type[nn.LSTM], bidirectional: bool) -> None:
    """audit.attribution._reat.rnn_weight_names / _sub_rnn: assigned weights drive the forward pass."""
    torch.manual_seed(0)
    rnn = cls(5, 4, num_layers=3, batch_first=True, bidirectional=bidirectional).eval()
    names = rnn_weight_names(rnn)
    per_layer = 4 * (2 if bidirectional else 1)
    assert len(names) == 3 * per_layer and "weight_ih_l2" in names
    assert all(n.startswith(("weight_", "bias_")) for n in names)
    x = torch.randn(2, 6, 5)
    with torch.no_grad():
        full, _ = rnn(x)
        h = x
        for layer in range(3):
            h, _ = _sub_rnn(rnn, layer, 1)(h)
        tail, _ = _sub_rnn(rnn, 1, 2)(_sub_rnn(rnn, 0, 1)(x)[0])
    torch.testing.assert_close(h, full)
    torch.testing.assert_close(tail, full)
    sub = _sub_rnn(rnn, 2, 1)
    assert sub.weight_hh_l0 is rnn.weight_hh_l2  # shared, not copied
    y = torch.randn(2, 6, sub.input_size)
    with torch.no_grad():
        before, _ = sub(y)
        rnn.weight_hh_l2.mul_(0.5)  # an in-place change of the original reaches the sub-module
        after, _ = sub(y)
    assert not torch.allclose(before, after)


class _Recording(_WeightedRidge):
    def __init__(self, alpha: float) -> None:
        super().__init__(alpha)
        self.batches: list[int] = []
        self.represented = 0

    def fit(self, train_data, **kwargs):  # noqa: ANN001, ANN201
        for batch in train_data:
            self.batches.append(len(batch))
        return super().fit(train_data, **kwargs)

    def representation(self) -> torch.Tensor:
        self.represented += 1
        return super().representation()


def test_captum_lime_drives_the_interpretable_model_as_documented() -> None:
    """audit.attribution.methods._WeightedRidge: captum Lime calls fit(DataLoader of (x, y, w)), then
    representation(); a linear forward's LIME attributions are its coefficients."""
    from captum.attr import Lime

    coef = torch.tensor([[0.5, -2.0, 1.5, 0.0]])

    def forward(x: torch.Tensor) -> torch.Tensor:
        return (x * coef).sum(-1, keepdim=True)

    surrogate = _Recording(1e-6)
    attr = Lime(forward, interpretable_model=surrogate).attribute(
        torch.ones(1, 4), baselines=torch.zeros(1, 4), target=0, n_samples=64,
        feature_mask=torch.arange(4).view(1, 4))
    assert surrogate.batches and set(surrogate.batches) == {3}, "fit() no longer gets (inputs, outputs, weights)"
    assert surrogate.represented == 1
    torch.testing.assert_close(attr, coef, atol=1e-3, rtol=1e-3)
