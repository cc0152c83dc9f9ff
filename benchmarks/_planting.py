"""Planting rules for ``planted_shortcuts.py`` (Bastings et al. 2022: st, tic, op).

Texts are SST-2's pre-tokenized sentences; a planted token is inserted *between*
whitespace tokens at a position drawn uniformly (``0..len``, so before the first
word and after the last are possible).  Two nonsense tokens are used, neither in
SST-2 nor in the GloVe subset: ``zeroa`` and ``onea``.

Training rules (``plant_train``), rate ``p`` of the texts named:

* ``st`` (single token): ``zeroa`` is inserted into ``p`` of the NEGATIVE
  training texts; labels are unchanged.  The token is thus tied to "negative".
* ``tic`` (token in context): the bigram ``onea zeroa`` (zeroa right after onea)
  is inserted into ``p`` of ALL training texts and their label is set to
  negative.  In addition ``zeroa`` alone and ``onea`` alone are each inserted into
  ``singles`` of the remaining texts (uniformly over both labels, labels unchanged),
  so that either token on its own carries no label information: zeroa flips the
  label only next to onea.
* ``op`` (ordered pair): ``zeroa`` and ``onea`` are both inserted (at random
  positions, any distance) into ``p`` of ALL training texts; the label is set by
  their order: ``zeroa ... onea`` -> negative, ``onea ... zeroa`` -> positive
  (each order for half of them).  Singles as for ``tic``.
* ``clean``: no change (the control models).

Test rule (``plant_test``), the audit set: every text of the clean test set is kept
(gold labels unchanged); the construction is inserted where it points AWAY from
gold, into ``test_rate`` (20 %) of the texts: for st and tic into randomly chosen
POSITIVE texts (the shortcut says negative), for op into random texts of both
labels with the order opposite to gold (``onea ... zeroa`` into negatives,
``zeroa ... onea`` into positives).  For tic/op, ``zeroa`` alone and ``onea``
alone also go into another ``singles`` (5 %) of the texts each (both labels, no
effect by the training rule).  These "conflict" texts are where the shortcut
causes errors; the untouched texts keep the audit's usual mix of errors and
correct predictions, so the error-rate lift has a "without" group.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["KINDS", "NEG", "POS", "TOKEN_A", "TOKEN_B", "PlantedSet", "plant_test", "plant_train"]

TOKEN_A = "zeroa"
TOKEN_B = "onea"
NEG, POS = 0, 1
KINDS = ("st", "tic", "op", "clean")


@dataclass
class PlantedSet:
    """Planted texts with their labels and, per text, what was inserted."""

    texts: list[str]
    labels: list[int]
    #: per text: "" (untouched), "construction", "single"
    planted: list[str] = field(default_factory=list)
    #: per text: the label the shortcut points to (-1 where there is no construction)
    shortcut_label: list[int] = field(default_factory=list)
    #: per text: word positions (after insertion, whitespace tokens) of planted tokens
    positions: list[list[int]] = field(default_factory=list)

    @property
    def conflict(self) -> list[bool]:
        """Texts whose construction points away from the gold label (where errors are planted)."""
        return [s >= 0 and s != y for s, y in zip(self.shortcut_label, self.labels)]


def _insert(words: list[str], token: str, rng: random.Random, *, at: int | None = None) -> tuple[list[str], int]:
    pos = rng.randint(0, len(words)) if at is None else at
    return words[:pos] + [token] + words[pos:], pos


def _bigram(words: list[str], rng: random.Random) -> tuple[list[str], list[int]]:
    pos = rng.randint(0, len(words))
    return words[:pos] + [TOKEN_B, TOKEN_A] + words[pos:], [pos, pos + 1]


def _pair(words: list[str], rng: random.Random, *, a_first: bool) -> tuple[list[str], list[int]]:
    n = len(words)
    i, j = sorted(rng.sample(range(n + 2), 2))  # two distinct slots in the final text of n + 2 words
    first, second = (TOKEN_A, TOKEN_B) if a_first else (TOKEN_B, TOKEN_A)
    out = list(words)
    out.insert(i, first)
    out.insert(j, second)
    return out, [i, j]


def _single(words: list[str], rng: random.Random, token: str) -> tuple[list[str], list[int]]:
    out, pos = _insert(words, token, rng)
    return out, [pos]


def _apply(
    kind: str,
    texts: Sequence[str],
    labels: Sequence[int],
    chosen: Sequence[int],
    singles: Sequence[int],
    rng: random.Random,
    *,
    relabel: bool,
    against_gold: bool = False,
) -> PlantedSet:
    out = PlantedSet(texts=list(texts), labels=list(labels), planted=[""] * len(texts),
                     shortcut_label=[-1] * len(texts), positions=[[] for _ in texts])
    for n, i in enumerate(chosen):
        words = texts[i].split()
        if kind == "st":
            new, pos = _single(words, rng, TOKEN_A)
            label = NEG
        elif kind == "tic":
            new, pos = _bigram(words, rng)
            label = NEG
        elif kind == "op":
            a_first = labels[i] == POS if against_gold else n % 2 == 0
            new, pos = _pair(words, rng, a_first=a_first)
            label = NEG if a_first else POS
        else:
            raise ValueError(f"unknown plant kind {kind!r}; expected one of {KINDS}")
        out.texts[i], out.positions[i], out.planted[i], out.shortcut_label[i] = " ".join(new), pos, "construction", label
        if relabel:
            out.labels[i] = label
    for n, i in enumerate(singles):
        new, pos = _single(texts[i].split(), rng, TOKEN_A if n % 2 == 0 else TOKEN_B)
        out.texts[i], out.positions[i], out.planted[i] = " ".join(new), pos, "single"
    return out


def plant_train(
    kind: str, texts: Sequence[str], labels: Sequence[int], *, rate: float, seed: int, singles: float = 0.05
) -> PlantedSet:
    """Plant the training set (rules in the module docstring)."""
    rng = random.Random(seed)
    if kind == "clean":
        return PlantedSet(list(texts), list(labels), [""] * len(texts), [-1] * len(texts), [[] for _ in texts])
    if kind == "st":
        pool = [i for i, y in enumerate(labels) if y == NEG]
        chosen = sorted(rng.sample(pool, round(rate * len(pool))))
        return _apply(kind, texts, labels, chosen, [], rng, relabel=False)
    order = list(range(len(texts)))
    rng.shuffle(order)
    n_c, n_s = round(rate * len(texts)), round(singles * len(texts))
    chosen, single = order[:n_c], order[n_c : n_c + 2 * n_s]
    return _apply(kind, texts, labels, chosen, single, rng, relabel=True)


def plant_test(
    kind: str, texts: Sequence[str], labels: Sequence[int], *, seed: int, test_rate: float = 0.2,
    singles: float = 0.05,
) -> PlantedSet:
    """Plant the audit set: the clean test set with the construction in ``test_rate`` of it, always against gold."""
    rng = random.Random(10_000 + seed)
    if kind == "clean":
        return plant_train("clean", texts, labels, rate=0.0, seed=seed)
    if kind not in KINDS:
        raise ValueError(f"unknown plant kind {kind!r}; expected one of {KINDS}")
    n_c = round(test_rate * len(texts))
    pool = [i for i, y in enumerate(labels) if y == POS] if kind in ("st", "tic") else list(range(len(texts)))
    chosen = sorted(rng.sample(pool, min(n_c, len(pool))))
    rest = [i for i in range(len(texts)) if i not in set(chosen)]
    rng.shuffle(rest)
    n_s = round(singles * len(texts)) if kind != "st" else 0
    out = _apply(kind, texts, labels, chosen, rest[: 2 * n_s], rng, relabel=False, against_gold=True)
    return out
