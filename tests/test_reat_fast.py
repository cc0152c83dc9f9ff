"""REAT's speed paths: length blocks of the forgetting buffer, own packing, batch composition."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import audit.attribution._reat as reat_module
from audit.attribution import reat_logits_check, reat_scores


def _make(cls: type, *, layers: int, bi: bool, dtype: torch.dtype, seed: int) -> tuple[nn.Module, nn.Linear]:
    torch.manual_seed(seed)
    rnn = cls(3, 4, num_layers=layers, bidirectional=bi, batch_first=True)
    head = nn.Linear(4 * (2 if bi else 1), 2)
    return rnn.to(dtype).eval(), head.to(dtype)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=30), cap=st.integers(1, 200))
def test_chunks_cover_every_example_once(lengths: list[int], cap: int) -> None:
    counts = torch.bincount(torch.tensor(lengths), minlength=max(lengths) + 1).tolist()
    old = reat_module._BUFFER_CELLS
    reat_module._BUFFER_CELLS = cap
    try:
        chunks = reat_module._chunks(counts, max(lengths))
    finally:
        reat_module._BUFFER_CELLS = old
    assert sum(n for n, _ in chunks) == len(lengths)
    ranked = sorted(lengths, reverse=True)
    j = 0
    for n, width in chunks:
        assert n >= 1
        assert width == ranked[j] + 1  # the block's longest text plus the leading cell
        assert all(length + 1 <= width <= (length + 1) * reat_module._SLACK for length in ranked[j : j + n])
        assert n == 1 or n * width <= cap
        j += n


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize(("layers", "bi"), [(1, False), (1, True), (2, True)])
def test_scores_do_not_depend_on_the_batch(cls: type, layers: int, bi: bool) -> None:
    """Many lengths (several length blocks, padding inside blocks): each example as if alone."""
    rnn, head = _make(cls, layers=layers, bi=bi, dtype=torch.float64, seed=3)
    lengths = torch.tensor([1, 37, 2, 5, 30, 5, 11, 1, 24, 9, 16, 3, 37, 7, 13])
    emb = torch.randn(len(lengths), 40, 3, dtype=torch.float64)
    scores = reat_scores(rnn, head, emb, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = reat_scores(rnn, head, emb[i : i + 1, :n], lengths[i : i + 1])
        torch.testing.assert_close(scores[i, :n], alone[0], rtol=1e-10, atol=1e-12)
        assert torch.all(scores[i, n:] == 0)
    assert float(reat_logits_check(rnn, head, emb, lengths, scores=scores).max()) < 1e-10


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
def test_small_blocks_give_identical_scores(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Block boundaries (slack and cell cap) change no bit of the result."""
    rnn, head = _make(cls, layers=1, bi=True, dtype=torch.float32, seed=4)
    lengths = torch.tensor([12, 1, 3, 12, 6, 2, 9, 4, 4, 7])
    emb = torch.randn(len(lengths), 12, 3)
    whole = reat_scores(rnn, head, emb, lengths)
    monkeypatch.setattr(reat_module, "_SLACK", 1.0)
    monkeypatch.setattr(reat_module, "_BUFFER_CELLS", 5)
    torch.testing.assert_close(reat_scores(rnn, head, emb, lengths), whole, rtol=0, atol=0)


def test_input_is_not_modified_and_noncontiguous_embeddings_work() -> None:
    rnn, head = _make(nn.GRU, layers=1, bi=True, dtype=torch.float64, seed=5)
    emb = torch.randn(6, 3, 8, dtype=torch.float64).transpose(1, 2)  # (6, 8, 3), not contiguous
    before = emb.clone()
    lengths = torch.tensor([8, 2, 5, 1, 8, 3])
    scores = reat_scores(rnn, head, emb, lengths)
    torch.testing.assert_close(emb, before, rtol=0, atol=0)
    torch.testing.assert_close(scores, reat_scores(rnn, head, emb.contiguous(), lengths), rtol=0, atol=0)
    assert float(reat_logits_check(rnn, head, emb, lengths, scores=scores).max()) < 1e-10
