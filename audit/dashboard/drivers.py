"""Driver-words view model: the ranked table, a word's score distribution, label counts and texts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

TABLE_COLUMNS: tuple[str, ...] = (
    "rank", "word", "pos", "n_top_error", "n_in_errors", "n_occurrences", "mean_score", "std_score", "train_label_skew",
)


def driver_table(drivers: pd.DataFrame, *, query: str = "", min_errors: int = 0, limit: int = 500) -> pd.DataFrame:
    """Ranked driver words, optionally filtered by substring and minimum error count, at most ``limit`` rows."""
    out = drivers.sort_values("rank", kind="stable")
    if query.strip():
        out = out[out["word"].astype(str).str.contains(query.strip(), case=False, regex=False)]
    if min_errors:
        out = out[out["n_in_errors"] >= min_errors]
    cols = [c for c in TABLE_COLUMNS if c in out.columns] + [c for c in out.columns if c.startswith("train_count_")]
    return out.loc[:, cols].head(limit).reset_index(drop=True)


def _token_mask(token_attributions: pd.DataFrame, word: str) -> pd.Series:
    return token_attributions["token"].astype(str).str.lower() == word.lower()


def word_scores(token_attributions: pd.DataFrame, word: str, *, column: str = "score_gold") -> np.ndarray:
    """Every REAT score of ``word`` across the dataset (Fig. 8).

    ``score_gold`` (toward the true class, the paper's view: a word consistently
    negative for its texts' true sentiment is suspect) or ``score_pred``.
    """
    return token_attributions.loc[_token_mask(token_attributions, word), column].astype(float).to_numpy()


def train_label_counts(driver_row: Mapping[str, Any]) -> pd.DataFrame:
    """How often the word occurs in training texts of each label (``train_count_<label>`` columns)."""
    rows = [
        {"label": key[len("train_count_"):], "count": int(value)}
        for key, value in driver_row.items()
        if str(key).startswith("train_count_") and pd.notna(value)
    ]
    return pd.DataFrame(rows, columns=["label", "count"])


def texts_with_word(
    predictions: pd.DataFrame,
    token_attributions: pd.DataFrame,
    word: str,
    *,
    limit: int = 50,
    errors_only: bool = False,
) -> pd.DataFrame:
    """Texts containing ``word`` with the word's score, errors first, at most ``limit`` rows."""
    hits = token_attributions.loc[_token_mask(token_attributions, word), ["dataset", "example_id", "score_pred", "score_gold"]]
    per_text = hits.groupby(["dataset", "example_id"], as_index=False).agg(
        word_score_pred=("score_pred", "sum"), word_score_gold=("score_gold", "sum"), occurrences=("score_pred", "size")
    )
    cols = ["dataset", "example_id", "text", "gold", "pred", "prob_pred", "correct"]
    merged = per_text.merge(predictions.loc[:, cols], on=["dataset", "example_id"])
    if errors_only:
        merged = merged[~merged["correct"].astype(bool)]
    merged = merged.sort_values(["correct", "word_score_pred"], ascending=[True, False], kind="stable")
    return merged.loc[:, [*cols, "occurrences", "word_score_pred", "word_score_gold"]].head(limit).reset_index(drop=True)


def flip_rates_for(flip_rates: pd.DataFrame | None, word: str) -> pd.DataFrame | None:
    """Rows of ``driver_flip_rates`` about ``word`` (as the swapped word or its replacement), highest rate first."""
    if flip_rates is None:
        return None
    w = word.lower()
    mask = flip_rates["word"].astype(str).str.lower() == w
    if "replacement" in flip_rates:
        mask |= flip_rates["replacement"].astype(str).str.lower() == w
    return flip_rates[mask].sort_values(["rate", "n_texts"], ascending=[False, False], kind="stable").reset_index(drop=True)


def score_column(sign: str) -> str:
    """The token-table column of a sign convention (``pred`` -> ``score_pred``, ``gold`` -> ``score_gold``)."""
    if sign not in ("pred", "gold"):
        raise ValueError(f"sign must be 'pred' or 'gold', got {sign!r}")
    return f"score_{sign}"
