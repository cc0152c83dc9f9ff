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


def model_name(model_ref: str | None) -> str:
    """A short model name: the last path component of a directory ref, the function of an adapter ref."""
    if not model_ref:
        return "?"
    last = str(model_ref).rstrip("/").rsplit("/", 1)[-1]
    if ":" in last:  # module:function or file.py:function
        return last.rsplit(":", 1)[-1] or last
    return last or str(model_ref)


def utc_label(created_at: Any) -> str:
    """``2026-12-01 20:05 UTC`` (24-hour clock) from a stored timestamp; the input unchanged if unreadable."""
    stamp = pd.to_datetime(str(created_at), utc=True, errors="coerce")
    return str(created_at) if pd.isna(stamp) else stamp.strftime("%Y-%m-%d %H:%M UTC")


def run_label(run_id: str, *, model_ref: str | None, accuracy: Any = None) -> str:
    """``model · acc 0.812 · run_id`` (run pickers show which model a run audited, first: a narrow
    sidebar cuts the end of the label, and the run id is also on every page)."""
    parts = [model_name(model_ref)]
    if _is_number(accuracy):
        parts.append(f"acc {float(accuracy):.3f}")
    return " · ".join([*parts, run_id])


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
    """Map each run id to the latest *complete* run of the same model created before it (None for the first).

    Runs of another model are not a baseline: a GRU run after an LSTM run has no new driver words
    just because the models differ.
    """
    ordered = sorted(summaries, key=lambda s: str(s.created_at))
    out: dict[str, str | None] = {}
    last: dict[Any, str] = {}
    for s in ordered:
        model = getattr(s, "model_ref", None)
        out[s.run_id] = last.get(model)
        if s.status == "complete":
            last[model] = s.run_id
    return out


def top_driver_words(drivers: pd.DataFrame, *, top_k: int = 20) -> list[str]:
    """The ``top_k`` driver words by rank."""
    if drivers.empty:
        return []
    return list(drivers.sort_values("rank")["word"].head(top_k).astype(str))


def new_confirmed_drivers(current: pd.DataFrame, previous: pd.DataFrame | None) -> list[str] | None:
    """Confirmed drivers (``driver_stats``, pooled scope) of the current run that the previous run did not
    confirm: the same definition as the run diff and the gate (:func:`audit.metrics.confirmed_units`).

    None when there is no previous run with driver statistics to compare with.
    """
    from audit.metrics import confirmed_units

    if previous is None:
        return None
    before = set(confirmed_units(previous))
    return [u for u in confirmed_units(current) if u not in before]


def new_driver_words(current: pd.DataFrame, previous: pd.DataFrame | None, *, top_k: int = 20) -> list[str] | None:
    """Words in the current run's top ``top_k`` raw drivers that were not in the previous run's: only for
    runs made before driver statistics existed (use :func:`new_confirmed_drivers` otherwise).

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


def diff_failure_counts(diff: Mapping[str, Any]) -> dict[str, int]:
    """``{"fixed": n, "broken": n}``: every fixed / new failure of the diff (exact; the listed rows of
    :func:`diff_frames` are capped at :data:`audit.store.diff.MAX_LISTED_FAILURES`)."""
    from audit.store.diff import failure_counts

    broken, fixed = failure_counts(diff)
    return {"fixed": fixed, "broken": broken}


def not_listed_note(total: int, listed: int) -> str:
    """``"N more not listed"`` when the diff's list of rows is capped, else ''."""
    return f"{total - listed} more not listed" if total > listed else ""


def _count(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return len(value)
    return int(value) if _is_number(value) else None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


GATE_COLUMNS: list[str] = ["check", "status", "value", "threshold", "detail"]


def gate_checks(gate: Mapping[str, Any] | None) -> pd.DataFrame:
    """The gate's checks as a table (check, status, value, threshold, detail).

    Older manifests without ``checks`` give one row per recorded breach.
    """
    gate = gate or {}
    rows = []
    for c in gate.get("checks") or []:
        if isinstance(c, Mapping):
            rows.append({"check": str(c.get("name", "?")), "status": str(c.get("status", "?")),
                         "value": _num(c.get("value")), "threshold": _num(c.get("threshold")),
                         "detail": str(c.get("message", ""))})
    if not rows:
        rows = [{"check": "?", "status": "breach", "value": None, "threshold": None, "detail": str(b)}
                for b in gate.get("breaches") or []]
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def _num(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


COMPARED_FIELDS: tuple[tuple[str, str], ...] = (
    ("model_ref", "model"),
    ("model_hash", "model weights"),
    ("config_hash", "config"),
    ("data", "datasets"),
    ("seed", "seed"),
    ("code_version", "code version"),
)


def _sample_sizes(manifest: Mapping[str, Any]) -> dict[str, Any]:
    metrics = manifest.get("metrics") or {}
    sizes = {"texts audited": metrics.get("n_examples"), "texts attacked": metrics.get("n_attacked")}
    attack = (manifest.get("config") or {}).get("attack") if isinstance(manifest.get("config"), Mapping) else None
    if isinstance(attack, Mapping):
        sizes["attack.max_texts (config)"] = attack.get("max_texts")
    return {k: v for k, v in sizes.items() if v is not None}


def comparability(old: Mapping[str, Any], new: Mapping[str, Any]) -> pd.DataFrame:
    """What differs between two runs' manifests that makes their metrics not directly comparable.

    Columns: field, old, new.  Empty when the runs used the same model, config, datasets,
    seed and sample sizes.
    """
    rows = []
    for key, name in COMPARED_FIELDS:
        a, b = old.get(key), new.get(key)
        if a is None and b is None:
            continue
        if key == "data" and isinstance(a, Mapping) and isinstance(b, Mapping):
            for ds in sorted(set(a) | set(b)):
                if a.get(ds) != b.get(ds):
                    rows.append({"field": f"dataset {ds}", "old": _short(a.get(ds)), "new": _short(b.get(ds))})
            continue
        if a != b:
            rows.append({"field": name, "old": _short(a), "new": _short(b)})
    sa, sb = _sample_sizes(old), _sample_sizes(new)
    for key in sorted(set(sa) | set(sb)):
        if sa.get(key) != sb.get(key):
            rows.append({"field": key, "old": _short(sa.get(key)), "new": _short(sb.get(key))})
    return pd.DataFrame(rows, columns=["field", "old", "new"])


def comparability_warning(differences: pd.DataFrame) -> str | None:
    """One sentence naming what differs, or None when the runs are comparable."""
    if differences.empty:
        return None
    return ("These runs are not directly comparable: " + ", ".join(differences["field"].astype(str))
            + " differ. Metric changes below may come from that, not from the model.")


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    return text if len(text) <= 24 else text[:12] + "…" + text[-8:]
