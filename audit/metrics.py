"""Headline metrics of a run: each defined once, here.

The nightly job writes them into the manifest (``metrics``); the run diff
recomputes one from the tables with the same function when an older manifest
lacks it; the gate and the reports read the manifest.

- ``accuracy``, ``n_examples``, ``n_errors``, ``max_completeness_delta``: :func:`prediction_metrics`.
- ``attack_success_rate``: share of attacked texts (variants of kind ``text``)
  whose variant flipped the prediction AND was verified by re-predicting it;
  ``attack_success_rate_constrained``: those with no meaning flag too;
  ``n_attacked``, ``mean_queries``: :func:`attack_metrics`.
- ``n_confirmed_drivers``: confirmed rows of ``driver_stats`` in the pooled
  scope ``"all"``: :func:`findings_metrics`.  "New driver words" between two runs
  are the new *confirmed* drivers (:func:`audit.store.diff.diff_runs`), never a
  raw top-N.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["ALL_SCOPE", "attack_metrics", "confirmed_rows", "confirmed_units", "findings_metrics", "prediction_metrics"]

ALL_SCOPE = "all"


def prediction_metrics(predictions: pd.DataFrame) -> dict[str, Any]:
    """accuracy, n_examples, n_errors, max_completeness_delta (NaN-propagating: one NaN delta is a breach)."""
    n = len(predictions)
    correct = predictions["correct"].astype(bool) if n else pd.Series(dtype=bool)
    delta = None
    if n and "completeness_delta" in predictions:
        delta = float(predictions["completeness_delta"].max(skipna=False))
    return {
        "accuracy": float(correct.mean()) if n else None,
        "n_examples": int(n),
        "n_errors": int((~correct).sum()),
        "max_completeness_delta": delta,
    }


def attack_metrics(variants: pd.DataFrame) -> dict[str, Any]:
    """attack_success_rate (flipped and verified), ..._constrained (and no meaning flag), mean_queries."""
    text = variants[variants["kind"] == "text"] if len(variants) and "kind" in variants else variants
    n = len(text)
    if n == 0:
        return {"n_attacked": 0, "attack_success_rate": None, "attack_success_rate_constrained": None,
                "mean_queries": None}
    success = text["flipped"].astype(bool) & text["verified"].astype(bool)
    return {
        "n_attacked": int(n),
        "attack_success_rate": float(success.mean()),
        "attack_success_rate_constrained": float((success & text["constrained"].astype(bool)).mean()),
        "mean_queries": float(text["queries"].mean()),
    }


def confirmed_rows(driver_stats: pd.DataFrame | None, *, scope: str = ALL_SCOPE) -> pd.DataFrame:
    """The confirmed rows of ``driver_stats`` in ``scope``, in rank order (empty when none or no table)."""
    if driver_stats is None or driver_stats.empty or "confirmed" not in driver_stats:
        return pd.DataFrame(columns=["unit"])
    rows = driver_stats[(driver_stats["scope"] == scope) & driver_stats["confirmed"].astype(bool)]
    return rows.sort_values("rank", kind="mergesort")


def confirmed_units(driver_stats: pd.DataFrame | None, *, scope: str = ALL_SCOPE) -> list[str]:
    """Texts of the confirmed drivers of ``scope``, in rank order."""
    return [str(u) for u in confirmed_rows(driver_stats, scope=scope)["unit"]]


def findings_metrics(driver_stats: pd.DataFrame | None) -> dict[str, Any]:
    """n_confirmed_drivers (pooled scope)."""
    return {"n_confirmed_drivers": len(confirmed_units(driver_stats))}
