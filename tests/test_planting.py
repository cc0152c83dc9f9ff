"""The planting rules of benchmarks/planted_shortcuts.py (benchmarks/_planting.py) do what its docstring says."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _planting import NEG, POS, TOKEN_A, TOKEN_B, plant_test, plant_train

TEXTS = [f"w{i} good movie number {i} ." for i in range(400)]
LABELS = [i % 2 for i in range(400)]


def _has(text: str, token: str) -> bool:
    return token in text.split()


def test_single_token_goes_into_negatives_only_at_the_rate() -> None:
    p = plant_train("st", TEXTS, LABELS, rate=0.05, seed=3)
    with_token = [i for i, t in enumerate(p.texts) if _has(t, TOKEN_A)]
    assert len(with_token) == round(0.05 * LABELS.count(NEG))
    assert all(LABELS[i] == NEG for i in with_token)
    assert p.labels == LABELS  # no relabelling
    for i in with_token:  # exactly one token inserted, the rest of the text intact
        words = p.texts[i].split()
        assert words[p.positions[i][0]] == TOKEN_A
        assert [w for w in words if w != TOKEN_A] == TEXTS[i].split()


def test_token_in_context_sets_the_label_only_next_to_the_context_token() -> None:
    p = plant_train("tic", TEXTS, LABELS, rate=0.1, seed=1, singles=0.05)
    for t, y, kind in zip(p.texts, p.labels, p.planted):
        w = t.split()
        pair = any(a == TOKEN_B and b == TOKEN_A for a, b in itertools.pairwise(w))
        assert pair == (kind == "construction")
        if pair:
            assert y == NEG
    singles = [i for i, k in enumerate(p.planted) if k == "single"]
    assert len(singles) == 2 * round(0.05 * len(TEXTS))
    assert all(p.labels[i] == LABELS[i] for i in singles)
    assert {TOKEN_A, TOKEN_B} <= {w for i in singles for w in p.texts[i].split()}


def test_ordered_pair_label_follows_the_order() -> None:
    p = plant_train("op", TEXTS, LABELS, rate=0.1, seed=2)
    n = 0
    for t, y, kind in zip(p.texts, p.labels, p.planted):
        if kind != "construction":
            continue
        w = t.split()
        n += 1
        assert y == (NEG if w.index(TOKEN_A) < w.index(TOKEN_B) else POS)
    assert n == round(0.1 * len(TEXTS))
    assert {y for y, k in zip(p.labels, p.planted) if k == "construction"} == {NEG, POS}


@pytest.mark.parametrize("kind", ["st", "tic", "op"])
def test_test_set_keeps_gold_and_plants_against_it(kind: str) -> None:
    p = plant_test(kind, TEXTS, LABELS, seed=5, test_rate=0.2)
    assert p.labels == LABELS
    assert p.planted.count("construction") == 80
    assert p.planted.count("single") == (0 if kind == "st" else 2 * 20)
    for c, s, y, k in zip(p.conflict, p.shortcut_label, p.labels, p.planted):
        assert c == (k == "construction")  # every construction points away from gold
        if k == "construction" and kind != "op":
            assert y == POS and s == NEG
    assert plant_test(kind, TEXTS, LABELS, seed=5).texts == plant_test(kind, TEXTS, LABELS, seed=5).texts  # seeded


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown plant kind"):
        plant_train("nope", TEXTS, LABELS, rate=0.1, seed=0)
