"""Headline metrics of a run: each defined once, here.

The nightly job writes them into the manifest (``metrics``); the run diff
recomputes one from the tables with the same function when an older manifest
lacks it; the gate and the reports read the manifest.

- ``accuracy``, ``n_examples``, ``n_errors``, ``max_completeness_delta``: :func:`prediction_metrics`
  (its running counts, :class:`PredictionCounts`, serve the streamed job chunk by chunk).
- ``attack_success_rate``: share of attacked texts (variants of kind ``text``)
  whose variant flipped the prediction AND was verified by re-predicting it;
  ``attack_success_rate_valid``: those whose every swap passed the strict checks too;
  ``attack_success_rate_constrained``: those with no meaning flag (loose recipe's flags);
  ``n_attacked``, ``mean_queries``, ``attack_recipe``, driver breaks/fixes: :func:`attack_metrics`.
- ``n_confirmed_drivers``: confirmed rows of ``driver_stats`` in the pooled
  scope ``"all"``: :func:`findings_metrics`.  "New driver words" between two runs
  are the new *confirmed* drivers (:func:`audit.store.diff.diff_runs`), never a
  raw top-N.  A run made before the findings stage has no ``driver_stats``: its
  drivers are :data:`FINDINGS_NOT_COMPUTED` (nothing was tested), never "none confirmed".
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["ALL_SCOPE", "FINDINGS_COMPUTED", "FINDINGS_NOT_COMPUTED", "NOT_COMPUTED_MESSAGE", "PredictionCounts", "attack_metrics", "confirmed_rows", "confirmed_units", "findings_metrics", "per_dataset_metrics",
           "prediction_metrics"]

ALL_SCOPE = "all"
FINDINGS_COMPUTED = "computed"
FINDINGS_NOT_COMPUTED = "not computed"
"""State of a run's findings stage: ``not computed`` when the run has no ``driver_stats`` table."""
NOT_COMPUTED_MESSAGE = ("Driver statistics were not computed for this run (made before the findings stage existed): "
                        "no driver word was tested, so none is confirmed or ruled out.")


class PredictionCounts:
    """The prediction metrics' running counts: :meth:`add` one table of predictions after another (chunk
    by chunk, or the whole table once), then :meth:`metrics` is :func:`prediction_metrics` of all of them
    put end to end -- the one definition of accuracy, n_examples, n_errors and max_completeness_delta,
    whichever way the rows arrive.  Memory: a few numbers per dataset, never the rows.

    ``max_completeness_delta`` propagates NaN (one NaN delta, or rows without the column once a table had
    it, makes it NaN: a gate breach); it is None when no table had the column.  :meth:`datasets` holds
    the same counts per dataset (``dataset`` as text), in the order of first appearance."""

    def __init__(self, *, by_dataset: bool = True) -> None:
        self.n = 0
        self.n_correct = 0
        self._delta: float | None = None  # running max (NaN once a NaN was seen); None: no column yet
        self._rows_without_delta = False
        self._by_dataset = by_dataset
        self.has_dataset = False
        """Whether a table with rows had a ``dataset`` column (else :meth:`datasets` is empty)."""
        self.datasets: dict[str, PredictionCounts] = {}

    @classmethod
    def of(cls, predictions: pd.DataFrame, *, by_dataset: bool = True) -> PredictionCounts:
        counts = cls(by_dataset=by_dataset)
        counts.add(predictions)
        return counts

    def add(self, predictions: pd.DataFrame) -> None:
        n = len(predictions)
        if not n:
            return
        correct = predictions["correct"].astype(bool)
        self.n += n
        self.n_correct += int(correct.sum())
        if "completeness_delta" in predictions:
            chunk_max = float(predictions["completeness_delta"].max(skipna=False))
            self._delta = chunk_max if self._delta is None else _nan_max(self._delta, chunk_max)
        else:
            self._rows_without_delta = True
        if self._by_dataset and "dataset" in predictions:
            self.has_dataset = True
            names = predictions["dataset"].astype(str)
            for name, rows in predictions.groupby(names, sort=False):
                child = self.datasets.get(str(name))
                if child is None:
                    child = self.datasets[str(name)] = PredictionCounts(by_dataset=False)
                child.add(rows)

    def metrics(self) -> dict[str, Any]:
        """accuracy, n_examples, n_errors, max_completeness_delta (see :func:`prediction_metrics`)."""
        delta = self._delta
        if delta is not None and self._rows_without_delta:
            delta = float("nan")  # what the assembled table's missing cells would give
        return {
            "accuracy": self.n_correct / self.n if self.n else None,
            "n_examples": int(self.n),
            "n_errors": int(self.n - self.n_correct),
            "max_completeness_delta": delta if self.n else None,
        }


