"""Failure drivers: what pushes misclassified texts toward the wrong class.

Pure functions over the run tables (``predictions``, ``token_attributions``,
``segments``; see docs/ARCHITECTURE.md).  Scores are REAT contributions toward
the *predicted* class, so for an error a positive score pushes the text toward
the wrong answer (the paper's section 4.8.1: "terribly" driving a negative
prediction of a positive review).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.data.tokenize import is_punct

FAILURE_DRIVER_COLUMNS = ["example_id", "dataset", "rank", "kind", "text", "start", "end", "score"]
_KEY = ["dataset", "example_id"]


def train_count_column(label: str) -> str:
    return f"train_count_{label}"


def driver_word_columns(label_names: Sequence[str]) -> list[str]:
    base = ["rank", "word", "pos", "n_top_error", "n_in_errors", "n_occurrences", "mean_score", "std_score"]
    return base + [train_count_column(lab) for lab in label_names] + ["train_label_skew"]


def _errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """The misclassified rows' keys plus their order in ``predictions``."""
    keys = predictions[_KEY].copy()
    keys["_order"] = np.arange(len(predictions))
    return keys[~predictions["correct"].to_numpy(dtype=bool)]


def _top_positive(rows: pd.DataFrame, errors: pd.DataFrame, *, top_k: int, tiebreak: str) -> pd.DataFrame:
    merged = rows.merge(errors, on=_KEY, how="inner")
    merged = merged[merged["score_pred"] > 0]
    merged = merged.sort_values(["_order", "score_pred", tiebreak], ascending=[True, False, True], kind="mergesort")
    top = merged.groupby("_order", sort=False).head(top_k).copy()
    top["rank"] = top.groupby("_order", sort=False).cumcount() + 1
    return top


def failure_drivers(
    predictions: pd.DataFrame,
    token_attributions: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    top_k: int = 3,
) -> pd.DataFrame:
    """For each misclassified text, its top-``top_k`` words and phrases with a positive score toward the prediction.

    Ranks start at 1 within (text, kind); ties are broken by position.  Texts
    appear in ``predictions`` order, words before phrases.
    """
    errors = _errors(predictions)
    words = _top_positive(token_attributions, errors, top_k=top_k, tiebreak="position")
    words = pd.DataFrame(
        {
            "example_id": words["example_id"],
            "dataset": words["dataset"],
            "rank": words["rank"],
            "kind": "word",
            "text": words["token"],
            "start": words["position"],
            "end": words["position"] + 1,
            "score": words["score_pred"],
            "_order": words["_order"],
        }
    )
    phrase_rows = segments[segments["level"] == "phrase"]
    phrases = _top_positive(phrase_rows, errors, top_k=top_k, tiebreak="start")
    phrases = pd.DataFrame(
        {
            "example_id": phrases["example_id"],
            "dataset": phrases["dataset"],
            "rank": phrases["rank"],
            "kind": "phrase",
            "text": phrases["text"],
            "start": phrases["start"],
            "end": phrases["end"],
            "score": phrases["score_pred"],
            "_order": phrases["_order"],
        }
    )
    out = pd.concat([words, phrases], ignore_index=True)
    out["_kind"] = (out["kind"] == "phrase").astype(int)
    out = out.sort_values(["_order", "_kind", "rank"], kind="mergesort")
    out = out[FAILURE_DRIVER_COLUMNS].reset_index(drop=True)
    return out.astype({"example_id": "int64", "rank": "int64", "start": "int64", "end": "int64", "score": "float64"})


def train_label_counts(
    token_lists: Sequence[Sequence[str]], labels: Sequence[int], label_names: Sequence[str]
) -> pd.DataFrame:
    """Per word, the number of training texts of each label that contain it (index: word)."""
    counts = [Counter[str]() for _ in label_names]
    for toks, lab in zip(token_lists, labels, strict=True):
        counts[int(lab)].update(set(toks))
    words = sorted(set().union(*counts)) if counts else []
    data = {train_count_column(name): [c.get(w, 0) for w in words] for name, c in zip(label_names, counts, strict=True)}
    return pd.DataFrame(data, index=pd.Index(words, name="word"), dtype="int64")


