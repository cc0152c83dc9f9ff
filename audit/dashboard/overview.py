"""Error overview of one run (Failures page): confusion matrix and error rates per slice.

Slices: gold label, text length (tokens), confidence of the prediction, and texts containing a
confirmed driver word (from the ``driver_stats`` table, when the run has one).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from audit.dashboard.failures import label_text

LENGTH_EDGES: tuple[int, ...] = (0, 5, 10, 20, 40)
"""Length buckets in tokens: 1-5, 6-10, 11-20, 21-40, 41+."""
CONFIDENCE_EDGES: tuple[float, ...] = (0.0, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Confidence buckets of ``prob_pred`` (below 0.6 together: rare for two classes)."""

SLICE_COLUMNS: list[str] = ["slice", "n", "n_errors", "error_rate"]

TRAILING_DOT_NOTE = (
    'Why "." tops so many failures: REAT multiplies each word\'s evidence by the update (GRU) or forget '
    "(LSTM) gates of every later step, so it credits the end of a text, and the last token is usually \".\". "
    "A word that REAT ranks first is not necessarily a reason the model failed: the verified reasons below "
    "(removing the word makes the prediction right) and the confirmed driver words are. "
    "See reports/paper/FINDINGS.md, \"Why REAT loses faithfulness here\"."
)


def confusion_matrix(predictions: pd.DataFrame, labels: Mapping[int, str]) -> pd.DataFrame:
    """Counts with one row per gold label and one column per predicted label (label names)."""
    classes = sorted({int(v) for v in predictions["gold"]} | {int(v) for v in predictions["pred"]})
    names = [label_text(c, labels) for c in classes]
    table = pd.crosstab(predictions["gold"].astype(int), predictions["pred"].astype(int))
    table = table.reindex(index=classes, columns=classes, fill_value=0)
    table.index = pd.Index(names, name="true \\ predicted")
    table.columns = names
    return table.reset_index()


def _rates(groups: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:
    out = groups["correct"].agg(n="size", n_correct="sum").reset_index()
    out["n_errors"] = (out["n"] - out["n_correct"]).astype(int)
    out["error_rate"] = out["n_errors"] / out["n"].where(out["n"] > 0)
    return out


def _prepared(predictions: pd.DataFrame) -> pd.DataFrame:
    return predictions.assign(correct=predictions["correct"].astype(bool).astype(int))


def error_rate_by_label(predictions: pd.DataFrame, labels: Mapping[int, str]) -> pd.DataFrame:
    """Error rate per gold label."""
    out = _rates(_prepared(predictions).groupby("gold", sort=True))
    out["slice"] = [f"gold {label_text(g, labels)}" for g in out["gold"]]
    return out.loc[:, SLICE_COLUMNS]


def _bucket_names(edges: tuple[float, ...], *, integer: bool) -> list[str]:
    names = []
    for lo, hi in itertools.pairwise(edges):
        names.append(f"{int(lo) + 1}-{int(hi)}" if integer else f"{lo:.1f}-{hi:.1f}")
    names.append(f"{int(edges[-1]) + 1}+" if integer else "")
    return names


def error_rate_by_length(predictions: pd.DataFrame, *, edges: tuple[int, ...] = LENGTH_EDGES) -> pd.DataFrame:
    """Error rate per length bucket (tokens; ``n_tokens``), in bucket order; empty buckets omitted."""
    data = _prepared(predictions)
    names = _bucket_names(tuple(float(e) for e in edges), integer=True)
    index = np.searchsorted(np.asarray(edges[1:]), data["n_tokens"].astype(int).to_numpy(), side="left")
    data = data.assign(bucket=index)
    out = _rates(data.groupby("bucket", sort=True))
    out["slice"] = [f"{names[int(b)]} tokens" for b in out["bucket"]]
    return out.loc[:, SLICE_COLUMNS]


def error_rate_by_confidence(
    predictions: pd.DataFrame, *, edges: tuple[float, ...] = CONFIDENCE_EDGES
) -> pd.DataFrame:
    """Error rate per confidence bucket of the prediction (``prob_pred``), in bucket order."""
    data = _prepared(predictions)
    names = _bucket_names(edges, integer=False)[:-1]
    inner = np.asarray(edges[1:-1])
    index = np.searchsorted(inner, data["prob_pred"].astype(float).to_numpy(), side="right")
    data = data.assign(bucket=index)
    out = _rates(data.groupby("bucket", sort=True))
    out["slice"] = [f"confidence {names[int(b)]}" for b in out["bucket"]]
    return out.loc[:, SLICE_COLUMNS]


def driver_slices(driver_stats: pd.DataFrame | None, *, scope: str = "all", top: int = 10) -> pd.DataFrame | None:
    """Slices "texts containing <confirmed driver>" with the highest error rate.

    From ``driver_stats`` (confirmed rows of ``scope``); None when the run has no such table.
    Columns: slice, unit, kind, n, n_errors, error_rate, error_rate_without, lift, q_lift.
    """
    if driver_stats is None:
        return None
    cols = ["slice", "unit", "kind", "n", "n_errors", "error_rate", "error_rate_without", "lift", "q_lift"]
    rows = driver_stats
    if "scope" in rows:
        rows = rows[rows["scope"].astype(str) == scope]
    rows = rows[rows["confirmed"].astype(bool)] if "confirmed" in rows else rows.iloc[0:0]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({
        "slice": [f"texts containing {u!r}" for u in rows["unit"].astype(str)],
        "unit": rows["unit"].astype(str).to_numpy(),
        "kind": rows["kind"].astype(str).to_numpy(),
        "n": rows["n_texts"].astype(int).to_numpy(),
        "n_errors": rows["n_errors"].astype(int).to_numpy(),
        "error_rate": rows["error_rate_with"].astype(float).to_numpy(),
        "error_rate_without": rows["error_rate_without"].astype(float).to_numpy(),
        "lift": rows["lift"].astype(float).to_numpy(),
        "q_lift": rows["q_lift"].astype(float).to_numpy(),
    })
    out = out.sort_values(["error_rate", "n_errors", "unit"], ascending=[False, False, True], kind="stable")
    return out.head(top).reset_index(drop=True)


def top_unit_share(failure_drivers: pd.DataFrame | None, unit: str = ".") -> tuple[int, int]:
    """(failures whose rank-1 word is ``unit``, failures with a rank-1 word), for the note on "."."""
    if failure_drivers is None or failure_drivers.empty:
        return 0, 0
    first = failure_drivers[(failure_drivers["rank"] == 1) & (failure_drivers["kind"] == "word")]
    first = first.drop_duplicates(subset=["dataset", "example_id"])
    return int((first["text"].astype(str) == unit).sum()), len(first)
