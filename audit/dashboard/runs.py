"""Run history view model: headline metrics, status labels and run-to-run diffs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

import pandas as pd

HEADLINE_METRICS: tuple[str, ...] = (
    "accuracy",
    "n_errors",
    "attack_success_rate",
    "attack_success_rate_constrained",
)
"""Manifest metrics shown as columns of the run history (plus ``new_driver_words``)."""

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "n_errors": False,
    "attack_success_rate": False,
    "attack_success_rate_constrained": False,
    "mean_queries": True,
    "max_completeness_delta": False,
    "new_driver_words": False,
}
"""Direction of improvement per metric; metrics not listed are reported without a verdict."""

STATUS_LABELS: dict[str, str] = {
    "running": "in progress", "complete": "complete", "failed": "failed", "missing": "missing (folder gone)",
}

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "created_at", "status", "model_ref", *HEADLINE_METRICS, "new_driver_words", "gate",
)


def status_label(status: str) -> str:
    """Human label of a run status; a run still being written is 'in progress', not broken."""
    return STATUS_LABELS.get(status, status)


def gate_label(gate_passed: bool | None) -> str:
    if gate_passed is None:
        return "-"
    return "passed" if gate_passed else "breached"


def runs_frame(summaries: Iterable[Any], *, new_driver_words: Mapping[str, int | None] | None = None) -> pd.DataFrame:
    """One row per run (newest first) with the headline metrics, status label and gate result.

    ``summaries`` are :class:`~audit.store.RunSummary`-like objects (run_id,
    created_at, status, model_ref, metrics, gate_passed).  The count of new
    driver words comes from ``metrics["new_driver_words"]`` (a list, as the
    store's index keeps it) or else from the ``new_driver_words`` mapping
    (run id -> count, computed by the caller).
    """
    rows = []
    for s in summaries:
        metrics = dict(getattr(s, "metrics", None) or {})
        row: dict[str, Any] = {
            "run_id": s.run_id,
            "created_at": str(s.created_at),
            "status": status_label(str(s.status)),
            "model_ref": getattr(s, "model_ref", None),
        }
        for m in HEADLINE_METRICS:
            row[m] = metrics.get(m)
        row["new_driver_words"] = _count(metrics.get("new_driver_words"))
        if row["new_driver_words"] is None:
            row["new_driver_words"] = (new_driver_words or {}).get(s.run_id)
        row["gate"] = gate_label(getattr(s, "gate_passed", None))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for m in (*HEADLINE_METRICS, "new_driver_words"):
        frame[m] = pd.to_numeric(frame[m], errors="coerce")
    return frame.sort_values("created_at", ascending=False, kind="stable").reset_index(drop=True)


def previous_complete(summaries: Sequence[Any]) -> dict[str, str | None]:
    """Map each run id to the id of the latest *complete* run created before it (None for the first)."""
    ordered = sorted(summaries, key=lambda s: str(s.created_at))
    out: dict[str, str | None] = {}
    last: str | None = None
    for s in ordered:
        out[s.run_id] = last
        if s.status == "complete":
            last = s.run_id
    return out


def top_driver_words(drivers: pd.DataFrame, *, top_k: int = 20) -> list[str]:
    """The ``top_k`` driver words by rank."""
    if drivers.empty:
        return []
    return list(drivers.sort_values("rank")["word"].head(top_k).astype(str))


def new_driver_words(current: pd.DataFrame, previous: pd.DataFrame | None, *, top_k: int = 20) -> list[str] | None:
    """Words in the current run's top ``top_k`` drivers that were not in the previous run's.

    None when there is no previous run to compare with.
    """
    if previous is None:
        return None
    before = set(top_driver_words(previous, top_k=top_k))
    return [w for w in top_driver_words(current, top_k=top_k) if w not in before]


def metric_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> pd.DataFrame:
    """Per metric: old, new, change and verdict (``better``/``worse``/``same``/``-``)."""
    rows = []
    for name in sorted(set(old) | set(new), key=lambda m: (m not in HIGHER_IS_BETTER, m)):
        a, b = old.get(name), new.get(name)
        if not _is_number(a) and not _is_number(b):
            continue
        change = float(b) - float(a) if _is_number(a) and _is_number(b) else None
        verdict = "-"
        if change is not None and name in HIGHER_IS_BETTER:
            if abs(change) < 1e-12:
                verdict = "same"
            else:
                verdict = "better" if (change > 0) == HIGHER_IS_BETTER[name] else "worse"
        rows.append({"metric": name, "old": a, "new": b, "change": change, "verdict": verdict})
    return pd.DataFrame(rows, columns=["metric", "old", "new", "change", "verdict"])


def diff_frames(diff: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Tables of a :meth:`~audit.store.RunDiff.to_dict`: ``fixed`` and ``broken`` examples, ``drivers``.

    ``fixed`` were failures in the old run and are right now (better); ``broken``
    were right and are failures now (worse).  ``drivers`` lists the top driver
    words that appeared (``new``) or dropped out (``gone``).
    """
    cols = ["dataset", "example_id", "gold", "pred_old", "pred_new", "text"]
    fixed = pd.DataFrame(list(diff.get("fixed_failures") or []), columns=cols)
    broken = pd.DataFrame(list(diff.get("new_failures") or []), columns=cols)
    words = [{"word": w, "change": "new"} for w in diff.get("new_driver_words") or []]
    words += [{"word": w, "change": "gone"} for w in diff.get("dropped_driver_words") or []]
    return {"fixed": fixed, "broken": broken, "drivers": pd.DataFrame(words, columns=["word", "change"])}


def _count(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return len(value)
    return int(value) if _is_number(value) else None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
