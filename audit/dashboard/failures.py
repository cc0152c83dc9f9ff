"""Failures view model: filter misclassified texts, page them, and build their heatmaps."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

LEVELS: tuple[str, ...] = ("word", "phrase", "clause")


@dataclass(frozen=True)
class FailureFilter:
    """What the Failures page shows. Empty label selections mean 'any'."""

    gold: tuple[int, ...] = ()
    pred: tuple[int, ...] = ()
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    query: str = ""
    dataset: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of a frame: rows, 1-based page ``number``, ``n_pages`` and ``total`` rows."""

    frame: pd.DataFrame
    number: int
    n_pages: int
    total: int


def label_names(manifest: Mapping[str, Any] | None, drivers: pd.DataFrame | None = None) -> dict[int, str]:
    """Class index -> label name.

    Taken from the manifest (``labels`` at top level or under ``config``/``data``)
    when present, else from the ``train_count_<label>`` columns of ``driver_words``
    (in column order); empty when unknown (callers then show the index).
    """
    manifest = manifest or {}
    for source in (manifest, manifest.get("config") or {}, manifest.get("model") or {}):
        labels = source.get("labels") if isinstance(source, Mapping) else None
        if isinstance(labels, (list, tuple)) and labels:
            return {i: str(name) for i, name in enumerate(labels)}
    if drivers is not None:
        names = [c[len("train_count_"):] for c in drivers.columns if c.startswith("train_count_")]
        return dict(enumerate(names))
    return {}


def label_text(index: Any, labels: Mapping[int, str]) -> str:
    try:
        return labels.get(int(index), str(index))
    except (TypeError, ValueError):
        return str(index)


def word_pattern(query: str) -> str:
    """Regex matching ``query`` as a whole word (or words), case-insensitively."""
    return r"(?<!\w)" + re.escape(query.strip()) + r"(?!\w)"


def failures(predictions: pd.DataFrame) -> pd.DataFrame:
    """The misclassified rows, most confident first."""
    wrong = predictions[~predictions["correct"].astype(bool)]
    return wrong.sort_values(["prob_pred", "dataset", "example_id"], ascending=[False, True, True], kind="stable")


def filter_failures(predictions: pd.DataFrame, flt: FailureFilter) -> pd.DataFrame:
    """Misclassified texts matching ``flt`` (gold/pred labels, confidence range, word search)."""
    out = failures(predictions)
    if flt.dataset:
        out = out[out["dataset"] == flt.dataset]
    if flt.gold:
        out = out[out["gold"].isin(flt.gold)]
    if flt.pred:
        out = out[out["pred"].isin(flt.pred)]
    out = out[(out["prob_pred"] >= flt.min_confidence) & (out["prob_pred"] <= flt.max_confidence)]
    if flt.query.strip():
        out = out[out["text"].astype(str).str.contains(word_pattern(flt.query), case=False, regex=True)]
    return out


def paginate(frame: pd.DataFrame, *, page: int, page_size: int) -> Page:
    """Rows of the 1-based ``page`` (clamped into range) of ``page_size`` rows."""
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    total = len(frame)
    n_pages = max(1, math.ceil(total / page_size))
    number = min(max(1, int(page)), n_pages)
    start = (number - 1) * page_size
    return Page(frame=frame.iloc[start : start + page_size], number=number, n_pages=n_pages, total=total)


def example_units(
    token_attributions: pd.DataFrame,
    segments: pd.DataFrame | None,
    *,
    dataset: str,
    example_id: int,
    level: str = "word",
    column: str = "score_pred",
) -> tuple[list[str], list[float]]:
    """The units (words, phrases or clauses) of one example and their REAT scores.

    ``column``: ``score_pred`` (toward the predicted class, the dashboard's convention) or
    ``score_gold`` (toward the true class; word level only, segments record ``score_pred``).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if level == "word":
        rows = token_attributions[
            (token_attributions["dataset"] == dataset) & (token_attributions["example_id"] == example_id)
        ].sort_values("position")
        return [str(t) for t in rows["token"]], [float(s) for s in rows[column]]
    if segments is None or segments.empty:
        return [], []
    rows = segments[
        (segments["dataset"] == dataset) & (segments["example_id"] == example_id) & (segments["level"] == level)
    ].sort_values("start")
    return [str(t) for t in rows["text"]], [float(s) for s in rows["score_pred"]]


def top_drivers(failure_drivers: pd.DataFrame | None, *, dataset: str, example_id: int, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` strongest reasons (word or phrase, score) for one misclassification.

    A one-word phrase covers the same span as the word: it is listed once."""
    if failure_drivers is None or failure_drivers.empty:
        return []
    rows = failure_drivers[
        (failure_drivers["dataset"] == dataset) & (failure_drivers["example_id"] == example_id)
    ].sort_values(["rank", "kind"], kind="stable")
    span = [c for c in ("start", "end") if c in rows] or ["text"]
    rows = rows.drop_duplicates(subset=span, keep="first")
    return [(str(r.text), float(r.score)) for r in rows.head(k).itertuples()]


def confidence_bounds(predictions: pd.DataFrame) -> tuple[float, float]:
    """Floor/ceil (to 0.01) of the failures' confidence range, for a slider."""
    wrong = failures(predictions)
    if wrong.empty:
        return 0.0, 1.0
    lo = math.floor(float(wrong["prob_pred"].min()) * 100) / 100
    hi = math.ceil(float(wrong["prob_pred"].max()) * 100) / 100
    return lo, max(hi, lo + 0.01)


def labels_present(predictions: pd.DataFrame, column: str) -> list[int]:
    return sorted(int(v) for v in failures(predictions)[column].dropna().unique())


def units_for_page(
    page: pd.DataFrame,
    token_attributions: pd.DataFrame,
    segments: pd.DataFrame | None,
    *,
    level: str,
    column: str = "score_pred",
) -> list[tuple[list[str], list[float]]]:
    """:func:`example_units` for every row of ``page`` (in order)."""
    keys: Sequence[tuple[str, int]] = list(zip(page["dataset"].astype(str), page["example_id"].astype(int)))
    return [example_units(token_attributions, segments, dataset=d, example_id=e, level=level, column=column)
            for d, e in keys]


LABEL_COLUMNS: tuple[str, ...] = ("gold", "pred", "pred_old", "pred_new", "pred_before", "pred_after")


def with_label_names(frame: pd.DataFrame, labels: Mapping[int, str]) -> pd.DataFrame:
    """A copy of ``frame`` whose label columns hold label names instead of class indices."""
    if not labels:
        return frame
    out = frame.copy()
    for col in LABEL_COLUMNS:
        if col in out.columns:
            out[col] = [label_text(v, labels) for v in out[col]]
    return out
