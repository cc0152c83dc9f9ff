"""Recipes as open constraint lists, strict vs loose attacks, attack semantics, strict flip rates (issue 12)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from audit.attack import AttackConfig, ReatWordNetAttack, driver_flip_rates
from audit.attack.checks import Resources
from audit.attack.constraints import Constraint, SwapContext
from audit.attack.estimate import RankerGuide
from audit.attack.goal import UntargetedClassification
from audit.attack.registry import ConstraintSpec, NaturalnessParams, build, describe, resolve
from audit.attack.search import GreedyReatSearch, QueryCounter
from audit.engine.flips import _variant_rows
from audit.engine.config import parse_config
from audit.errors import ConfigError
from tests.test_attack import FixedSwap, position_ranker, sentiment_gru


class BanWord(Constraint):
    """A user constraint loaded from the config by import path."""

    name = "ban_word"

    def __init__(self, *, word: str = "film") -> None:
        self.word = word

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        return [c for c in candidates if c != self.word]


def _config(attack: dict) -> None:
    parse_config({"model": "m", "datasets": [{"path": "x.tsv"}], "attack": attack}, source="nightly.yaml")


def test_config_accepts_recipe_and_open_constraint_list() -> None:
    _config({"recipe": "loose", "constraints": [{"name": "closeness", "min_cosine": 0.6},
                                                 {"name": "tests.test_attack_recipe:BanWord", "word": "x"}]})


@pytest.mark.parametrize(
    ("attack", "match"),
    [
        ({"recipe": "wild"}, r"nightly\.yaml: attack\.recipe"),
        ({"constraints": [{"name": "closeness", "min_cosine": 2}]}, r"attack\.constraints\.0.*min_cosine"),
        ({"constraints": [{"name": "closeness", "min_cos": 0.5}]}, r"attack\.constraints\.0.*min_cos"),
        ({"constraints": [{"name": "closenes"}]}, r"attack\.constraints\.0.*unknown constraint 'closenes'"),
        ({"constraints": [{"min_cosine": 0.5}]}, r"attack\.constraints\.0\.name"),
    ],
)
def test_config_errors_name_the_field(attack: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _config(attack)


def test_resolve_edits_the_recipe_list_in_order() -> None:
    specs = [ConstraintSpec(name="closeness", min_cosine=0.7), ConstraintSpec(name="names", enabled=False),
             ConstraintSpec(name="tests.test_attack_recipe:BanWord", word="movie")]
    items = resolve("strict", specs)
    names = [n for n, _ in items]
    assert names == ["mwe", "scope", "sense", "morphology", "frame", "licensing", "naturalness", "closeness", "sentiment", "pos_kept",
                     "context_meaning", "context_token", "tests.test_attack_recipe:BanWord"]
    assert dict(items)["closeness"] == {"min_cosine": 0.7}
    built = build(items, resources=Resources())
    assert isinstance(built[-1], BanWord) and built[-1].word == "movie"
    assert built[7].thresholds() == {"min_cosine": 0.7}  # type: ignore[attr-defined]
    assert resolve("loose", []) == []
    record = describe("strict", items)
    assert record["recipe"] == "strict" and record["blocking"]
    assert {"name": "naturalness", **NaturalnessParams().model_dump()} in record["constraints"]  # calibrated defaults
    with pytest.raises(ConfigError, match="cannot import"):
        build([("tests.nope:Missing", {})], resources=Resources())
    with pytest.raises(ConfigError, match="not a Constraint subclass"):
        build([("tests.test_attack_recipe:_config", {})], resources=Resources())


def _film_model():
    # "movie" is negative, "film" and "celluloid" positive: swapping either flips the text
    return sentiment_gru({"the": 0, "movie": -1, "film": 1, "celluloid": 1, "is": 0, "long": -0.1, "flick": 1})


def test_strict_attack_keeps_only_valid_swaps_and_records_evidence() -> None:
    model = _film_model()
    text = ["the", "movie", "is", "long"]
    result = ReatWordNetAttack(AttackConfig(), ranker=position_ranker((1, 3, 0, 2))).attack(model, text, gold=0)
    assert result.status == "succeeded" and result.recipe == "strict"
    assert result.variant[1] in ("film", "flick") and result.valid and result.direction == "break"
    row = result.to_row()
    assert row["valid"] and row["recipe"] == "strict" and row["direction"] == "break" and not row["declared"]
    assert row["evidence"]["sense"] == "movie.n.01" and row["evidence"]["cosine"] > 0.55
    assert set(row["evidence"]["checks"]) >= {"sense", "closeness", "naturalness", "sentiment", "morphology"}


def test_loose_attack_swaps_an_invalid_word_and_labels_it() -> None:
    model = sentiment_gru({"the": 0, "film": -1, "celluloid": 1, "movie": -1, "is": 0, "long": -0.1})
    text = ["the", "film", "is", "long"]
    loose = ReatWordNetAttack(AttackConfig(recipe="loose"), ranker=position_ranker((1, 3, 0, 2))).attack(
        model, text, gold=0)
    assert loose.status == "succeeded" and loose.variant[1] == "celluloid"
    assert not loose.valid and loose.evidence is not None
    assert "naturalness" in loose.evidence.swaps[0].failed
    strict = ReatWordNetAttack(AttackConfig(), ranker=position_ranker((1, 3, 0, 2))).attack(model, text, gold=0)
    assert strict.status == "failed" and "celluloid" not in strict.variant


def test_article_is_adjusted_with_the_swap() -> None:
    model = sentiment_gru({"an": 0, "odd": -1, "strange": 1, "movie": 0})
    toks = ["an", "odd", "movie"]
    probs = model.predict_proba_tokens([toks])[0].tolist()
    search = GreedyReatSearch(guide=RankerGuide(position_ranker((1, 0, 2))), tagger=lambda t: ["DT", "JJ", "NN"])
    out = search.run(QueryCounter(model, budget=None), toks, pred=0, probs=probs, goal=UntargetedClassification(),
                     transformation=FixedSwap({"odd": ["strange"]}), constraints=[])
    assert out.tokens == ["a", "strange", "movie"]
    assert [(s.position, s.original, s.replacement, s.pos) for s in out.swaps] == [
        (0, "an", "a", "DT"), (1, "odd", "strange", "JJ")]


def test_misclassified_texts_are_not_attacked_by_default() -> None:
    model = _film_model()
    result = ReatWordNetAttack(AttackConfig()).attack(model, ["the", "movie", "is", "long"], gold=1)
    assert result.status == "skipped" and result.direction == "fix" and not result.valid


def test_driver_flip_rates_count_strict_valid_swaps_and_split_breaks_from_fixes() -> None:
    model = _film_model()
    texts = [["the", "movie", "is", "long"], ["the", "long", "movie"], ["the", "film", "is", "long"]]
    golds = [0, 1, 1]  # text 0 correct (negative), text 1 wrong, text 2 correct (positive)
    cfg = AttackConfig(extra_synonyms={"movie": ["celluloid"]})
    rates = {(r.word, r.replacement, r.direction): r for r in driver_flip_rates(model, texts, ["movie"], config=cfg,
                                                                                 golds=golds)}
    film = rates[("movie", "film", "from")]
    assert (film.n_texts, film.n_flipped, film.n_breaks, film.n_fixes) == (2, 2, 1, 1) and not film.declared
    declared = rates[("movie", "celluloid", "from")]
    assert declared.declared and declared.n_texts == 2  # a declared pair stays allowed, marked
    back = rates[("movie", "film", "to")]  # film -> movie in text 2: a break of a correct positive text
    assert back.n_breaks == 1 and back.rate == 1.0
    row = film.to_row()
    assert row["declared"] is False and row["n_texts_raw"] == 2


def test_driver_flip_rates_leave_out_invalid_swaps() -> None:
    model = sentiment_gru({"the": 0, "film": -1, "celluloid": 1, "is": 0, "long": -0.1})
    rates = driver_flip_rates(model, [["the", "film", "is", "long"]], ["film"], config=AttackConfig(), golds=[0])
    cell = next(r for r in rates if r.replacement == "celluloid" and r.direction == "from")
    assert cell.n_texts_raw == 1 and cell.n_flipped_raw == 1
    assert cell.n_texts == 0 and cell.n_flipped == 0 and not cell.variants[0].valid


def test_driver_variant_rows_have_no_duplicates_and_no_unchanged_variant() -> None:
    model = _film_model()
    texts = [["the", "movie", "is", "long"]]
    cfg = AttackConfig(extra_synonyms={"movie": ["film"]})  # "film" both declared and from WordNet
    results = driver_flip_rates(model, texts, ["movie", "movie"], config=cfg, golds=[0])
    from audit.attack.meaning import MeaningFlagger

    rows = _variant_rows(results, [("d", 0)], [0], MeaningFlagger(), recipe="strict")
    keys = [(r["dataset"], r["example_id"], r["variant"]) for r in rows]
    assert len(keys) == len(set(keys)) and all(r["variant"] != r["original"] for r in rows)
    assert {r["direction"] for r in rows} == {"break"} and {r["gold"] for r in rows} == {0}


def test_attack_metrics_report_raw_and_strict_valid_success() -> None:
    import pandas as pd

    from audit.engine.adversarial import attack_metrics

    def r(kind: str, flipped: bool, valid: bool, direction: str = "break") -> dict:
        return {"kind": kind, "flipped": flipped, "verified": True, "valid": valid, "constrained": True,
                "queries": 4, "recipe": "loose", "direction": direction}

    variants = pd.DataFrame([r("text", True, True), r("text", True, False), r("text", False, False),
                             r("text", False, True), r("driver", True, True), r("driver", True, True, "fix"),
                             r("driver", True, False, "fix")])
    m = attack_metrics(variants)
    assert m["attack_success_rate"] == 0.5 and m["attack_success_rate_valid"] == 0.25
    assert m["attack_recipe"] == "loose" and m["n_driver_breaks"] == 1 and m["n_driver_fixes"] == 1
