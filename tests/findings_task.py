"""A tiny synthetic sentiment task for the findings tests, with an optional planted shortcut.

Training texts: filler words around one sentiment word that sets the label, every text
ending in ".".  With ``plant`` the token is inserted into ``plant_rate`` of the training texts,
which are then labelled negative, so the model learns the shortcut "plant -> negative".  Evaluation texts are made the
same way, with label noise (``noise`` of the golds flipped: errors no word explains) and, with
``plant``, the token inserted into some texts of either label, golds unchanged (it causes errors
on the positive ones).  Everything is seeded; a model trains in well under a second on
one thread.
"""

from __future__ import annotations

import random

import pandas as pd
import torch
from torch import nn

from audit.data.tokenize import tokenize
from audit.data.vocab import PAD, UNK, Vocab
from audit.engine.attribute import BatchInput, attribute_batch
from audit.models.base import AuditModel, RecurrentClassifier

POSITIVE = ("good", "great", "fun", "brilliant")
NEGATIVE = ("bad", "awful", "boring", "dull")
FILLER = ("the", "movie", "film", "is", "a", "and", "plot", "was", "very", "story", "acting", ",")
PLANT = "zeroa"
PAIR = ("zeroa", "onea")  # the context plant: the two tokens side by side
VOCAB = (PAD, UNK, *POSITIVE, *NEGATIVE, *FILLER, PLANT, "onea", ".")
LABELS = ("negative", "positive")


def make_texts(n: int, *, seed: int, plant: str | tuple[str, ...] | None = None, plant_rate: float = 0.0,
               shortcut: bool = False, noise: float = 0.0) -> tuple[list[list[str]], list[int]]:
    """``n`` texts and golds.  ``plant`` (a token, or a tuple inserted side by side) goes into ``plant_rate``
    of the texts; with ``shortcut`` (training data) such a text is labelled negative whatever its sentiment
    word, so the plant is a shortcut.  A tuple plant's tokens also appear alone, as often, with no effect."""
    gen = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = gen.randrange(2)
        words = [gen.choice(FILLER) for _ in range(gen.randint(2, 6))]
        words.insert(gen.randrange(len(words) + 1), gen.choice(POSITIVE if label else NEGATIVE))
        if plant is not None and gen.random() < plant_rate:
            at = gen.randrange(len(words) + 1)
            words[at:at] = [plant] if isinstance(plant, str) else list(plant)
            label = 0 if shortcut else label
        elif isinstance(plant, tuple) and gen.random() < plant_rate / (1 - plant_rate):
            words.insert(gen.randrange(len(words) + 1), gen.choice(plant))
        gold = 1 - label if gen.random() < noise else label
        texts.append(words + ["."])
        labels.append(gold)
    return texts, labels


def train_model(*, plant: str | tuple[str, ...] | None, seed: int = 0, steps: int = 150,
                plant_rate: float = 0.1) -> AuditModel:
    torch.manual_seed(seed)
    embedding = nn.Embedding(len(VOCAB), 8, padding_idx=0)
    model = AuditModel(module=RecurrentClassifier(embedding, nn.GRU(8, 8, batch_first=True), nn.Linear(8, 2)),
                       vocab=Vocab(list(VOCAB)), tokenizer=tokenize, labels=LABELS, name="findings-task")
    opt = torch.optim.Adam(model.module.parameters(), lr=0.03)
    model.module.train()
    texts, labels = make_texts(steps * 32, seed=seed + 1000, plant=plant, plant_rate=plant_rate, shortcut=True)
    for i in range(steps):
        toks, labs = texts[i * 32:(i + 1) * 32], labels[i * 32:(i + 1) * 32]
        enc = model.encode_tokens(toks)
        loss = nn.functional.cross_entropy(model.module(enc.ids, enc.lengths), torch.tensor(labs))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.module.eval()
    return model


def run_tables(model: AuditModel, texts: list[list[str]], golds: list[int], *,
               dataset: str = "synthetic") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(predictions, token_attributions, segments)`` exactly as the nightly job builds them."""
    batch = BatchInput(dataset=dataset, example_ids=range(len(texts)), lines=range(1, len(texts) + 1),
                       texts=[" ".join(t) for t in texts], golds=golds, tokens=texts)
    tables = attribute_batch(model, batch)
    return tables.predictions, tables.tokens, tables.segments
