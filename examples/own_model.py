"""Example: audit a GRU sentiment classifier you built yourself.

Your model keeps its own code, vocabulary and tokenizer.  To audit it, write a
function with no arguments that returns :class:`audit.models.adapter.ModelParts`
and point reat-audit at it::

    audit predict --model examples/own_model.py:build_for_audit --text "a great movie"
    # or, when the module is importable:  --model mypkg.sentiment:build_for_audit

``build_for_audit`` loads trained weights from the safetensors file named by
``OWN_MODEL_WEIGHTS`` when that is set.  Without it the model is built from a fixed
seed and *briefly trained on a toy task* (a few hundred milliseconds) so the
example runs anywhere.  See docs/own-model.md.
"""

from __future__ import annotations

import os
import random

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from audit.models.adapter import ModelParts

LABELS = ("negative", "positive")
# The user's own vocabulary: note it does *not* start with <pad>, <unk>; the adapter reorders it.
WORDS = ["the", "movie", "is", "a", "film", "plot", "was", "and", "very", ".", ",",
         "good", "great", "fun", "brilliant", "bad", "awful", "boring", "dull", "[PAD]", "[UNK]"]
STOI = {w: i for i, w in enumerate(WORDS)}


def simple_tokenizer(text: str) -> list[str]:
    """The user's tokenizer (here: lowercase + split off full stops and commas)."""
    return text.lower().replace(".", " . ").replace(",", " , ").split()


class SentimentGRU(nn.Module):
    """A typical hand-written classifier: embedding -> GRU -> linear on the last hidden state."""

    def __init__(self, vocab_size: int, dim: int = 16, hidden: int = 12) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, len(LABELS))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.emb(ids), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)
        return self.fc(h_n[-1])


def _toy_train(model: SentimentGRU, *, steps: int = 30) -> None:
    gen = random.Random(0)
    filler = WORDS[:11]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        rows, labels = [], []
        for _ in range(16):
            label = gen.randrange(2)
            words = [gen.choice(filler) for _ in range(gen.randint(2, 6))]
            words.insert(gen.randrange(len(words) + 1), gen.choice(WORDS[11:15] if label else WORDS[15:19]))
            rows.append([STOI[w] for w in words])
            labels.append(label)
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), STOI["[PAD]"])
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        loss = nn.functional.cross_entropy(model(ids, lengths), torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()


def build_model() -> SentimentGRU:
    """Build (and load or toy-train) the user's model."""
    torch.manual_seed(0)
    model = SentimentGRU(len(WORDS))
    weights = os.environ.get("OWN_MODEL_WEIGHTS")
    if weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(weights))
    else:
        _toy_train(model)
    return model.eval()


def build_for_audit() -> ModelParts:
    """The function reat-audit calls: expose the parts REAT needs."""
    model = build_model()
    return ModelParts(
        embedding=model.emb,
        rnn=model.gru,
        head=model.fc,
        labels=LABELS,
        vocab=STOI,
        pad_token="[PAD]",
        unk_token="[UNK]",
        tokenizer=simple_tokenizer,
        forward=model.forward,  # optional: lets reat-audit check that the parts reproduce your model
        name="own-gru",
    )
