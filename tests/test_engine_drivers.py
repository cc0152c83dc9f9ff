"""Failure drivers, driver words and POS stats: pure functions over small hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.engine.drivers import (
    FAILURE_DRIVER_COLUMNS,
    driver_word_columns,
    driver_words,
    failure_drivers,
    train_label_counts,
)
from audit.engine.pos_stats import POS_STATS_COLUMNS, box_stats, merge_verbs, pos_stats

LABELS = ("negative", "positive")


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # ex 0: gold positive, predicted negative (error); "terribly" drives it.
    # ex 1: correct.  ex 2: error driven by "dull" then "terribly".
    texts = [
        ["he", "is", "terribly", "charismatic"],
        ["terribly", "bad"],
        ["dull", "but", "terribly", "fun"],
    ]
    scores = [[0.1, -0.2, 2.0, -0.5], [0.7, 1.5], [1.2, 0.0, 0.9, -0.1]]
    tags = [["PRP", "VBZ", "RB", "JJ"], ["RB", "JJ"], ["JJ", "CC", "RB", "NN"]]
    preds = pd.DataFrame(
        {
            "example_id": [0, 1, 2],
            "dataset": ["d", "d", "d"],
            "gold": [1, 0, 1],
            "pred": [0, 0, 0],
            "correct": [False, True, False],
        }
    )
    rows = []
    for ex, (toks, sc, tg) in enumerate(zip(texts, scores, tags)):
        for pos, (t, s, g) in enumerate(zip(toks, sc, tg)):
            rows.append({"example_id": ex, "dataset": "d", "position": pos, "token": t, "pos": g, "score_pred": s})
    tokens = pd.DataFrame(rows)
    segments = pd.DataFrame(
        [
            {"example_id": 0, "dataset": "d", "level": "phrase", "start": 2, "end": 4, "text": "terribly charismatic", "score_pred": 1.5},
            {"example_id": 0, "dataset": "d", "level": "phrase", "start": 0, "end": 2, "text": "he is", "score_pred": -0.1},
            {"example_id": 0, "dataset": "d", "level": "clause", "start": 0, "end": 4, "text": "he is terribly charismatic", "score_pred": 1.4},
            {"example_id": 1, "dataset": "d", "level": "phrase", "start": 0, "end": 2, "text": "terribly bad", "score_pred": 2.2},
            {"example_id": 2, "dataset": "d", "level": "phrase", "start": 0, "end": 1, "text": "dull", "score_pred": 1.2},
        ]
    )
    return preds, tokens, segments


def test_failure_drivers_only_errors_positive_scores_ranked() -> None:
    preds, tokens, segments = _tables()
    out = failure_drivers(preds, tokens, segments, top_k=2)
    assert list(out.columns) == FAILURE_DRIVER_COLUMNS  # REAT ranking; the job adds the verified effect
    assert set(out["example_id"]) == {0, 2}  # the correct text 1 is never a failure
    assert (out["score"] > 0).all()
    ex0 = out[(out["example_id"] == 0) & (out["kind"] == "word")]
    assert ex0["text"].tolist() == ["terribly", "he"] and ex0["rank"].tolist() == [1, 2]
    assert ex0["start"].tolist() == [2, 0] and ex0["end"].tolist() == [3, 1]
    ph0 = out[(out["example_id"] == 0) & (out["kind"] == "phrase")]
    assert ph0["text"].tolist() == ["terribly charismatic"]  # negative phrase and clause level dropped
    ex2 = out[(out["example_id"] == 2) & (out["kind"] == "word")]
    assert ex2["text"].tolist() == ["dull", "terribly"]


def test_driver_words_counts_scores_and_training_skew() -> None:
    preds, tokens, segments = _tables()
    drivers = failure_drivers(preds, tokens, segments, top_k=2)
    train = train_label_counts(
        [["terribly", "awful"], ["terribly", "bad", "terribly"], ["dull"], ["fun", "dull"]], [0, 0, 0, 1], LABELS
    )
    assert train.loc["terribly"].tolist() == [2, 0]  # texts, not occurrences
    out = driver_words(preds, tokens, drivers, label_names=LABELS, train_counts=train)
    assert list(out.columns) == driver_word_columns(LABELS)
    assert out["rank"].tolist() == list(range(1, len(out) + 1))
    row = out.set_index("word").loc["terribly"]
    assert row["n_top_error"] == 1 and row["n_in_errors"] == 2 and row["n_occurrences"] == 3
    assert row["mean_score"] == pytest.approx((2.0 + 0.7 + 0.9) / 3)
    assert row["std_score"] == pytest.approx(np.std([2.0, 0.7, 0.9]))
    assert row["pos"] == "RB"
    assert row["train_count_negative"] == 2 and row["train_count_positive"] == 0 and row["train_label_skew"] == 1.0
    assert out.set_index("word").loc["dull", "train_label_skew"] == pytest.approx(0.5)
    assert math.isnan(out.set_index("word").loc["he", "train_label_skew"])  # unseen in training
    # ties on n_top_error (terribly, dull) broken by n_in_errors
    assert out["word"].tolist()[:2] == ["terribly", "dull"]


def test_driver_words_without_errors_is_empty_with_columns() -> None:
    preds, tokens, segments = _tables()
    preds = preds.assign(correct=True)
    drivers = failure_drivers(preds, tokens, segments)
    assert drivers.empty
    out = driver_words(preds, tokens, drivers, label_names=LABELS)
    assert out.empty and list(out.columns) == driver_word_columns(LABELS)


def test_words_only_skips_punctuation_and_promotes_the_next_driver() -> None:
    preds = pd.DataFrame({"example_id": [0], "dataset": ["d"], "gold": [1], "pred": [0], "correct": [False]})
    tokens = pd.DataFrame({"example_id": [0, 0, 0], "dataset": ["d"] * 3, "position": [0, 1, 2],
                           "token": ["bad", "movie", "."], "pos": ["JJ", "NN", "."], "score_pred": [1.0, 0.5, 2.0]})
    segments = pd.DataFrame(columns=["example_id", "dataset", "level", "start", "end", "text", "score_pred"])
    drivers = failure_drivers(preds, tokens, segments)
    assert drivers["text"].tolist() == [".", "bad", "movie"]  # the per-text table keeps punctuation
    every = driver_words(preds, tokens, drivers, label_names=LABELS).set_index("word")
    assert every.loc[".", "n_top_error"] == 1 and every.loc["bad", "n_top_error"] == 0
    words = driver_words(preds, tokens, drivers, label_names=LABELS, words_only=True)
    assert words["word"].tolist() == ["bad", "movie"] and words["n_top_error"].tolist() == [1, 0]


def test_pos_stats_merges_verbs_and_ranks_by_median() -> None:
    assert merge_verbs("VBD") == "VB" and merge_verbs("NN") == "NN"
    df = pd.DataFrame(
        {
            "pos": ["VBD", "VBZ", "VB", "NN", "NN", "JJ"],
            "score_pred": [1.0, 2.0, 3.0, -1.0, 0.0, 5.0],
        }
    )
    out = pos_stats(df)
    assert list(out.columns) == POS_STATS_COLUMNS
    assert out["pos"].tolist() == ["JJ", "VB", "NN"]
    vb = out.set_index("pos").loc["VB"]
    assert vb["n"] == 3 and vb["median"] == 2.0 and vb["q1"] == 1.5 and vb["q3"] == 2.5


def test_box_stats_whiskers_exclude_outliers() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    st = box_stats(values)
    assert st["q1"] == 2.0 and st["q3"] == 4.0
    assert st["hi_whisker"] == 4.0 and st["lo_whisker"] == 1.0  # 100 lies beyond q3 + 1.5 IQR
    assert st["mean"] == pytest.approx(22.0)
