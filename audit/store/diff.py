"""What changed between two runs: accuracy, failures, confirmed driver words, attack success.

"New driver words" are the drivers CONFIRMED in the new run (``driver_stats``, scope
``"all"``; see :mod:`audit.findings.drivers`) that were not confirmed in the old
one -- never a raw top-N of REAT contributors, which alarms on noise.  When the old
run has no ``driver_stats`` table (made before driver statistics existed) the
comparison is not possible: ``confirmed_compared`` is False, the lists are empty
and the gate skips ``max_new_confirmed_drivers``.  Metrics missing from an old
manifest are recomputed with their one definition in :mod:`audit.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from audit._markdown import md_escape
from audit.store.runs import RunRecord

_KEY = ["dataset", "example_id", "text"]


def _metric(record: RunRecord, name: str) -> float | None:
    value = record.metrics.get(name)
    if value is None:
        value = _computed(record, name)
    try:
        out = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return None if out is None or math.isnan(out) else out


def _computed(record: RunRecord, name: str) -> float | None:
    """Fallback when the manifest lacks a metric: derive it from the tables (same definitions as the job)."""
    from audit import metrics

    if name == "accuracy" and record.has_table("predictions"):
        return metrics.prediction_metrics(record.table("predictions")).get(name)
    if name.startswith("attack_success_rate") and record.has_table("variants"):
        return metrics.attack_metrics(record.table("variants")).get(name)
    return None


def _delta(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else new - old


def _outcomes(record: RunRecord) -> pd.DataFrame:
    if not record.has_table("predictions"):
        return pd.DataFrame(columns=_KEY + ["gold", "pred", "correct"])
    preds = record.table("predictions")
    return preds[_KEY + ["gold", "pred", "correct"]].drop_duplicates(_KEY)


def _matched_accuracy(correct: pd.Series) -> float | None:
    return float(correct.mean()) if len(correct) else None


def confirmed_driver_words(record: RunRecord) -> list[str] | None:
    """The run's confirmed drivers (pooled scope, rank order); None when it has no ``driver_stats`` table."""
    from audit.metrics import confirmed_units

    if not record.has_table("driver_stats"):
        return None
    return confirmed_units(record.table("driver_stats"))


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({"dataset": str(rec["dataset"]), "example_id": int(rec["example_id"]), "text": str(rec["text"]),
                    "gold": int(rec["gold"]), "pred_old": int(rec["pred_old"]), "pred_new": int(rec["pred_new"])})
    return out


