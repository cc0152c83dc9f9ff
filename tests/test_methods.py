"""Attribution methods: one conformance matrix every method passes, plus method-specific checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audit.attribution import METHODS, Attribution, explain, get_method
from audit.data.vocab import Vocab
from audit.errors import IncompatibleModelError, InputError
from audit.models.base import AuditModel, RecurrentClassifier, eval_mode, final_state

WORDS = ["<pad>", "<unk>", "the", "movie", "is", "great", "bad", "not", "good", ",", "but", "."]
TEXTS = [["the", "movie", "is", "great"], ["not", "good", ",", "but", "bad", "."], ["zzz"]]
FAST = {"integrated_gradients": {"n_steps": 8}, "lime": {"n_samples": 40}}


def make_model(arch: str = "gru", *, seed: int = 0, classes: int = 2) -> AuditModel:
    torch.manual_seed(seed)
    cls = nn.LSTM if "lstm" in arch else nn.GRU
    bi = arch.startswith("bi")
    module = RecurrentClassifier(
        nn.Embedding(len(WORDS), 5, padding_idx=0),
        cls(5, 4, batch_first=True, bidirectional=bi),
        nn.Linear(4 * (2 if bi else 1), classes),
    )
    labels = ("negative", "positive", "neutral")[:classes]
    return AuditModel(module=module, vocab=Vocab(WORDS), tokenizer=str.split, labels=labels)


@pytest.fixture(scope="module")
def model() -> AuditModel:
    return make_model("bigru")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_conformance(name: str, model: AuditModel) -> None:
    method = get_method(name, **FAST.get(name, {}))
    out = method.attribute(model, TEXTS)
    assert len(out) == len(TEXTS)
    predicted = model.logits_tokens(TEXTS).argmax(-1).tolist()
    for att, toks, pred in zip(out, TEXTS, predicted):
        assert isinstance(att, Attribution)
        assert att.tokens == toks and att.method == name
        assert att.scores.shape == (len(toks),) and np.isfinite(att.scores).all()
        assert att.target == pred  # default target: the predicted class
        assert att.logit is not None and np.isfinite(att.logit)
    # explicit targets change the target and are deterministic
    flipped = [1 - p for p in predicted]
    first = method.attribute(model, TEXTS, targets=flipped)
    again = get_method(name, **FAST.get(name, {})).attribute(model, TEXTS, targets=flipped)
    assert [a.target for a in first] == flipped
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.scores, b.scores)
    for bad in ([2, 0, 0], [-1, 0, 0], [0, 0]):
        with pytest.raises(InputError):
            method.attribute(model, TEXTS, targets=bad)
    with pytest.raises(InputError):
        method.attribute(model, [[]])


@pytest.mark.parametrize("arch", ["gru", "lstm", "bigru", "bilstm"])
@pytest.mark.parametrize("name", ["reat", "naive_reat"])
def test_reat_methods_are_complete(arch: str, name: str) -> None:
    model = make_model(arch, classes=3)
    for target in range(3):
        for att in get_method(name).attribute(model, TEXTS, targets=[target] * len(TEXTS)):
            assert att.completeness_delta is not None and att.completeness_delta < 1e-5
            assert att.scores.sum() + att.bias == pytest.approx(att.logit, abs=1e-5)


def test_target_direction_for_two_classes(model: AuditModel) -> None:
    """With two classes, REAT scores toward class 1 minus toward class 0 is W1 - W0 applied to the same evidence."""
    a0, a1 = (get_method("reat").attribute(model, TEXTS[:1], targets=[t])[0] for t in (0, 1))
    assert not np.allclose(a0.scores, a1.scores)


def test_vanilla_grad_is_nonnegative_and_ig_completeness(model: AuditModel) -> None:
    grads = get_method("vanilla_grad").attribute(model, TEXTS)
    assert all((g.scores >= 0).all() for g in grads)
    ig = get_method("integrated_gradients", n_steps=64).attribute(model, TEXTS[:1], targets=[1])[0]
    # IG sums to f(x) - f(baseline); baseline = zero embeddings
    with torch.no_grad():
        base = model.head(final_state(model.rnn, torch.zeros(1, 4, 5), torch.tensor([4])))[0, 1]
    assert ig.scores.sum() == pytest.approx(ig.logit - float(base), abs=2e-2)


def test_lime_options_and_seed(model: AuditModel) -> None:
    a = get_method("lime", n_samples=30, seed=1).attribute(model, TEXTS[:2])
    b = get_method("lime", n_samples=30, seed=2).attribute(model, TEXTS[:2])
    assert not np.allclose(a[1].scores, b[1].scores)
    with pytest.raises(InputError):
        get_method("lime", n_samples=1)
    with pytest.raises(InputError):
        get_method("lime", bogus=3)
    with pytest.raises(InputError):
        get_method("shap")


class _PooledClassifier(RecurrentClassifier):
    """A model whose head reads the mean of the states, not the final state."""

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(ids))
        return self.head(out.mean(1))


def test_head_not_reading_final_state_is_rejected() -> None:
    base = make_model("gru")
    pooled = _PooledClassifier(base.module.embedding, base.module.rnn, base.module.head)
    model = AuditModel(module=pooled, vocab=base.vocab, tokenizer=str.split, labels=base.labels)
    with pytest.raises(IncompatibleModelError, match="final hidden state"):
        get_method("reat").attribute(model, TEXTS[:2])


def test_explain_end_to_end_and_bad_input(model: AuditModel) -> None:
    exp = explain(model, "the movie is great , but bad", levels=("word", "clause"))
    assert exp.tokens == ["the", "movie", "is", "great", ",", "but", "bad"]
    assert exp.label in model.labels and exp.probabilities.sum() == pytest.approx(1.0)
    assert exp.target == exp.prediction and exp.completeness_delta < 1e-5
    assert [s.text for s in exp.hierarchy["clause"]] == ["the movie is great ,", "but bad"]
    d = exp.to_dict()
    assert set(d) >= {"tokens", "scores", "target", "logit", "bias", "completeness_delta", "levels"}
    oov = explain(model, "qqq zzz", target="positive", levels=("word",))
    assert oov.oov == [True, True] and oov.target == 1
    assert oov.scores.sum() + oov.bias == pytest.approx(oov.logit, abs=1e-5)
    ig = explain(model, "the movie is bad", method="grad_input", levels=("word",))
    assert ig.completeness_delta is None and ig.method == "grad_input"
    for bad_text in ("", "   "):
        with pytest.raises(InputError):
            explain(model, bad_text)
    for bad_target in (5, "awesome", -1):
        with pytest.raises(InputError):
            explain(model, "great", target=bad_target)


@pytest.mark.parametrize("name", ["reat", "vanilla_grad", "lime"])
def test_attribution_keeps_the_callers_training_mode(name: str) -> None:
    model = make_model("gru")
    model.module.train()
    get_method(name, **FAST.get(name, {})).attribute(model, TEXTS[:2])
    model.predict_proba_tokens(TEXTS[:2])
    model.predict_proba(["the movie is great"])
    assert all(m.training for m in model.module.modules())


def test_eval_mode_restores_each_submodule_flag() -> None:
    model = make_model("gru")
    model.module.train()
    model.module.head.eval()  # mixed flags come back exactly as they were
    with eval_mode(model.module) as m:
        assert m is model.module and not any(x.training for x in model.module.modules())
    assert model.module.training and model.module.rnn.training and not model.module.head.training
    with pytest.raises(RuntimeError), eval_mode(model.module):
        raise RuntimeError("boom")
    assert model.module.training and not model.module.head.training
