"""The ``context_token`` check (extra ``[meaning]``; in the strict recipe since round 4): the encoder's contextual embedding of the swapped
word, original vs substitute.  Conformance cases: judged-invalid pairs of the labelled set
(benchmarks/data/validity_pairs.jsonl) that the strict recipe without it lets through are blocked; jump -> leap
and movie -> film are kept."""

from __future__ import annotations

import pytest

from audit.attack import registry, sentence
from audit.attack.checks import Resources
from audit.attack.constraints import SwapContext
from audit.attack.validity import strict_validator
from audit.engine.config import parse_config
from audit.errors import ConfigError

AVAILABLE = sentence.encoder_status() == "available"
needs_encoder = pytest.mark.skipif(not AVAILABLE, reason="the [meaning] extra is not installed; the check is skipped")

BLOCKED = [  # judged invalid (rounds 1-3), accepted by the round-3 strict recipe (without context_token)
    ("the characters are based on stock clichés , and the attempt to complicate the story only defies credibility .",
     "based", "established"),
    ("perhaps even the slc high command found writer-director mitch davis 's wall of kitsch hard going .",
     "hard", "difficult"),
    ("a huge box-office hit in korea , shiri is a must for genre fans .", "huge", "vast"),
]
KEPT = [
    ("the actors jump through hoops to make it work .", "jump", "leap"),
    ("it 's a cookie-cutter movie , a cut-and-paste job .", "movie", "film"),
]


def _ctx(text: str, word: str) -> SwapContext:
    toks = tuple(text.split())
    return SwapContext(tokens=toks, tags=("NN",) * len(toks), position=toks.index(word))


def test_config_accepts_the_check_and_refuses_a_bad_field() -> None:
    spec = registry.ConstraintSpec(name="context_token", min_cosine=0.7)
    items = registry.resolve("strict", [spec])
    assert ("context_token", {"min_cosine": 0.7}) in items
    assert registry.STRICT[-1] == "context_token"  # in the strict recipe since round 4, last (the most expensive)
    assert dict(registry.resolve("strict", []))["context_token"] == {}
    with pytest.raises(ValueError, match="min_cosin"):
        registry.ConstraintSpec(name="context_token", min_cosin=0.7)
    with pytest.raises(ValueError, match="min_cosine"):
        registry.ConstraintSpec(name="context_token", min_cosine=2.0)
    described = registry.describe("strict", items)
    assert {"name": "context_token", "min_cosine": 0.7, "cache_dir": None} in described["constraints"]
    assert "context_token" in described


def test_skipped_without_the_extra_and_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "encoder_status", lambda: "missing: package 'sentence_transformers' not installed")
    items = registry.resolve("strict", [registry.ConstraintSpec(name="context_token")])
    assert "context_token" not in [c.name for c in registry.build(items, resources=Resources())]
    assert registry.describe("strict", items)["context_token"].startswith("skipped (missing")


def test_attack_config_takes_it_and_names_a_bad_field() -> None:
    def config(constraints: list[dict]) -> None:
        parse_config({"model": "m", "datasets": [{"path": "x.tsv"}], "attack": {"recipe": "strict", "constraints": constraints}},
                     source="nightly.yaml")

    config([{"name": "context_token", "min_cosine": 0.75}])
    with pytest.raises(ConfigError, match=r"attack\.constraints\.0.*context_token.*threshold"):
        config([{"name": "context_token", "threshold": 0.75}])
    with pytest.raises(ConfigError, match=r"attack\.constraints\.0.*min_cosine"):
        config([{"name": "context_token", "min_cosine": -3}])


@needs_encoder
@pytest.mark.parametrize(("text", "word", "substitute"), BLOCKED)
def test_blocks_known_bad_swaps_the_strict_recipe_lets_through(text: str, word: str, substitute: str) -> None:
    toks = text.split()
    without = strict_validator(constraints=[{"name": "context_token", "enabled": False}])
    assert without.swap(toks, toks.index(word), substitute).valid  # the recipe without the check lets it through
    with_check = strict_validator()
    ev = with_check.swap(toks, toks.index(word), substitute)
    assert not ev.valid and ev.failed == ["context_token"]
    res = ev.checks["context_token"]
    assert res.value < res.threshold == 0.75


@needs_encoder
@pytest.mark.parametrize(("text", "word", "substitute"), KEPT)
def test_keeps_good_swaps(text: str, word: str, substitute: str) -> None:
    check = sentence.ContextTokenCheck()
    res = check.evaluate(_ctx(text, word), substitute)
    assert res.passed and res.value >= 0.75 and res.threshold == 0.75
    toks = text.split()
    assert strict_validator().swap(toks, toks.index(word), substitute).valid


@needs_encoder
def test_filter_batches_a_position_and_agrees_with_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    check = sentence.ContextTokenCheck(declared={"based": ["constructed"]})
    text, word, _ = BLOCKED[0]
    ctx = _ctx(text, word)
    calls: list[int] = []
    real = check._word_vectors

    def counting(sentences, position):  # type: ignore[no-untyped-def]
        calls.append(len(sentences))
        return real(sentences, position)

    monkeypatch.setattr(check, "_word_vectors", counting)
    cands = ["established", "founded", "grounded", "constructed"]
    kept = check.filter(ctx, cands)
    assert calls == [1, 3]  # the original once, the three undeclared variants in one batch
    assert "established" not in kept and "constructed" in kept  # a declared pair is exempt
    assert kept == [c for c in cands if check.evaluate(ctx, c).passed]
    assert calls == [1, 3]  # evaluate reuses the memo
    assert check.evaluate(ctx, None).passed


def test_word_vector_spans_and_truncation() -> None:
    import numpy as np

    class Tok:
        def tokenize(self, word: str) -> list[str]:
            return ["x"] * len(word)  # one piece per character

    words = ["a", "bb", "ccc"]  # pieces 1 + 2 + 3, plus [CLS] and [SEP]: 8 rows
    emb = np.arange(8.0)[:, None] * np.ones((1, 2))
    assert sentence.word_vector(Tok(), words, 1, emb).tolist() == [2.5, 2.5]
    assert sentence.word_vector(Tok(), words, 2, emb).tolist() == [5.0, 5.0]
    assert sentence.word_vector(Tok(), words, 2, emb[:6]) is None  # truncated by the encoder
