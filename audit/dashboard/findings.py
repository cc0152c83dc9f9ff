"""Findings with their evidence: confirmed driver words, verified failure reasons, minimal fixes.

Reads the tables of CONTRACTS.md: ``driver_stats`` (one row per candidate unit and scope),
the extended ``failure_drivers`` (``fixes_error``, ``delta_prob_gold``, ``verified``) and
``minimal_fixes``.  Runs made before those tables existed get a plain message, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

NO_STATS_MESSAGE = "This run has no driver statistics (made with an older version): the ranking below is the raw one."
NO_CONFIRMED_MESSAGE = "No confirmed driver words in this run."
NO_VERIFIED_MESSAGE = "This run did not verify reasons by removal (made with an older version)."

STATS_COLUMNS: tuple[str, ...] = (
    "rank", "unit", "kind", "status", "pos", "n_texts", "n_errors", "n_top_error", "error_rate_with",
    "error_rate_without", "lift", "q_lift", "contrast_effect", "q_contrast", "n_cf", "n_fixed", "fix_rate_remove",
    "fix_rate_low", "fix_rate_high", "fix_rate_unk", "control_fix_rate", "n_control", "p_fix", "q_fix",
)
"""Columns of the driver-statistics view, in display order (those the run has)."""


def has_columns(frame: pd.DataFrame | None, columns: Sequence[str]) -> bool:
    return frame is not None and set(columns) <= set(frame.columns)


def scopes(driver_stats: pd.DataFrame) -> list[str]:
    """Scopes present, the pooled ``all`` first."""
    found = sorted({str(s) for s in driver_stats.get("scope", pd.Series(["all"]))})
    return sorted(found, key=lambda s: (s != "all", s))


def stats_view(
    driver_stats: pd.DataFrame,
    *,
    scope: str = "all",
    kind: str | None = "word",
    show_candidates: bool = False,
    query: str = "",
) -> pd.DataFrame:
    """Confirmed units first (by ``rank``), then, with ``show_candidates``, the others."""
    out = driver_stats
    if "scope" in out:
        out = out[out["scope"].astype(str) == scope]
    if kind and "kind" in out:
        out = out[out["kind"].astype(str) == kind]
    if not show_candidates:
        out = out[out["confirmed"].astype(bool)]
    if query.strip():
        out = out[out["unit"].astype(str).str.contains(query.strip(), case=False, regex=False)]
    out = out.assign(_c=~out["confirmed"].astype(bool)).sort_values(["_c", "rank", "unit"], kind="stable")
    cols = [c for c in STATS_COLUMNS if c in out.columns]
    return out.loc[:, cols].reset_index(drop=True)


def n_confirmed(driver_stats: pd.DataFrame, *, scope: str = "all", kind: str | None = "word") -> int:
    return len(stats_view(driver_stats, scope=scope, kind=kind))


def headline(driver_stats: pd.DataFrame | None, *, scope: str = "all", kind: str | None = "word") -> str:
    """One sentence for the top of the Driver words page."""
    if driver_stats is None or "confirmed" not in driver_stats:
        return NO_STATS_MESSAGE
    n = n_confirmed(driver_stats, scope=scope, kind=kind)
    if n == 0:
        return NO_CONFIRMED_MESSAGE
    what = "driver word" if kind == "word" else "driver phrase" if kind == "phrase" else "driver"
    return (f"{n} confirmed {what}{'s' if n != 1 else ''} in this run: more errors with it than without "
            "(one-sided Fisher test, Benjamini-Hochberg over all tested) and removing it fixes errors more "
            "often than removing a control word.")


@dataclass(frozen=True)
class Reason:
    """One reason for a misclassification, with its removal evidence when the run recorded it."""

    text: str
    kind: str
    score: float
    fixes_error: bool | None = None
    delta_prob_gold: float | None = None

    @property
    def verdict(self) -> str:
        if self.fixes_error is None:
            return "not tested"
        return "verified: removing it fixes the error" if self.fixes_error else "removing it alone does not fix it"


def _opt_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def reasons(failure_drivers: pd.DataFrame | None, *, dataset: str, example_id: int, k: int = 5) -> list[Reason]:
    """The ``k`` strongest reasons (words, phrases, clauses) for one misclassification.

    A unit covering the same span as a stronger one (a one-word phrase) is listed once.
    """
    if failure_drivers is None or failure_drivers.empty:
        return []
    rows = failure_drivers[(failure_drivers["dataset"] == dataset) & (failure_drivers["example_id"] == example_id)]
    rows = rows.sort_values(["rank", "kind"], kind="stable")
    span = [c for c in ("start", "end") if c in rows] or ["text"]
    rows = rows.drop_duplicates(subset=span, keep="first").head(k)
    has_fix = "fixes_error" in rows
    return [
        Reason(
            text=str(r["text"]), kind=str(r.get("kind", "word")), score=float(r["score"]),
            fixes_error=_opt_bool(r.get("fixes_error")) if has_fix else None,
            delta_prob_gold=_opt_float(r.get("delta_prob_gold")) if "delta_prob_gold" in rows else None,
        )
        for r in rows.to_dict(orient="records")
    ]


def reasons_frame(items: Sequence[Reason]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unit": r.text, "kind": r.kind, "score": r.score, "fixes_error": r.fixes_error,
          "delta_prob_gold": r.delta_prob_gold} for r in items],
        columns=["unit", "kind", "score", "fixes_error", "delta_prob_gold"],
    )


def minimal_fix(minimal_fixes: pd.DataFrame | None, *, dataset: str, example_id: int) -> str | None:
    """A sentence on the smallest set of words whose removal fixes the error, or None if not recorded."""
    if minimal_fixes is None or minimal_fixes.empty:
        return None
    rows = minimal_fixes[(minimal_fixes["dataset"] == dataset) & (minimal_fixes["example_id"] == example_id)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    if not bool(row["found"]):
        return "No small set of removed words fixes this error (searched up to the configured size)."
    words = [str(w) for w in list(row["words"])]
    return (f"Removing {len(words)} word{'s' if len(words) != 1 else ''} "
            f"({', '.join(repr(w) for w in words)}) makes the prediction right "
            f"(p(gold) becomes {float(row['prob_gold_after']):.1%}).")


def failures_with_unit(
    failure_drivers: pd.DataFrame | None, unit: str, *, verified_only: bool = False
) -> set[tuple[str, int]]:
    """(dataset, example_id) of failures that list ``unit`` among their reasons."""
    if failure_drivers is None or failure_drivers.empty:
        return set()
    rows = failure_drivers[failure_drivers["text"].astype(str).str.lower() == unit.lower()]
    if verified_only and "fixes_error" in rows:
        rows = rows[rows["fixes_error"].fillna(False).astype(bool)]
    return {(str(d), int(e)) for d, e in zip(rows["dataset"], rows["example_id"])}
