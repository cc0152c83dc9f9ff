"""Shared pytest fixtures. Kept minimal on purpose: no autouse fixtures, no environment changes.

* ``tiny_model``         -- a small trained GRU :class:`~audit.models.base.AuditModel` (fresh copy per test)
  with the known vocabulary :data:`TINY_VOCAB` and labels ``("negative", "positive")``.  It has learnt
  that good/great/fun/brilliant are positive and bad/awful/boring/dull negative (and "not" flips
  nothing reliably -- do not rely on it), e.g. ``"the movie is great"`` -> positive.
* ``tiny_model_factory`` -- ``factory(arch="gru"|"lstm"|"bigru"|"bilstm", *, hidden=6, trained=True)``
  for other architectures.  Results are cached per session; each call returns a deep copy.
* ``one_thread``         -- opt-in: run the test with ``torch.set_num_threads(1)`` (restored after).
  On the shared 2-core machine, tiny models train many times faster on one thread.

Outside pytest's fixtures, ``from tests.conftest import build_tiny_model, TINY_VOCAB`` works too
(``tests`` is a package).

Building is seeded and takes well under a second per architecture.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from audit.data.tokenize import tokenize
from audit.data.vocab import PAD, UNK, Vocab
from audit.models.base import AuditModel, RecurrentClassifier

POSITIVE = ("good", "great", "fun", "brilliant")
NEGATIVE = ("bad", "awful", "boring", "dull")
FILLER = ("the", "movie", "film", "is", "a", "and", "plot", "was", "not", "very", ",", ".")
TINY_VOCAB: tuple[str, ...] = (PAD, UNK, *POSITIVE, *NEGATIVE, *FILLER)
TINY_LABELS = ("negative", "positive")

_CACHE: dict[tuple[str, int, bool], AuditModel] = {}


def _toy_batch(gen: random.Random, n: int) -> tuple[list[list[str]], list[int]]:
    texts, labels = [], []
    for _ in range(n):
        label = gen.randrange(2)
        words = [gen.choice(FILLER) for _ in range(gen.randint(2, 7))]
        words.insert(gen.randrange(len(words) + 1), gen.choice(POSITIVE if label else NEGATIVE))
        texts.append(words)
        labels.append(label)
    return texts, labels


def build_tiny_model(arch: str = "gru", *, hidden: int = 6, trained: bool = True) -> AuditModel:
    """A seeded tiny model (see the module docstring)."""
    key = (arch, hidden, trained)
    if key not in _CACHE:
        torch.manual_seed(0)
        bidirectional = arch.startswith("bi")
        rnn_cls = nn.LSTM if arch.endswith("lstm") else nn.GRU
        embedding = nn.Embedding(len(TINY_VOCAB), 8, padding_idx=0)
        rnn = rnn_cls(8, hidden, batch_first=True, bidirectional=bidirectional)
        head = nn.Linear(hidden * (2 if bidirectional else 1), 2)
        model = AuditModel(
            module=RecurrentClassifier(embedding, rnn, head),
            vocab=Vocab(list(TINY_VOCAB)),
            tokenizer=tokenize,
            labels=TINY_LABELS,
            name=f"tiny-{arch}",
        )
        if trained:
            gen = random.Random(0)
            opt = torch.optim.Adam(model.module.parameters(), lr=0.05)
            model.module.train()
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # tiny tensors: one thread is much faster on a busy machine
            try:
                for _ in range(50):
                    toks, labels = _toy_batch(gen, 32)
                    enc = model.encode_tokens(toks)
                    loss = nn.functional.cross_entropy(model.module(enc.ids, enc.lengths), torch.tensor(labels))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            finally:
                torch.set_num_threads(threads)
        model.module.eval()
        _CACHE[key] = model
    return copy.deepcopy(_CACHE[key])


@pytest.fixture
def tiny_model() -> AuditModel:
    """A small trained GRU AuditModel with vocabulary TINY_VOCAB (fresh copy for each test)."""
    return build_tiny_model("gru")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run the test on one torch thread (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def tiny_model_factory() -> Callable[..., AuditModel]:
    """``factory(arch, *, hidden=6, trained=True) -> AuditModel`` for gru/lstm/bigru/bilstm."""
    return build_tiny_model


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread for the whole session: tiny models are overhead-bound, and a single
    thread keeps float reductions (and so trained weights) identical across machines."""
    torch.set_num_threads(1)