def _most_frequent_tag(token_attributions: pd.DataFrame) -> pd.Series:
    sizes = token_attributions.groupby(["token", "pos"], sort=False).size().rename("count").reset_index()
    sizes = sizes.sort_values(["token", "count", "pos"], ascending=[True, False, True], kind="mergesort")
    return sizes.drop_duplicates("token").set_index("token")["pos"]


def driver_words(
    predictions: pd.DataFrame,
    token_attributions: pd.DataFrame,
    drivers: pd.DataFrame,
    *,
    label_names: Sequence[str],
    train_counts: pd.DataFrame | None = None,
    words_only: bool = False,
) -> pd.DataFrame:
    """Rank the words that drive errors (words in ``drivers`` of kind ``word``).

    With ``words_only`` tokens without a letter or digit (punctuation) are left
    out, and the top contributor of an error is its best remaining driver.

    - ``n_top_error``: errors where the word is the top contributor (rank 1);
    - ``n_in_errors``: misclassified texts containing the word;
    - ``n_occurrences``, ``mean_score``, ``std_score`` (population std): over every
      occurrence in every text, score toward the predicted class;
    - ``pos``: most frequent PTB tag (ties alphabetical);
    - ``train_count_<label>``: training texts of that label containing the word,
      ``train_label_skew``: the largest label share among them (NaN if unseen in training).

    Ranked by ``n_top_error``, then ``n_in_errors``, then ``mean_score`` (all descending), then the word.
    """
    columns = driver_word_columns(label_names)
    word_drivers = drivers[drivers["kind"] == "word"]
    if words_only:
        word_drivers = word_drivers[word_drivers["text"].map(lambda t: not is_punct(t)).astype(bool)]
    if word_drivers.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
        return empty.astype({"word": "object", "pos": "object", "rank": "int64", "n_top_error": "int64",
                             "n_in_errors": "int64", "n_occurrences": "int64",
                             **{train_count_column(lab): "int64" for lab in label_names}})
    words = pd.Index(word_drivers["text"].unique(), name="word")
    first = word_drivers.sort_values("rank", kind="mergesort").drop_duplicates(_KEY)  # best driver per error
    n_top = first.groupby("text").size().reindex(words, fill_value=0)
    errors = _errors(predictions)
    in_err = token_attributions.merge(errors, on=_KEY, how="inner").drop_duplicates(_KEY + ["token"])
    n_in = in_err.groupby("token").size().reindex(words, fill_value=0)
    stats = token_attributions.groupby("token")["score_pred"].agg(
        n="size", mean="mean", std=lambda s: float(np.std(s.to_numpy(dtype=np.float64)))
    ).reindex(words)
    pos = _most_frequent_tag(token_attributions).reindex(words)
    out = pd.DataFrame(
        {
            "word": words,
            "pos": pos.to_numpy(),
            "n_top_error": n_top.to_numpy(),
            "n_in_errors": n_in.to_numpy(),
            "n_occurrences": stats["n"].to_numpy(),
            "mean_score": stats["mean"].to_numpy(dtype=np.float64),
            "std_score": stats["std"].to_numpy(dtype=np.float64),
        }
    )
    count_cols = [train_count_column(lab) for lab in label_names]
    if train_counts is not None and not train_counts.empty:
        counts = train_counts.reindex(words, fill_value=0)[count_cols].to_numpy(dtype=np.int64)
    else:
        counts = np.zeros((len(words), len(count_cols)), dtype=np.int64)
    for j, col in enumerate(count_cols):
        out[col] = counts[:, j]
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["train_label_skew"] = np.where(total > 0, counts.max(axis=1, initial=0) / np.maximum(total, 1), np.nan)
    out = out.sort_values(
        ["n_top_error", "n_in_errors", "mean_score", "word"], ascending=[False, False, False, True], kind="mergesort"
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    return out[columns].astype({"n_top_error": "int64", "n_in_errors": "int64", "n_occurrences": "int64"})

