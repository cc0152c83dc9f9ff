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
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from audit._markdown import md_escape
from audit.store.runs import RunRecord

_KEY = ["dataset", "example_id", "text"]
MAX_LISTED_FAILURES = 1000
"""At most this many new (and fixed) failures are listed with their texts, the first in (dataset,
example_id) order: the lists go into the manifest.  ``n_new_failures`` / ``n_fixed_failures`` are exact."""


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

    if name == "accuracy" and record.has_table("predictions"):  # counted batch by batch: never the whole table
        counts = metrics.PredictionCounts(by_dataset=False)
        for batch in record.iter_table("predictions", columns=["correct"], batch_size=DIFF_BATCH_ROWS):
            counts.add(batch)
        return counts.metrics().get(name)
    if name.startswith("attack_success_rate") and record.has_table("variants"):
        return metrics.attack_metrics(record.table("variants")).get(name)
    return None


def _delta(old: float | None, new: float | None) -> float | None:
    return None if old is None or new is None else new - old


_OUTCOME_COLUMNS = [*_KEY, "gold", "pred", "correct"]
DIFF_BATCH_ROWS = 65_536
"""Rows per record batch when the diff reads a run's ``predictions``."""


def _outcome_batches(record: RunRecord) -> Iterator[pd.DataFrame]:
    """The run's ``predictions`` (key, gold, pred, correct) in record batches; nothing without the table."""
    if not record.has_table("predictions"):
        return iter(())
    return (b for b in record.iter_table("predictions", columns=_OUTCOME_COLUMNS, batch_size=DIFF_BATCH_ROWS)
            if len(b))


def _key_hashes(codes: np.ndarray, example_ids: np.ndarray, texts: pd.Series) -> np.ndarray:
    """One 64-bit hash per row of (dataset code, example_id, text) (SipHash of the text, then mixed)."""
    text_hash = pd.util.hash_array(texts.astype(str).to_numpy(dtype=object))
    with np.errstate(over="ignore"):
        mixed = (text_hash * np.uint64(0x9E3779B97F4A7C15)
                 ^ pd.util.hash_array(example_ids.astype(np.int64)) * np.uint64(0xC2B2AE3D27D4EB4F)
                 ^ codes.astype(np.uint64))
    return pd.util.hash_array(mixed)