def _nan_max(a: float, b: float) -> float:
    return a if math.isnan(a) else b if math.isnan(b) else max(a, b)


def prediction_metrics(predictions: pd.DataFrame) -> dict[str, Any]:
    """accuracy, n_examples, n_errors, max_completeness_delta (NaN-propagating: one NaN delta is a breach).

    Defined by :class:`PredictionCounts` (the streamed job adds the chunks one by one: same numbers)."""
    return PredictionCounts.of(predictions, by_dataset=False).metrics()


def attack_metrics(variants: pd.DataFrame) -> dict[str, Any]:
    """Attack metrics over the text attacks (all start from correctly classified texts):

    * ``attack_success_rate``: flipped and verified (raw success, whatever the recipe);
    * ``attack_success_rate_valid``: ... and every swap passed every strict check (what the
      strict recipe would keep; under ``loose`` the gap shows what validity costs);
    * ``attack_success_rate_constrained``: ... and no meaning flag (the loose recipe's flags);
    * ``mean_queries`` per attacked text; ``attack_recipe``; ``n_driver_breaks`` /
      ``n_driver_fixes``: strict-valid driver-word probes that broke a correct / fixed a wrong prediction.
    """
    text = variants[variants["kind"] == "text"] if len(variants) and "kind" in variants else variants
    driver = variants[variants["kind"] == "driver"] if len(variants) and "kind" in variants else variants.iloc[:0]
    n = len(text)
    recipes = sorted(set(text["recipe"].astype(str))) if n and "recipe" in text else []
    out: dict[str, Any] = {
        "n_attacked": int(n), "attack_success_rate": None, "attack_success_rate_valid": None,
        "attack_success_rate_constrained": None, "mean_queries": None,
        "attack_recipe": recipes[0] if len(recipes) == 1 else (",".join(recipes) or None),
    }
    if len(driver) and "valid" in driver:
        ok = driver["valid"].astype(bool) & driver["flipped"].astype(bool)
        out["n_driver_breaks"] = int((ok & (driver["direction"] == "break")).sum())
        out["n_driver_fixes"] = int((ok & (driver["direction"] == "fix")).sum())
    if n == 0:
        return out
    success = text["flipped"].astype(bool) & text["verified"].astype(bool)
    valid = text["valid"].astype(bool) if "valid" in text else pd.Series(False, index=text.index)
    out.update({
        "attack_success_rate": float(success.mean()),
        "attack_success_rate_valid": float((success & valid).mean()),
        "attack_success_rate_constrained": float((success & text["constrained"].astype(bool)).mean()),
        "mean_queries": float(text["queries"].mean()),
    })
    return out


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


def per_dataset_metrics(predictions: pd.DataFrame | PredictionCounts, variants: pd.DataFrame, *,
                        truncated: dict[str, int], skipped_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``metrics.per_dataset[name]``: the prediction and attack metrics above, plus n_truncated and
    n_skipped_rows, of each dataset (in table order).  ``predictions`` is the table, or the
    :class:`PredictionCounts` the streamed job accumulated over its chunks (same numbers)."""
    counts = predictions if isinstance(predictions, PredictionCounts) else PredictionCounts.of(predictions)
    out: dict[str, dict[str, Any]] = {}
    if not counts.has_dataset:
        return out
    for name, dataset_counts in counts.datasets.items():
        var = variants[variants["dataset"].astype(str) == name] if len(variants) else variants
        out[name] = {
            **dataset_counts.metrics(),
            "n_truncated": int(truncated.get(name, 0)),
            "n_skipped_rows": sum(1 for r in skipped_rows if r.get("dataset") == name),
            **attack_metrics(var),
        }
    return out