@dataclass
class RunDiff:
    """The comparison of ``new`` against ``old`` (a previous run).

    ``accuracy_old``/``accuracy_new`` are the runs' headline accuracies (each on its own
    examples; ``accuracy_headline_delta`` is their difference).  ``accuracy_delta`` -- and so
    ``accuracy_drop``, which the gate's ``max_accuracy_drop`` checks -- is computed only on the
    ``n_matched`` examples both runs share (same dataset, example_id and text;
    ``accuracy_matched_old``/``_new``), so a changed dataset does not pass for a changed model.
    ``new_driver_words`` / ``dropped_driver_words``: confirmed drivers that appeared / disappeared
    (``confirmed_compared`` False when either run lacks ``driver_stats``).
    """

    old_run_id: str
    new_run_id: str
    accuracy_old: float | None
    accuracy_new: float | None
    accuracy_delta: float | None
    n_matched: int
    accuracy_matched_old: float | None = None
    accuracy_matched_new: float | None = None
    accuracy_headline_delta: float | None = None
    new_failures: list[dict[str, Any]] = field(default_factory=list)
    fixed_failures: list[dict[str, Any]] = field(default_factory=list)
    new_driver_words: list[str] = field(default_factory=list)
    dropped_driver_words: list[str] = field(default_factory=list)
    confirmed_compared: bool = False
    attack_success_rate_old: float | None = None
    attack_success_rate_new: float | None = None
    attack_success_rate_delta: float | None = None
    attack_success_rate_constrained_old: float | None = None
    attack_success_rate_constrained_new: float | None = None
    attack_success_rate_constrained_delta: float | None = None

    @property
    def accuracy_drop(self) -> float | None:
        """Accuracy lost on the shared examples (what the gate's ``max_accuracy_drop`` checks)."""
        return None if self.accuracy_delta is None else -self.accuracy_delta

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self, *, max_rows: int = 20) -> str:
        def pct(x: float | None, signed: bool = False) -> str:
            return "n/a" if x is None else (f"{x * 100:+.2f} pp" if signed else f"{x * 100:.2f}%")

        lines = [
            f"# Run diff: {self.old_run_id} -> {self.new_run_id}", "",
            "| metric | old | new | change |", "|---|---|---|---|",
            (f"| accuracy (all examples) | {pct(self.accuracy_old)} | {pct(self.accuracy_new)} "
            f"| {pct(self.accuracy_headline_delta, True)} |"),
            (f"| accuracy ({self.n_matched} shared examples, gated) | {pct(self.accuracy_matched_old)} "
            f"| {pct(self.accuracy_matched_new)} | {pct(self.accuracy_delta, True)} |"),
            (f"| attack success | {pct(self.attack_success_rate_old)} | {pct(self.attack_success_rate_new)} "
            f"| {pct(self.attack_success_rate_delta, True)} |"),
            (f"| attack success (constrained) | {pct(self.attack_success_rate_constrained_old)} "
            f"| {pct(self.attack_success_rate_constrained_new)} | {pct(self.attack_success_rate_constrained_delta, True)} |"),
            "", (f"Matched examples: {self.n_matched}. New failures: {len(self.new_failures)}. "
            f"Fixed failures: {len(self.fixed_failures)}."), "",
            "New confirmed driver words: " + (", ".join(_md(w) for w in self.new_driver_words) or "none")
            + ("" if self.confirmed_compared else " (not compared: a run has no driver statistics)"),
            "Confirmed driver words no longer confirmed: "
            + (", ".join(_md(w) for w in self.dropped_driver_words) or "none"), "",
        ]
        for title, rows in (("New failures", self.new_failures), ("Fixed failures", self.fixed_failures)):
            if not rows:
                continue
            lines += [f"## {title}", "", "| dataset | id | gold | old | new | text |", "|---|---|---|---|---|---|"]
            for r in rows[:max_rows]:
                lines.append(f"| {_md(r['dataset'])} | {r['example_id']} | {r['gold']} | {r['pred_old']} "
                             f"| {r['pred_new']} | {_md(r['text'])} |")
            if len(rows) > max_rows:
                lines.append(f"\n... and {len(rows) - max_rows} more")
            lines.append("")
        return "\n".join(lines)


_md = md_escape  # safe inside a Markdown table cell (also neutralises inline HTML)


def diff_runs(old: RunRecord, new: RunRecord) -> RunDiff:
    """Compare two runs. Examples are matched by dataset, example_id *and* text."""
    merged = _outcomes(old).merge(_outcomes(new), on=_KEY, suffixes=("_old", "_new"))
    merged = merged.rename(columns={"gold_old": "gold"})
    old_ok, new_ok = merged["correct_old"].astype(bool), merged["correct_new"].astype(bool)
    new_failures = _rows(merged[old_ok & ~new_ok].sort_values(["dataset", "example_id"]))
    fixed = _rows(merged[~old_ok & new_ok].sort_values(["dataset", "example_id"]))
    old_words, new_words = confirmed_driver_words(old), confirmed_driver_words(new)
    compared = old_words is not None and new_words is not None
    old_set, new_set = set(old_words or []), set(new_words or [])
    acc_old, acc_new = _metric(old, "accuracy"), _metric(new, "accuracy")
    m_old, m_new = _matched_accuracy(old_ok), _matched_accuracy(new_ok)
    asr = [_metric(r, "attack_success_rate") for r in (old, new)]
    asr_c = [_metric(r, "attack_success_rate_constrained") for r in (old, new)]
    return RunDiff(
        old_run_id=old.run_id, new_run_id=new.run_id,
        accuracy_old=acc_old, accuracy_new=acc_new, accuracy_delta=_delta(m_old, m_new),
        n_matched=len(merged), accuracy_matched_old=m_old, accuracy_matched_new=m_new,
        accuracy_headline_delta=_delta(acc_old, acc_new), new_failures=new_failures, fixed_failures=fixed,
        new_driver_words=[w for w in new_words or [] if w not in old_set] if compared else [],
        dropped_driver_words=[w for w in old_words or [] if w not in new_set] if compared else [],
        confirmed_compared=compared,
        attack_success_rate_old=asr[0], attack_success_rate_new=asr[1], attack_success_rate_delta=_delta(*asr),
        attack_success_rate_constrained_old=asr_c[0], attack_success_rate_constrained_new=asr_c[1],
        attack_success_rate_constrained_delta=_delta(*asr_c),
    )
