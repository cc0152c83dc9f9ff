"""The REAT view that guides the attack: exact REAT scores and first-order swap estimates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from audit.attack import ReatView, gradient_estimator, reat_ranker
from audit.attack.estimate import RankerGuide, ReatGuide
from audit.data.vocab import PAD, UNK, Vocab
from audit.models.base import AuditModel, RecurrentClassifier

WORDS = [f"w{i}" for i in range(12)]


def random_model(arch: str, *, layers: int, bidirectional: bool, seed: int, dim: int = 6, hidden: int = 5,
                 classes: int = 3, extra: dict[str, torch.Tensor] | None = None) -> AuditModel:
    """A random GRU/LSTM classifier; ``extra`` adds words with given embeddings."""
    torch.manual_seed(seed)
    names = WORDS + sorted(extra or {})
    vocab = Vocab([PAD, UNK] + names)
    emb = nn.Embedding(len(vocab), dim)
    cls = nn.GRU if arch == "gru" else nn.LSTM
    rnn = cls(dim, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    head = nn.Linear(hidden * (2 if bidirectional else 1), classes)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(3.0)  # larger weights: gates away from 0.5, a less linear model
        for word, vec in (extra or {}).items():
            emb.weight[vocab.id(word)] = vec
    module = RecurrentClassifier(emb, rnn, head).eval()
    return AuditModel(module=module, vocab=vocab, tokenizer=str.split, labels=tuple(f"c{i}" for i in range(classes)))


CASES = list(itertools.product(("gru", "lstm"), (1, 2), (False, True)))


@pytest.mark.parametrize(("arch", "layers", "bidirectional"), CASES)
def test_view_scores_are_exact_reat_and_logits_match_the_model(arch: str, layers: int, bidirectional: bool) -> None:
    model = random_model(arch, layers=layers, bidirectional=bidirectional, seed=layers * 10 + bidirectional)
    tokens = ["w3", "w1", "w7", "w7", "w0", "w11", "w5"]
    view = ReatView(model, tokens, 0)
    logits = model.logits_tokens([tokens])[0]
    torch.testing.assert_close(view.logits, logits, atol=1e-5, rtol=0)
    assert view.log_prob == pytest.approx(float(torch.log_softmax(logits, -1)[0]), abs=1e-5)
    for target in range(3):
        scores = view.scores(target)
        np.testing.assert_allclose(scores, reat_ranker(model, tokens, target), atol=1e-5)
        assert scores.sum() + float(model.head.bias[target].detach()) == pytest.approx(float(logits[target]), abs=1e-5)


@pytest.mark.parametrize(("arch", "layers", "bidirectional"), CASES)
def test_estimate_is_first_order_exact(arch: str, layers: int, bidirectional: bool) -> None:
    """For a candidate whose embedding is the original's plus eps*d, estimate / true change -> 1 as eps -> 0."""
    torch.manual_seed(99)
    base = random_model(arch, layers=layers, bidirectional=bidirectional, seed=7)
    tokens = ["w2", "w9", "w4", "w6", "w1"]
    position = 2
    direction = torch.randn(base.embedding.weight.shape[1])
    orig = base.embedding.weight[base.vocab.id("w4")].detach()
    extra = {f"eps{k}": orig + (10.0 ** -k) * direction for k in (1, 2, 3)}
    model = random_model(arch, layers=layers, bidirectional=bidirectional, seed=7, extra=extra)
    target = 1
    view = ReatView(model, tokens, target)
    pairs = [(position, w) for w in sorted(extra)]
    est = view.estimate(pairs)
    texts = [tokens[:position] + [w] + tokens[position + 1 :] for _, w in pairs]
    with torch.no_grad():
        true = (torch.log_softmax(model.logits_tokens(texts), -1)[:, target] - view.log_prob).double().numpy()
    errors = np.abs(est - true) / np.abs(true)
    # eps 0.1, 0.01, 0.001: the relative error shrinks with eps (second-order remainder)
    assert errors[2] < 0.02 and errors[2] < errors[0], (est, true)


def test_estimate_ranks_real_swaps_better_than_the_embedding_gradient() -> None:
    """On a non-linear random LSTM, the view's estimate orders candidate swaps closer to the truth."""
    model = random_model("lstm", layers=1, bidirectional=False, seed=3)
    tokens = ["w2", "w9", "w4", "w6", "w1", "w8"]
    pairs = [(i, w) for i in range(len(tokens)) for w in WORDS if w != tokens[i]]
    texts = [tokens[:i] + [w] + tokens[i + 1 :] for i, w in pairs]
    view = ReatView(model, tokens, 0)
    with torch.no_grad():
        true = (torch.log_softmax(model.logits_tokens(texts), -1)[:, 0] - view.log_prob).numpy()

    def spearman(a: np.ndarray, b: np.ndarray) -> float:
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        return float(np.corrcoef(ra, rb)[0, 1])

    ours = spearman(view.estimate(pairs), true)
    grad = spearman(gradient_estimator(model, tokens, 0)(pairs), true)
    assert ours > 0.8 and ours > grad + 0.2, (ours, grad)


def test_guides_count_their_passes_and_keep_training_mode() -> None:
    model = random_model("gru", layers=1, bidirectional=False, seed=1)
    assert ReatGuide.passes == 1
    assert RankerGuide().passes == 1 and RankerGuide(estimator=gradient_estimator).passes == 2
    model.module.train()
    guidance = ReatGuide()(model, ["w1", "w2"], 0)
    assert guidance.estimate is not None and guidance.estimate([]).shape == (0,)
    assert all(m.training for m in model.module.modules())
