"""Auditing a user's own model through ``module:function`` (examples/own_model.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from audit.errors import IncompatibleModelError, ModelError
from audit.models.adapter import ModelParts, to_audit_model
from audit.models.io import load_model, load_model_ref, save_model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_model.py"


def test_example_own_model_loads_and_agrees(tmp_path: Path, one_thread: None) -> None:
    model = load_model_ref(f"{EXAMPLE}:build_for_audit")
    assert model.labels == ("negative", "positive")
    assert model.vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert model.tokenize("The film was great.") == ["the", "film", "was", "great", "."]
    probs = model.predict_proba(["the film was great .", "a dull plot ."])
    assert probs.argmax(-1).tolist() == [1, 0]

    # Same logits as the user's own module, despite the reordered vocabulary.
    import importlib.util

    spec = importlib.util.spec_from_file_location("own_model_for_test", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    user = mod.build_model()  # seeded: the same weights the adapter saw
    ids = torch.tensor([[mod.STOI[w] for w in ["the", "film", "was", "great", "."]]])
    expected = user(ids, torch.tensor([5]))
    assert torch.allclose(model.logits_tokens([["the", "film", "was", "great", "."]]), expected, atol=1e-6)

    # And it can be saved as a reference model directory.
    loaded = load_model(save_model(model, tmp_path / "own"))
    assert torch.equal(loaded.predict_proba_tokens([["a", "dull", "plot"]]), model.predict_proba_tokens([["a", "dull", "plot"]]))


class MeanPooled(nn.Module):
    """Head reads mean-pooled states: same width as the final state, different function."""

    def __init__(self, head_in: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(6, 4)
        self.rnn = nn.GRU(4, 5, batch_first=True)
        self.head = nn.Linear(head_in, 2)
        self.labels = ("neg", "pos")
        self.vocab = ["<pad>", "<unk>", "a", "b", "c", "d"]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(ids))
        pooled = out.mean(1)
        if self.head.in_features != pooled.shape[-1]:
            pooled = torch.cat([pooled, out.max(1).values], -1)
        return self.head(pooled)


def test_pooled_head_is_incompatible_by_probe() -> None:
    with pytest.raises(IncompatibleModelError, match="pooled"):
        to_audit_model(MeanPooled(), source="tests:MeanPooled")


def test_pooled_head_is_incompatible_by_width() -> None:
    with pytest.raises(IncompatibleModelError, match="reads 10 features"):
        to_audit_model(MeanPooled(head_in=10), source="tests:MeanPooled")


def test_parts_without_forward_and_bad_parts() -> None:
    m = MeanPooled()
    parts = ModelParts(embedding=m.embedding, rnn=m.rnn, head=m.head, labels=m.labels, vocab=m.vocab)
    model = to_audit_model(parts)  # no forward given: nothing to probe, accepted
    assert model.predict_proba(["a b"]).shape == (1, 2)
    with pytest.raises(IncompatibleModelError, match="GRU or torch.nn.LSTM"):
        to_audit_model(ModelParts(embedding=m.embedding, rnn=nn.RNN(4, 5, batch_first=True), head=m.head, labels=m.labels, vocab=m.vocab))
    with pytest.raises(ModelError, match="3 labels"):
        to_audit_model(ModelParts(embedding=m.embedding, rnn=m.rnn, head=m.head, labels=("a", "b", "c"), vocab=m.vocab))
    with pytest.raises(ModelError, match="no '<pad>'"):
        to_audit_model(ModelParts(embedding=m.embedding, rnn=m.rnn, head=m.head, labels=m.labels, vocab=["x", "y", "z"]))


def test_bad_references() -> None:
    with pytest.raises(ModelError, match="cannot import"):
        load_model_ref("no_such_module_xyz:build")
    with pytest.raises(ModelError, match="no function"):
        load_model_ref(f"{EXAMPLE}:no_such_function")
