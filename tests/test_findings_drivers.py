"""Confirmed drivers on tiny synthetic tasks trained in the test (tests/findings_task.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.findings import FindingsConfig, analyze, confirmed_drivers, driver_statistics, token_scores_table
from audit.findings.counterfactual import VariantBatch, make_variant
from audit.store.schemas import DRIVER_STATS, FAILURE_DRIVERS, MINIMAL_FIXES
from tests.findings_task import PLANT, make_texts, run_tables, train_model

STOP = ("the", "is", "a", "and", "was", "very")


@pytest.fixture(scope="module")
def planted() -> tuple[object, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    model = train_model(plant=PLANT)
    texts, golds = make_texts(400, seed=7, plant=PLANT, plant_rate=0.15, noise=0.1)
    return (model, *run_tables(model, texts, golds))


@pytest.fixture(scope="module")
def clean() -> tuple[object, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    model = train_model(plant=None)
    texts, golds = make_texts(400, seed=7, noise=0.1)
    return (model, *run_tables(model, texts, golds))


def test_planted_token_is_the_only_confirmed_driver(planted, one_thread) -> None:
    model, preds, tokens, segments = planted
    found = analyze(preds, tokens, segments, model=model, stopwords=STOP)
    stats = found.driver_stats
    assert list(stats.columns) == DRIVER_STATS.names
    confirmed = stats[stats["confirmed"]]
    assert confirmed["unit"].tolist() == [PLANT] and confirmed["kind"].tolist() == ["word"]
    row = confirmed.iloc[0]
    assert row["rank"] == 1 and row["status"] == "confirmed" and row["scope"] == "all"
    assert row["q_lift"] <= 0.05 and row["q_fix"] <= 0.05
    assert row["fix_rate_remove"] > row["control_fix_rate"]
    assert row["fix_rate_low"] <= row["fix_rate_remove"] <= row["fix_rate_high"]
    # JSON view: rank order, the promised keys
    js = confirmed_drivers(stats)
    assert [d["word"] for d in js] == [PLANT]
    assert {"word", "n_errors", "lift", "q_value", "fix_rate", "control_fix_rate"} <= set(js[0])
    assert js[0]["q_value"] == pytest.approx(min(row["q_lift"], row["q_contrast"]))
    # ranks are 1..n within the scope, confirmed first
    assert stats["rank"].tolist() == list(range(1, len(stats) + 1))


def test_no_signal_confirms_nothing(clean, one_thread) -> None:
    model, preds, tokens, segments = clean
    stats = driver_statistics(preds, tokens, model=model, segments=segments, stopwords=STOP)
    assert (~preds["correct"]).sum() >= 20  # the label noise does produce errors to explain
    assert not stats["confirmed"].any()
    assert confirmed_drivers(stats) == []
    assert (stats["status"] == "candidate").any()  # tested, not confirmed


def test_final_period_everywhere_with_large_scores_is_not_confirmed(clean, one_thread) -> None:
    model, preds, tokens, segments = clean
    stats = driver_statistics(preds, tokens, model=model, segments=segments, stopwords=STOP).set_index("unit")
    dot = stats.loc["."]
    assert dot["n_texts"] == len(preds) and bool(dot["is_punct"])
    # REAT credits the end of the text: "." is a top contributor of most errors...
    assert dot["n_top_error"] >= 0.5 * dot["n_errors"]
    # ...but it is in every text (no lift) and no more credited in errors than in correct ones
    assert dot["lift"] == pytest.approx(1.0) and dot["p_lift"] == pytest.approx(1.0)
    assert not bool(dot["confirmed"]) and dot["status"] == "candidate"


def test_support_floor_marks_rare_top_contributors(planted, one_thread) -> None:
    model, preds, tokens, segments = planted
    cfg = FindingsConfig(min_texts=10_000)
    stats = driver_statistics(preds, tokens, model=model, config=cfg, segments=segments, stopwords=STOP)
    assert (stats["status"] == "below_support").all()
    assert stats["p_lift"].isna().all() and not stats["confirmed"].any()
    assert (stats["n_top_error"] > 0).all()  # only top contributors are kept below the floor


def test_any_attribution_method_is_accepted(planted, one_thread) -> None:
    """Random scores propose no real driver: the plant can still be tested, nothing spurious is confirmed."""
    model, preds, tokens, segments = planted
    rng = np.random.default_rng(0)
    noisy = tokens[["dataset", "example_id", "position", "token"]].assign(score_pred=rng.normal(size=len(tokens)))
    stats = driver_statistics(preds, noisy, model=model, segments=segments, stopwords=STOP)
    plant = stats[(stats["kind"] == "word") & (stats["unit"] == PLANT) & (stats["scope"] == "all")]
    assert len(plant) == 1 and plant["status"].iloc[0] in {"candidate", "confirmed"}  # tested: support is score-free
    assert plant["p_lift"].notna().all()
    assert set(stats.loc[stats["confirmed"], "unit"]) <= {PLANT}
    # scores from an Attribution list build the same kind of table
    from audit.attribution import get_method

    attrs = get_method("grad_input").attribute(model, [list(t) for t in tokens.groupby("example_id")["token"]
                                                          .agg(list)], targets=preds["pred"].tolist())
    table = token_scores_table(preds, attrs)
    assert list(table.columns) == ["example_id", "dataset", "position", "token", "score_pred"]
    stats_gi = driver_statistics(preds, table, model=model, stopwords=STOP)
    assert list(stats_gi.columns) == DRIVER_STATS.names


def test_per_dataset_scopes_when_several_datasets(planted, one_thread) -> None:
    model, preds, tokens, segments = planted
    two = [df.assign(dataset=np.where(df["example_id"] % 2 == 0, "even", "odd")) for df in (preds, tokens, segments)]
    stats = driver_statistics(two[0], two[1], model=model, segments=two[2], stopwords=STOP)
    assert set(stats["scope"]) == {"all", "even", "odd"}
    for _, part in stats.groupby("scope"):
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
    pooled = stats[stats["scope"] == "all"].set_index(["kind", "unit"])
    halves = stats[stats["scope"] != "all"].groupby(["kind", "unit"])["n_texts"].sum()
    common = pooled.index.intersection(halves.index)
    assert len(common) and (pooled.loc[common, "n_texts"] >= halves.loc[common]).all()
    assert pooled.loc[("word", PLANT), "confirmed"]


def test_analysis_is_deterministic(planted, one_thread) -> None:
    model, preds, tokens, segments = planted
    a = analyze(preds, tokens, segments, model=model, stopwords=STOP)
    b = analyze(preds, tokens, segments, model=model, stopwords=STOP)
    for x, y in ((a.driver_stats, b.driver_stats), (a.failure_drivers, b.failure_drivers),
                 (a.minimal_fixes, b.minimal_fixes)):
        pd.testing.assert_frame_equal(x, y)


def test_failure_reasons_and_minimal_fixes(planted, one_thread) -> None:
    model, preds, tokens, segments = planted
    found = analyze(preds, tokens, segments, model=model, stopwords=STOP)
    fd, mf = found.failure_drivers, found.minimal_fixes
    assert list(fd.columns) == FAILURE_DRIVERS.names and list(mf.columns) == MINIMAL_FIXES.names
    n_err = int((~preds["correct"]).sum())
    assert len(mf) == n_err and set(fd["kind"]) == {"word", "phrase", "clause"}
    # recompute a few effects by hand
    batch = VariantBatch()
    toks = tokens.sort_values(["example_id", "position"]).groupby("example_id")["token"].agg(list)
    probs_of = {ex: p for ex, p in zip(preds["example_id"], preds["probs"])}
    gold_of = dict(zip(preds["example_id"], preds["gold"]))
    sample = fd.head(12)
    rows = [batch.add_variant(toks[ex], range(s, e)) for ex, s, e in zip(sample["example_id"], sample["start"],
                                                                          sample["end"])]
    probs = batch.predict(model)
    for (_, r), row in zip(sample.iterrows(), rows):
        g = gold_of[r["example_id"]]
        assert r["delta_prob_gold"] == pytest.approx(probs[row, g] - probs_of[r["example_id"]][g], abs=1e-5)
        assert r["fixes_error"] == (int(probs[row].argmax()) == g)
        assert r["verified"] == (r["fixes_error"] or r["delta_prob_gold"] >= 0.05)
    # the planted errors are fixed by removing the plant alone
    plant_fix = mf[mf["found"] & (mf["size"] == 1)]
    assert (plant_fix["words"].map(lambda w: w[0]) == PLANT).sum() >= 10
    for r in mf[mf["found"]].itertuples():
        variant = make_variant(toks[r.example_id], r.positions)
        p = model.predict_proba_tokens([list(variant)])[0]
        assert int(p.argmax()) == gold_of[r.example_id] and r.size == len(r.positions) == len(r.words)
        assert r.prob_gold_after == pytest.approx(float(p[gold_of[r.example_id]]), abs=1e-5)
        if r.size > 1:  # a smaller prefix would have been taken
            smaller = model.predict_proba_tokens([list(make_variant(toks[r.example_id], r.positions[:-1]))])[0]
            assert int(smaller.argmax()) != gold_of[r.example_id]


def test_variants_remove_unk_and_dedupe() -> None:
    assert make_variant(["a", "b", "c"], [1]) == ("a", "c")
    assert make_variant(["a", "b", "c"], [0, 2], mode="unk") == ("<unk>", "b", "<unk>")
    assert make_variant(["a"], [0]) == ("<unk>",)  # never empty
    with pytest.raises(ValueError):
        make_variant(["a"], [0], mode="swap")
    batch = VariantBatch()
    assert batch.add(["x", "y"]) == batch.add(("x", "y")) == 0 and batch.add(["y"]) == 1 and len(batch) == 2


def test_phrase_driver_where_the_words_alone_do_not_drive(one_thread) -> None:
    """Context plant: "zeroa onea" side by side is the shortcut; each token alone is harmless.

    The phrase spans are given as ``segments`` rows (the job takes them from the Table 1 chunker),
    so the test does not depend on how NLTK tags two nonsense tokens.
    """
    from tests.findings_task import PAIR

    model = train_model(plant=PAIR, steps=200)
    texts, golds = make_texts(400, seed=7, plant=PAIR, plant_rate=0.15, noise=0.1)
    preds, tokens, segments = run_tables(model, texts, golds)
    spans = [{"example_id": i, "dataset": "synthetic", "level": "phrase", "start": j, "end": j + 2,
              "text": " ".join(PAIR), "score_pred": 0.0}
             for i, t in enumerate(texts) for j in range(len(t) - 1) if (t[j], t[j + 1]) == PAIR]
    assert len(spans) >= 20
    segs = pd.concat([segments, pd.DataFrame(spans)], ignore_index=True)
    stats = driver_statistics(preds, tokens, model=model, segments=segs, stopwords=STOP)
    conf = stats[stats["confirmed"]]
    phrase = stats[(stats["kind"] == "phrase") & (stats["unit"] == "zeroa onea")].iloc[0]
    assert phrase["status"] == "confirmed"
    assert phrase["fix_rate_remove"] > phrase["control_fix_rate"]
    # the phrase is the most specific unit: its error-rate lift beats each of its words' (which also
    # occur alone, harmlessly); removing either word breaks the pair, so they may be confirmed too,
    # each against a control that is not the other half of the pair (that word is a suspect)
    assert phrase["lift"] == conf["lift"].max()
    # the phrase's score is the method's span sum, not the segments' score_pred (0.0 above)
    assert phrase["contrast_effect"] > 0
    assert set(conf["unit"]) <= {"zeroa onea", "zeroa", "onea"}


def test_minimal_fix_without_positive_words_is_empty_and_not_found(tiny_model, one_thread) -> None:
    from audit.findings import failure_reasons

    toks = [["the", "movie", "is", "great"], ["a", "bad", "film"]]
    probs = tiny_model.predict_proba_tokens(toks)
    pred = probs.argmax(dim=1).tolist()
    preds = pd.DataFrame({"example_id": [0, 1], "dataset": ["d", "d"], "gold": [1 - pred[0], pred[1]],
                          "pred": pred, "correct": [False, True]})
    rows = [{"example_id": i, "dataset": "d", "position": j, "token": w, "score_pred": -1.0 - j}
            for i, t in enumerate(toks) for j, w in enumerate(t)]
    fd, mf = failure_reasons(preds, pd.DataFrame(rows), None, model=tiny_model, stopwords=STOP)
    assert fd.empty and list(fd.columns) == FAILURE_DRIVERS.names  # no positive score: no reason to verify
    assert mf["example_id"].tolist() == [0]  # one row per error only
    row = mf.iloc[0]
    assert row["size"] == 0 and not row["found"] and list(row["positions"]) == [] and list(row["words"]) == []
    assert row["prob_gold_after"] == pytest.approx(float(probs[0, 1 - pred[0]]), abs=1e-6)


def test_reasons_skip_spans_covering_the_whole_text() -> None:
    from audit.findings.reasons import failure_drivers

    preds = pd.DataFrame({"example_id": [0], "dataset": ["d"], "gold": [1], "pred": [0], "correct": [False]})
    tokens = pd.DataFrame({"example_id": [0] * 4, "dataset": ["d"] * 4, "position": range(4),
                           "token": ["dull", ",", "but", "fun"], "score_pred": [2.0, 0.1, 0.2, -0.5]})
    segments = pd.DataFrame([
        {"example_id": 0, "dataset": "d", "level": "clause", "start": 0, "end": 4, "text": "dull , but fun", "score_pred": 1.8},
        {"example_id": 0, "dataset": "d", "level": "clause", "start": 0, "end": 2, "text": "dull ,", "score_pred": 2.1},
    ])
    every = failure_drivers(preds, tokens, segments, levels=("clause",))
    assert every["text"].tolist() == ["dull ,", "dull , but fun"]
    parts = failure_drivers(preds, tokens, segments, levels=("clause",), exclude_whole_text=True)
    assert parts["text"].tolist() == ["dull ,"] and parts["rank"].tolist() == [1]


def test_a_control_is_never_a_suspected_driver(one_thread) -> None:
    """Two-token shortcut: the control of one half must not be the other half (itself a driver)."""
    from audit.findings._inputs import build_inputs
    from audit.findings.drivers import plan_driver_variants
    from tests.findings_task import PAIR

    model = train_model(plant=PAIR, steps=200)
    texts, golds = make_texts(400, seed=7, plant=PAIR, plant_rate=0.15, noise=0.1)
    preds, tokens, _ = run_tables(model, texts, golds)
    config = FindingsConfig(phrases=False)
    inp = build_inputs(preds, tokens, None, top_k=config.top_k, stopwords=STOP)
    batch = VariantBatch()
    plan = plan_driver_variants(inp, config, batch)
    uid = plan.units.set_index("unit").loc["onea", "uid"]
    pairs = plan.pairs[(plan.pairs["uid"] == uid) & (plan.pairs["row_control"] >= 0)]
    assert len(pairs) >= 10
    texts_of = batch._texts  # the registered token lists, by row
    for doc, row in zip(pairs["_doc"], pairs["row_control"], strict=True):
        original = inp.token_list(int(doc))
        if "zeroa" in original:  # the control removed some other word, never the pair's other half
            assert "zeroa" in texts_of[int(row)]
    # and it is a suspect by its own association test, so it was eligible only through this rule
    assoc = plan.association["all"].merge(plan.units, on="uid")
    zeroa = assoc[assoc["unit"] == "zeroa"].iloc[0]
    assert min(zeroa["q_lift"], zeroa["q_contrast"]) <= config.fdr_q