class _OldOutcomes:
    """A compact index of the OLD run's outcomes, read in record batches: per distinct (dataset,
    example_id, text) -- its first row, as ``drop_duplicates`` keeps -- the key's 64-bit hash, the dataset
    code and example_id (checked exactly on a match: the text is compared by its hash only), gold, pred,
    correct, and a matched flag.  About 30 bytes per row of the old run: bounded per row, not flat in N
    (a run of 1M texts: 30 MB instead of its predictions with their texts; about twice that while it is
    built and sorted).  The record batches' decoding comes on top: diffing two runs of 1M short texts
    raised the peak RSS by ~200 MB, against ~600 MB for the whole-table merge this replaced."""

    def __init__(self, record: RunRecord) -> None:
        self.codes: dict[str, int] = {}
        parts: list[tuple[np.ndarray, ...]] = []
        for batch in _outcome_batches(record):
            names = batch["dataset"].astype(str)
            for name in dict.fromkeys(names):
                self.codes.setdefault(name, len(self.codes))
            code = names.map(self.codes).to_numpy(dtype=np.int32)
            ex = batch["example_id"].to_numpy(dtype=np.int64)
            parts.append((_key_hashes(code, ex, batch["text"]), code, ex,
                          batch["gold"].to_numpy(dtype=np.int32), batch["pred"].to_numpy(dtype=np.int32),
                          batch["correct"].to_numpy(dtype=bool)))
        types = (np.uint64, np.int32, np.int64, np.int32, np.int32, bool)

        def column(j: int) -> np.ndarray:  # one column at a time: the build holds ~2x the index, not ~3x
            return np.concatenate([p[j] for p in parts]) if parts else np.empty(0, types[j])

        key = column(0)
        order = np.argsort(key, kind="stable")  # equal keys stay in table order: the first is kept
        key = key[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        self.key = key[first]
        self.code, self.example_id, self.gold, self.pred, self.correct = (
            column(j)[order][first] for j in range(1, len(types)))
        self.matched = np.zeros(len(self.key), dtype=bool)

    def match(self, batch: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, old)``: the rows of a NEW batch that match a not yet matched old example, and the
        positions of those examples in the index (marked matched: a repeated new key matches once)."""
        names = batch["dataset"].astype(str)
        code = names.map(self.codes).fillna(-1).to_numpy(dtype=np.int64)
        ex = batch["example_id"].to_numpy(dtype=np.int64)
        key = _key_hashes(code, ex, batch["text"])
        if not len(self.key):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.key, key), len(self.key) - 1)
        hit = (self.key[pos] == key) & (self.code[pos] == code) & (self.example_id[pos] == ex)
        rows = np.flatnonzero(hit)
        rows = rows[~pd.Series(pos[rows]).duplicated().to_numpy()]  # a key twice in one batch: the first
        rows = rows[~self.matched[pos[rows]]]
        self.matched[pos[rows]] = True
        return rows, pos[rows]


def _listed(top: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The running first :data:`MAX_LISTED_FAILURES` rows in (dataset, example_id) order."""
    both = rows if top.empty else pd.concat([top, rows], ignore_index=True)
    return both.sort_values(["dataset", "example_id"], kind="stable").head(MAX_LISTED_FAILURES)


def _matched(old: RunRecord, new: RunRecord) -> dict[str, Any]:
    """Stream the new run's predictions against the old run's compact index: the matched examples'
    counts and accuracies, the exact numbers of new / fixed failures and their first listed rows."""
    index = _OldOutcomes(old)
    n = old_right = new_right = n_new = n_fixed = 0
    new_rows = fixed_rows = pd.DataFrame()
    for batch in _outcome_batches(new):
        rows, pos = index.match(batch)
        if not len(rows):
            continue
        old_ok, new_ok = index.correct[pos], batch["correct"].to_numpy(dtype=bool)[rows]
        n += len(rows)
        old_right, new_right = old_right + int(old_ok.sum()), new_right + int(new_ok.sum())
        frame = pd.DataFrame({"dataset": batch["dataset"].astype(str).to_numpy()[rows],
                              "example_id": batch["example_id"].to_numpy(dtype=np.int64)[rows],
                              "text": batch["text"].astype(str).to_numpy()[rows], "gold": index.gold[pos],
                              "pred_old": index.pred[pos], "pred_new": batch["pred"].to_numpy()[rows]})
        broke, fixed = old_ok & ~new_ok, ~old_ok & new_ok
        n_new, n_fixed = n_new + int(broke.sum()), n_fixed + int(fixed.sum())
        if broke.any():
            new_rows = _listed(new_rows, frame[broke])
        if fixed.any():
            fixed_rows = _listed(fixed_rows, frame[fixed])
    return {"n_matched": n, "accuracy_matched_old": old_right / n if n else None,
            "accuracy_matched_new": new_right / n if n else None, "n_new_failures": n_new,
            "n_fixed_failures": n_fixed, "new_failures": _rows(new_rows), "fixed_failures": _rows(fixed_rows)}


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
    ``n_new_failures`` / ``n_fixed_failures``: exact counts (the gate and the reports use them);
    ``new_failures`` / ``fixed_failures`` list the first :data:`MAX_LISTED_FAILURES` of them in
    (dataset, example_id) order, with their texts (they go into the manifest).
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
    n_new_failures: int | None = None
    n_fixed_failures: int | None = None
    new_driver_words: list[str] = field(default_factory=list)
    dropped_driver_words: list[str] = field(default_factory=list)
    confirmed_compared: bool = False
    attack_success_rate_old: float | None = None
    attack_success_rate_new: float | None = None
    attack_success_rate_delta: float | None = None
    attack_success_rate_constrained_old: float | None = None
    attack_success_rate_constrained_new: float | None = None
    attack_success_rate_constrained_delta: float | None = None

    def __post_init__(self) -> None:
        if self.n_new_failures is None:  # built without the counts (an old manifest): the lists are whole
            self.n_new_failures = len(self.new_failures)
        if self.n_fixed_failures is None:
            self.n_fixed_failures = len(self.fixed_failures)

    @property
    def new_failure_count(self) -> int:
        """Every new failure (``new_failures`` lists at most :data:`MAX_LISTED_FAILURES` of them)."""
        return len(self.new_failures) if self.n_new_failures is None else int(self.n_new_failures)

    @property
    def fixed_failure_count(self) -> int:
        """Every fixed failure (``fixed_failures`` lists at most :data:`MAX_LISTED_FAILURES` of them)."""
        return len(self.fixed_failures) if self.n_fixed_failures is None else int(self.n_fixed_failures)

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
            "", (f"Matched examples: {self.n_matched}. New failures: {self.new_failure_count}. "
            f"Fixed failures: {self.fixed_failure_count}."), "",
            "New confirmed driver words: " + (", ".join(_md(w) for w in self.new_driver_words) or "none")
            + ("" if self.confirmed_compared else " (not compared: a run has no driver statistics)"),
            "Confirmed driver words no longer confirmed: "
            + (", ".join(_md(w) for w in self.dropped_driver_words) or "none"), "",
        ]
        for title, rows, total in (("New failures", self.new_failures, self.new_failure_count),
                                   ("Fixed failures", self.fixed_failures, self.fixed_failure_count)):
            if not rows:
                continue
            lines += [f"## {title}", "", "| dataset | id | gold | old | new | text |", "|---|---|---|---|---|---|"]
            for r in rows[:max_rows]:
                lines.append(f"| {_md(r['dataset'])} | {r['example_id']} | {r['gold']} | {r['pred_old']} "
                             f"| {r['pred_new']} | {_md(r['text'])} |")
            if total > max_rows:
                lines.append(f"\n... and {total - max_rows} more")
            if total > len(rows):
                lines.append(f"\nThe diff lists the first {len(rows)} of the {total} {title.lower()} "
                             f"(MAX_LISTED_FAILURES = {MAX_LISTED_FAILURES}); the counts are exact.")
            lines.append("")
        return "\n".join(lines)


