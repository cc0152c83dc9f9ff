"""The REAT-guided WordNet attack on tiny hand-set models (no training, deterministic)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from audit.attack import (
    AttackConfig,
    GreedyReatSearch,
    MeaningFlagger,
    QueryCounter,
    ReatWordNetAttack,
    Transformation,
    UntargetedClassification,
    driver_flip_rates,
)
from audit.attack.constraints import Constraint, MaxWordsChanged, NoRepeatModification
from audit.attack.estimate import Estimator, RankerGuide
from audit.attack.search import SearchOutcome
from audit.data.vocab import PAD, UNK, Vocab
from audit.errors import ConfigError, InputError
from audit.models.base import AuditModel, RecurrentClassifier

Tagger = Callable[[Sequence[str]], list[str]]
Ranker = Callable[[AuditModel, Sequence[str], int], np.ndarray]


def sentiment_gru(values: dict[str, float], *, scale: float = 10.0) -> AuditModel:
    """A 1-unit GRU whose final state is an exponential average of word sentiment.

    Each word has an embedding ``[v, s]``: ``s = 1`` marks a sentiment word
    (update gate 0.5, candidate ``tanh(3 v)``), ``s = 0`` a neutral word (update
    gate ~1: the state passes through unchanged).  Logits are ``[-scale*h, scale*h]``:
    class 1 = positive.  Words not in ``values`` are neutral.
    """
    tokens = [PAD, UNK] + sorted(values)
    vocab = Vocab(tokens)
    emb = nn.Embedding(len(tokens), 2)
    rnn = nn.GRU(2, 1, batch_first=True)
    head = nn.Linear(1, 2)
    with torch.no_grad():
        emb.weight.zero_()
        for word, v in values.items():
            emb.weight[vocab.id(word)] = torch.tensor([v, 0.0 if v == 0 else 1.0])
        for p in rnn.parameters():
            p.zero_()
        # weight_ih rows: [reset r, update z, new n]; z = sigmoid(-20 s + 20): 0.5 for sentiment words, ~1 otherwise
        rnn.weight_ih_l0[1] = torch.tensor([0.0, -20.0])
        rnn.bias_ih_l0[1] = 20.0
        rnn.weight_ih_l0[2] = torch.tensor([3.0, 0.0])
        head.weight.copy_(torch.tensor([[-scale], [scale]]))
        head.bias.zero_()
    module = RecurrentClassifier(emb, rnn, head)
    return AuditModel(module=module, vocab=vocab, tokenizer=str.split, labels=("negative", "positive"), name="tiny")


def dict_tagger(tags: dict[str, str]) -> Tagger:
    """A POS tagger from a word -> PTB tag table (default NN)."""

    def tag(tokens: Sequence[str]) -> list[str]:
        return [tags.get(t.lower(), "NN") for t in tokens]

    return tag


TAGS = dict_tagger({"is": "VBZ", "terribly": "RB", "awfully": "RB", "frightfully": "RB", "charismatic": "JJ",
                    "extremely": "RB", "effective": "JJ", "very": "RB", "really": "RB", "not": "RB", "schweiger": "NNP"})
TEXT = "film is terribly charismatic".split()


def position_ranker(order: Sequence[int]) -> Ranker:
    """A fixed importance ranking (highest first) standing in for REAT."""

    def rank(model: AuditModel, tokens: Sequence[str], target: int) -> np.ndarray:
        scores = np.zeros(len(tokens))
        for k, i in enumerate(order):
            if i < len(tokens):
                scores[i] = len(order) - k
        return scores

    return rank


def flippable() -> AuditModel:
    return sentiment_gru({"film": 0, "terribly": -1, "charismatic": 0.1, "awfully": 0, "frightfully": -1})


def loose_config(**kw: object) -> AttackConfig:
    """The search-mechanics tests run the loose recipe (flags only): the strict checks have their own tests."""
    return AttackConfig.model_validate({"recipe": "loose", **kw})


LEGACY = dict(min_gain=0.0, batch_size=None, patience=None, window=1, estimator="none", max_estimate=None, group_sends=None)
"""The plain search: no estimates, no minimum gain, all candidates of a position at once."""


def attack(config: AttackConfig | None = None, order: Sequence[int] = (2, 3, 0, 1)) -> ReatWordNetAttack:
    return ReatWordNetAttack(config or loose_config(), ranker=position_ranker(order), tagger=TAGS)


def test_hand_built_model_flips_on_a_synonym() -> None:
    model = flippable()
    result = attack().attack(model, TEXT, gold=0)
    assert result.pred_before == 0 and result.probs_before[0] > 0.8
    assert result.status == "succeeded" and result.flipped and result.verified
    assert result.variant == "film is awfully charismatic".split()
    assert [s.to_dict() for s in result.swaps] == [{"position": 2, "original": "terribly", "replacement": "awfully", "pos": "RB"}]
    assert result.pred_after == 1 and result.probs_after[1] > 0.9
    assert result.words_changed == 1
    fresh = model.predict_proba_tokens([result.variant])[0]
    assert int(fresh.argmax()) == 1 and fresh.tolist() == pytest.approx(result.probs_after, abs=1e-6)


def test_unflippable_model_reports_failure() -> None:
    model = sentiment_gru({"film": 0, "terribly": -1, "charismatic": 0.1, "awfully": -1, "frightfully": -1})
    result = attack().attack(model, TEXT, gold=0)
    assert result.status == "failed" and not result.flipped and not result.verified
    assert result.pred_after == result.pred_before == 0
    assert result.swaps == [] and result.variant == TEXT and result.stop_reason == "exhausted"


def test_query_counting_is_exact() -> None:
    # 1 initial prediction + rank, 2 candidates at "terribly" -> success: 1 + 1 + 2
    result = attack(loose_config(**LEGACY)).attack(flippable(), TEXT, gold=0)
    assert (result.queries, result.rank_queries) == (4, 1)
    # ranking "charismatic" first: its WordNet candidate ("magnetic") is out of vocabulary, so no query;
    # then "terribly": 2 candidates
    result = attack(loose_config(**LEGACY), order=(3, 2, 0, 1)).attack(flippable(), TEXT, gold=0)
    assert (result.queries, result.rank_queries) == (4, 1)
    # defaults with a custom ranker: the REAT view's estimate is one more rank query; "awfully" (ordered
    # first by the estimate) flips and "frightfully" (estimated to help the negative class) is never sent
    result = attack().attack(flippable(), TEXT, gold=0)
    assert (result.queries, result.rank_queries) == (4, 2) and result.variant[2] == "awfully"
    # chunks of two: both candidates are sent
    result = attack(loose_config(batch_size=2, max_estimate=None)).attack(flippable(), TEXT, gold=0)
    assert (result.queries, result.rank_queries) == (5, 2) and result.flipped
    # group_sends 1: only the best-estimated candidate of the group is sent
    result = attack(loose_config(batch_size=2, max_estimate=None, group_sends=1)).attack(flippable(), TEXT, gold=0)
    assert (result.queries, result.rank_queries) == (4, 2) and result.variant[2] == "awfully"


class FixedSwap(Transformation):
    """Candidates from a table, for exact counting in a multi-round search."""

    name = "fixed"

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    def candidates(self, tokens: Sequence[str], tags: Sequence[str], position: int) -> list[str]:
        return list(self.table.get(tokens[position], []))


def _two_round_setup() -> tuple[AuditModel, list[str]]:
    # two negative words; each swap to a neutral word helps, both are needed to flip
    model = sentiment_gru({"good": 0.2, "bad": -0.5, "dull": -0.5, "fine": 0.0, "ok": 0.0, "worse": -1.0})
    return model, "good bad dull".split()


def test_query_counting_multi_round_and_budget() -> None:
    model, toks = _two_round_setup()
    table = {"bad": ["worse", "fine"], "dull": ["ok", "worse", "worse"]}
    search = GreedyReatSearch(guide=RankerGuide(position_ranker((2, 1, 0))), tagger=lambda t: ["JJ"] * len(t))
    goal = UntargetedClassification()
    probs = model.predict_proba_tokens([toks])[0].tolist()
    assert int(np.argmax(probs)) == 0
    counter = QueryCounter(model, budget=None)
    out = search.run(counter, toks, pred=0, probs=probs, goal=goal, transformation=FixedSwap(table),
                     constraints=[NoRepeatModification()])
    assert out.stop_reason == "succeeded" and [s.position for s in out.swaps] == [2, 1]
    assert (counter.rank_queries, counter.model_queries) == (2, 3 + 2)
    for budget in range(1, 9):
        counter = QueryCounter(model, budget=budget)
        out = search.run(counter, toks, pred=0, probs=probs, goal=goal, transformation=FixedSwap(table),
                         constraints=[NoRepeatModification()])
        assert counter.used <= budget
        assert out.stop_reason == ("succeeded" if budget >= 7 else "budget")


def test_budget_in_recipe_counts_initial_prediction() -> None:
    for budget in (1, 2):
        result = attack(loose_config(query_budget=budget, **LEGACY)).attack(flippable(), TEXT, gold=0)
        assert result.queries == budget and not result.flipped and result.stop_reason in ("budget", "")
    # budget 3: initial + rank + only the first candidate ("awfully"), which flips
    result = attack(loose_config(query_budget=3, **LEGACY)).attack(flippable(), TEXT, gold=0)
    assert result.flipped and result.queries == 3
    # defaults: the gradient pass counts too, so budget 3 leaves no candidate query, budget 4 one
    result = attack(loose_config(query_budget=3)).attack(flippable(), TEXT, gold=0)
    assert not result.flipped and result.queries == 3 and result.stop_reason == "budget"
    result = attack(loose_config(query_budget=4)).attack(flippable(), TEXT, gold=0)
    assert result.flipped and result.queries == 4
    result = attack(loose_config(query_budget=4, batch_size=2)).attack(flippable(), TEXT, gold=0)
    assert result.flipped and result.queries == 4  # the chunk of two is cut to the one query left


def test_words_changed_cap() -> None:
    model, toks = _two_round_setup()
    config = loose_config(max_words_changed=1, max_fraction=None, require_in_vocab=False, pos_match=False, skip_stopwords=False)
    capped = ReatWordNetAttack(config, ranker=position_ranker((2, 1, 0)), tagger=lambda t: ["JJ"] * len(t))
    capped.transformation = lambda m: FixedSwap({"bad": ["fine"], "dull": ["ok"]})  # type: ignore[method-assign]
    result = capped.attack(model, toks, gold=0)
    assert result.words_changed == 1 and result.status == "failed"
    assert MaxWordsChanged(max_words=None, max_fraction=0.25).cap(19) == 4
    assert MaxWordsChanged(max_words=2, max_fraction=0.5).cap(19) == 2
    assert MaxWordsChanged(max_fraction=0.1).cap(3) == 1
    with pytest.raises(ConfigError):
        MaxWordsChanged(max_words=0)


def test_stopwords_and_entities_are_never_swapped() -> None:
    model = sentiment_gru({"film": 0, "terribly": -1, "charismatic": 0.1, "awfully": 0, "very": -1, "really": 0,
                           "schweiger": -1, "ok": 0})
    toks = "schweiger very terribly charismatic".split()
    result = attack(order=(0, 1, 2, 3)).attack(model, toks, gold=0)
    assert result.swaps and all(s.position == 2 for s in result.swaps)
    # the same search without the stopword rule swaps "very" (ranked above "terribly") first
    loose = attack(loose_config(skip_stopwords=False, **LEGACY), order=(0, 1, 2, 3)).attack(model, toks, gold=0)
    assert loose.swaps[0].position == 1 and loose.swaps[0].replacement == "really"
    # mid-sentence capitalization in the raw text marks an entity even when the tagger says otherwise
    raw = ["Film", "is", "Terribly", "charismatic"]
    blocked = attack().attack(flippable(), TEXT, gold=0, raw_tokens=raw)
    assert not blocked.flipped and all(s.position != 2 for s in blocked.swaps)
    free = attack(loose_config(skip_entities=False)).attack(flippable(), TEXT, gold=0, raw_tokens=raw)
    assert free.flipped


def test_misclassified_texts_are_skipped_unless_asked() -> None:
    model = flippable()
    skipped = attack().attack(model, TEXT, gold=1)
    assert skipped.status == "skipped" and skipped.queries == 1 and not skipped.flipped
    assert attack(loose_config(attack_misclassified=True)).attack(model, TEXT, gold=1).flipped
    assert attack().attack(model, TEXT, gold=None).flipped


class LyingModel(AuditModel):
    """Reports a flip for batched candidate queries, the truth for single texts."""

    def predict_proba_tokens(self, batch: Sequence[Sequence[str]]) -> torch.Tensor:
        probs = super().predict_proba_tokens(batch)
        return probs.flip(-1) if len(batch) > 1 else probs


def test_verification_re_predicts_from_scratch() -> None:
    honest = sentiment_gru({"film": 0, "terribly": -1, "charismatic": 0.1, "awfully": -1, "frightfully": -1})
    liar = LyingModel(module=honest.module, vocab=honest.vocab, tokenizer=honest.tokenizer, labels=honest.labels)
    result = attack(loose_config(**LEGACY)).attack(liar, TEXT, gold=0)  # the liar lies to batches of 2+
    assert result.flipped and not result.verified and result.status == "failed"


def test_meaning_flags() -> None:
    flagger = MeaningFlagger(lexicon={"terribly": -1, "good": 1, "bad": -1, "extremely": 0})
    assert flagger.flags("good", "bad", "JJ") == ["antonym", "sense_mismatch", "sentiment_flip"]
    assert flagger.flags("terribly", "awfully", "RB") == []
    assert flagger.flags("terribly", "atrociously", "RB") == []  # rank-1 sense, within top_k=2
    assert MeaningFlagger(top_k=1, lexicon={}).flags("terribly", "atrociously", "RB") == ["sense_mismatch"]
    assert MeaningFlagger(lexicon={}).flags("terribly", "extremely", "RB") == ["sense_mismatch"]
    declared = MeaningFlagger(lexicon={}, extra_synonyms={"terribly": ["extremely"]})
    assert declared.flags("extremely", "terribly", "RB") == []


def test_result_records_flags_and_constrained() -> None:
    model = sentiment_gru({"film": 0, "terribly": -1, "charismatic": 0.1, "awfully": 0, "frightfully": -1})
    result = ReatWordNetAttack(loose_config(sense_top_k=1), ranker=position_ranker((2, 3, 0, 1)), tagger=TAGS).attack(
        model, TEXT, gold=0
    )
    assert result.flipped and result.meaning_flags == [] and result.constrained_success
    row = result.to_row()
    assert row["constrained"] is True and row["swaps"][0]["replacement"] == "awfully"


def test_attack_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        AttackConfig(max_word_changed=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        AttackConfig(max_fraction=1.5)
    assert AttackConfig(extra_synonyms={"Terribly": ["Extremely"]}).extra_synonyms == {"terribly": ["extremely"]}


def test_attack_many_and_errors() -> None:
    model = flippable()
    seen: list[int] = []

    def progress(items: Iterable[object]) -> Iterator[object]:
        for item in items:
            seen.append(1)
            yield item

    results = attack().attack_many(model, [TEXT, TEXT], [0, 1], progress=progress)
    assert [r.status for r in results] == ["succeeded", "skipped"] and len(seen) == 2
    with pytest.raises(InputError):
        attack().attack_many(model, [TEXT], [0, 1])
    with pytest.raises(InputError):
        attack().attack(model, [], gold=0)


def test_driver_flip_rates_both_directions() -> None:
    model = sentiment_gru({"it": 0, "also": 0, "effective": 0.1, "extremely": 0, "terribly": -1, "film": 0})
    texts = [t.split() for t in ["it also extremely effective", "extremely effective film", "terribly effective", "film"]]
    config = loose_config(extra_synonyms={"terribly": ["extremely"]})
    rows = driver_flip_rates(model, texts, ["extremely"], config=config)
    by_key = {(r.replacement, r.direction): r for r in rows}
    fwd = by_key[("terribly", "from")]
    assert (fwd.n_texts, fwd.n_flipped, fwd.rate) == (2, 2, 1.0)
    assert fwd.variants[0].variant == "it also terribly effective".split() and fwd.variants[0].flipped
    back = by_key[("terribly", "to")]
    assert (back.n_texts, back.n_flipped) == (1, 1) and back.variants[0].variant == ["extremely", "effective"]
    assert back.to_row()["rate"] == 1.0


def test_reat_ranker() -> None:
    from audit.attack import reat_ranker

    model = flippable()
    scores = reat_ranker(model, TEXT, 0)
    assert int(np.argmax(scores)) == 2  # "terribly" drives the negative prediction
    logits = model.logits_tokens([TEXT])[0]
    assert float(scores.sum() + model.head.bias[0].detach()) == pytest.approx(float(logits[0]), abs=1e-4)
    result = ReatWordNetAttack(loose_config(), tagger=TAGS).attack(model, TEXT, gold=0)
    # 1 initial prediction + 1 REAT view (ranking and estimates) + 1 candidate ("awfully", estimated best)
    assert result.status == "succeeded" and result.swaps[0].position == 2
    assert (result.queries, result.rank_queries, result.extra["estimated"]) == (3, 1, 2)
    torch.testing.assert_close(torch.tensor(result.probs_before), model.predict_proba_tokens([TEXT])[0])


def test_retry_positions_option_saves_repeated_queries() -> None:
    model, toks = _two_round_setup()
    table = {"dull": ["worse"], "bad": ["fine"]}  # "dull" never improves, "bad" -> "fine" does but is not enough
    probs = model.predict_proba_tokens([toks])[0].tolist()
    counts = {}
    for retry in (True, False):
        search = GreedyReatSearch(
            guide=RankerGuide(position_ranker((2, 1, 0))), tagger=lambda t: ["JJ"] * len(t), retry_positions=retry
        )
        counter = QueryCounter(model, budget=None)
        out = search.run(counter, toks, pred=0, probs=probs, goal=UntargetedClassification(),
                         transformation=FixedSwap(table), constraints=[NoRepeatModification()])
        assert out.stop_reason == "exhausted" and [s.replacement for s in out.swaps] == ["fine"]
        counts[retry] = (counter.rank_queries, counter.model_queries)
    # without retries the second round has no position with a candidate left: it ends before its rank query
    assert counts == {True: (2, 3), False: (1, 2)}


def _gain_setup() -> tuple[AuditModel, list[str], list[float]]:
    # scale 2 keeps probabilities off 0/1: p(neg) 0.920 for "good bad dull"; dull->meh 0.916 (weak),
    # bad->fine 0.781 (strong), dull->ok 0.781, dull->great 0.205 (a flip)
    model = sentiment_gru({"good": 0.2, "bad": -0.5, "dull": -0.5, "fine": 0.0, "ok": 0.0, "worse": -1.0,
                           "meh": -0.45, "great": 1.0}, scale=2.0)
    toks = "good bad dull".split()
    return model, toks, model.predict_proba_tokens([toks])[0].tolist()


def _run(
    search: GreedyReatSearch, table: dict[str, list[str]], constraints: Sequence[Constraint] = ()
) -> tuple[SearchOutcome, QueryCounter]:
    model, toks, probs = _gain_setup()
    counter = QueryCounter(model, budget=None)
    out = search.run(counter, toks, pred=0, probs=probs, goal=UntargetedClassification(),
                     transformation=FixedSwap(table), constraints=[NoRepeatModification(), *constraints])
    return out, counter


def _search(*, estimator: Estimator | None = None, **kw: object) -> GreedyReatSearch:
    tagger = lambda t: ["JJ"] * len(t)  # noqa: E731
    guide = RankerGuide(position_ranker((2, 1, 0)), estimator)
    return GreedyReatSearch(guide=guide, tagger=tagger, **kw)  # type: ignore[arg-type]


def test_min_gain_skips_a_weak_swap_without_spending_the_word_cap() -> None:
    table = {"dull": ["meh"], "bad": ["fine"]}
    cap = [MaxWordsChanged(max_words=1)]
    plain, c0 = _run(_search(), table, cap)
    assert [s.replacement for s in plain.swaps] == ["meh"]  # REAT's top position, tiny gain, uses the only word
    assert (c0.rank_queries, c0.model_queries) == (1, 1)
    ruled, c1 = _run(_search(min_gain=0.05), table, cap)
    assert [s.replacement for s in ruled.swaps] == ["fine"]  # "meh" evaluated, not taken; moved on to "bad"
    assert (c1.rank_queries, c1.model_queries) == (1, 2)
    assert ruled.probs[0] < plain.probs[0] - 0.1


def test_min_gain_falls_back_to_the_best_weak_swap_at_no_extra_query() -> None:
    table = {"dull": ["meh"], "bad": ["fine"]}
    out, counter = _run(_search(min_gain=0.5), table)
    # round 1: both weak -> the better ("fine") is taken; round 2: "meh" is the only one left; round 3: no
    # candidate left, so it ends before its rank query
    assert [s.replacement for s in out.swaps] == ["fine", "meh"] and out.stop_reason == "exhausted"
    assert (counter.rank_queries, counter.model_queries) == (2, 3)
    # patience 1: the first weak position's swap is taken at once
    out, counter = _run(_search(min_gain=0.5, patience=1), table)
    assert [s.replacement for s in out.swaps] == ["meh", "fine"]
    assert (counter.rank_queries, counter.model_queries) == (2, 2)
    # max_weak 1: one weak swap per text, then a round without a min_gain swap ends the search
    out, counter = _run(_search(min_gain=0.5, max_weak=1), table)
    assert [s.replacement for s in out.swaps] == ["fine"] and out.stop_reason == "exhausted"
    assert (counter.rank_queries, counter.model_queries) == (2, 3)
    with pytest.raises(ValueError):
        GreedyReatSearch(min_gain=-0.1)


def test_chunks_stop_early_on_success_and_count_only_what_is_sent() -> None:
    table = {"dull": ["worse", "great", "fine", "ok"]}
    for batch, sent in ((None, 4), (1, 2), (2, 2), (3, 3)):
        out, counter = _run(_search(batch_size=batch), table)
        assert out.stop_reason == "succeeded" and out.swaps[0].replacement == "great"
        assert (counter.rank_queries, counter.model_queries) == (1, sent), batch
    # with the minimum-gain rule a chunk that reaches it ends the position ("ok" is kept, "great" never sent)
    out, counter = _run(_search(batch_size=1, min_gain=0.05), {"dull": ["worse", "ok", "great"]})
    assert out.swaps[0].replacement == "ok" and counter.model_queries == 2 and out.stop_reason == "exhausted"


def test_gradient_estimator_orders_candidates_and_is_counted() -> None:
    from audit.attack import gradient_estimator

    model, toks, _ = _gain_setup()
    est = gradient_estimator(model, toks, 0)([(2, "great"), (2, "meh"), (2, "worse")])
    # lower = hurts the negative class more (first order: exact ordering among sentiment words here)
    assert est[0] < est[1] < est[2]
    out, counter = _run(_search(batch_size=1, estimator=gradient_estimator), {"dull": ["worse", "meh", "great"]})
    assert out.stop_reason == "succeeded" and out.swaps[0].replacement == "great"
    assert (counter.rank_queries, counter.model_queries) == (2, 1)  # REAT + gradient; one candidate sent


def test_reat_guide_ranks_and_estimates_in_one_pass_per_round() -> None:
    from audit.attack import ReatGuide

    model, toks, probs = _gain_setup()
    counter = QueryCounter(model, budget=None)
    search = GreedyReatSearch(guide=ReatGuide(), tagger=lambda t: ["JJ"] * len(t), window=None, group_sends=1)
    out = search.run(counter, toks, pred=0, probs=probs, goal=UntargetedClassification(),
                     transformation=FixedSwap({"dull": ["meh", "ok", "great"], "bad": ["fine"]}),
                     constraints=[NoRepeatModification()])
    # the estimate puts dull->great (a flip) first: one pass, one candidate sent
    assert out.stop_reason == "succeeded" and [s.replacement for s in out.swaps] == ["great"]
    assert (counter.rank_queries, counter.model_queries, counter.estimated) == (1, 1, 4)
    with pytest.raises(ValueError):
        GreedyReatSearch(group_sends=0)


def test_candidate_senses_option_restricts_wordnet_candidates() -> None:
    loose = ReatWordNetAttack(loose_config(require_in_vocab=False)).transformation(flippable())
    strict = ReatWordNetAttack(loose_config(require_in_vocab=False, candidate_senses=1)).transformation(flippable())
    tags = ["NN", "VBZ", "RB", "JJ"]
    assert "atrociously" in loose.candidates(TEXT, tags, 2)
    assert "atrociously" not in strict.candidates(TEXT, tags, 2) and "awfully" in strict.candidates(TEXT, tags, 2)


def test_window_pools_positions_by_the_estimate() -> None:
    from audit.attack import gradient_estimator

    table = {"dull": ["worse", "meh"], "bad": ["great"]}  # REAT ranks "dull" first; bad->great is the strong swap
    cap = [MaxWordsChanged(max_words=1)]
    one, c1 = _run(_search(batch_size=1, min_gain=0.2, estimator=gradient_estimator), table, cap)
    assert [s.replacement for s in one.swaps] == ["great"]
    assert (c1.rank_queries, c1.model_queries) == (2, 3)  # "meh" and "worse" sent (weak) before "great"
    pooled, c2 = _run(_search(batch_size=1, min_gain=0.2, estimator=gradient_estimator, window=2), table, cap)
    # the pool of both positions is ordered by the gradient: "great" is sent first and reaches min_gain
    assert [s.replacement for s in pooled.swaps] == ["great"]
    assert (c2.rank_queries, c2.model_queries) == (2, 1)
    with pytest.raises(ValueError):
        GreedyReatSearch(window=0)


def test_ranker_and_estimator_keep_the_callers_training_mode() -> None:
    from audit.attack import reat_ranker
    from audit.attack import gradient_estimator

    model = flippable()
    model.module.train()
    reat_ranker(model, TEXT, 0)
    gradient_estimator(model, TEXT, 0)
    assert all(m.training for m in model.module.modules())
    model.module.eval()
    reat_ranker(model, TEXT, 0)
    assert not any(m.training for m in model.module.modules())