def failure_counts(diff: Mapping[str, Any]) -> tuple[int, int]:
    """``(new, fixed)`` failure counts of a :meth:`RunDiff.to_dict` (a manifest's ``diff``): the exact
    ``n_new_failures`` / ``n_fixed_failures``, or the lists' lengths in a manifest made before the counts."""
    def count(key: str, rows: str) -> int:
        value = diff.get(key)
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else len(diff.get(rows) or [])

    return count("n_new_failures", "new_failures"), count("n_fixed_failures", "fixed_failures")


_md = md_escape  # safe inside a Markdown table cell (also neutralises inline HTML)


def diff_runs(old: RunRecord, new: RunRecord) -> RunDiff:
    """Compare two runs. Examples are matched by dataset, example_id *and* text.

    Bounded memory: neither run's ``predictions`` is read whole.  The old run's outcomes become a compact
    index (:class:`_OldOutcomes`, ~30 bytes per old row: not flat in N), then the new run's record
    batches are matched against it one at a time; at most :data:`MAX_LISTED_FAILURES` new and fixed
    failures are kept with their texts (``n_new_failures`` / ``n_fixed_failures`` count them all)."""
    matched = _matched(old, new)
    old_words, new_words = confirmed_driver_words(old), confirmed_driver_words(new)
    compared = old_words is not None and new_words is not None
    old_set, new_set = set(old_words or []), set(new_words or [])
    acc_old, acc_new = _metric(old, "accuracy"), _metric(new, "accuracy")
    m_old, m_new = matched["accuracy_matched_old"], matched["accuracy_matched_new"]
    asr = [_metric(r, "attack_success_rate") for r in (old, new)]
    asr_c = [_metric(r, "attack_success_rate_constrained") for r in (old, new)]
    return RunDiff(
        old_run_id=old.run_id, new_run_id=new.run_id,
        accuracy_old=acc_old, accuracy_new=acc_new, accuracy_delta=_delta(m_old, m_new),
        n_matched=matched["n_matched"], accuracy_matched_old=m_old, accuracy_matched_new=m_new,
        accuracy_headline_delta=_delta(acc_old, acc_new), new_failures=matched["new_failures"],
        fixed_failures=matched["fixed_failures"], n_new_failures=matched["n_new_failures"],
        n_fixed_failures=matched["n_fixed_failures"],
        new_driver_words=[w for w in new_words or [] if w not in old_set] if compared else [],
        dropped_driver_words=[w for w in old_words or [] if w not in new_set] if compared else [],
        confirmed_compared=compared,
        attack_success_rate_old=asr[0], attack_success_rate_new=asr[1], attack_success_rate_delta=_delta(*asr),
        attack_success_rate_constrained_old=asr_c[0], attack_success_rate_constrained_new=asr_c[1],
        attack_success_rate_constrained_delta=_delta(*asr_c),
    )
