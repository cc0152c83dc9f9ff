"""POS-category score distributions (the paper's Fig. 7), as a table.

Pure functions over the ``token_attributions`` table.  Scores are toward the
predicted class; verb forms (VBD, VBG, VBN, VBP, VBZ) are merged into ``VB``
as in the paper.  Whiskers follow Tukey's rule (the most extreme data points
within 1.5 IQR of the quartiles), so the outliers the paper omits are not in
the box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit._lookup import lookup
from audit._spill import Spill
from audit.store.schemas import columns

VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"})

POS_STATS_COLUMNS = columns("pos_stats")  # the schema in audit/store/schemas.py
_SCORE = np.dtype([("score", "<f8")])


def merge_verbs(tag: str) -> str:
    """``VBD`` -> ``VB`` etc.; other tags unchanged."""
    return "VB" if tag in VERB_TAGS else tag


def box_stats(values: np.ndarray) -> dict[str, float]:
    """n, mean, median, quartiles and Tukey whiskers of ``values`` (non-empty)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    q1, median, q3 = (float(x) for x in np.quantile(v, [0.25, 0.5, 0.75]))
    iqr = q3 - q1
    inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "median": median,
        "q1": q1,
        "q3": q3,
        "lo_whisker": float(inside.min()),
        "hi_whisker": float(inside.max()),
    }


class PosScores:
    """:func:`pos_stats` accumulated block by block (:meth:`add`, then :meth:`finish`).  Quartiles and
    whiskers are order statistics, not sums, so every score is kept -- one float64 per token (8 bytes, no
    string) in a :class:`~audit._spill.Spill` bucketed by tag (on disk past ``memory_rows`` scores);
    :meth:`finish` reads one tag at a time, so the peak is the most frequent tag's scores, not the run's.
    The table is identical to :func:`pos_stats` of the assembled tokens."""

    def __init__(self, *, score_column: str = "score_pred", memory_rows: int | None = None,
                 spill_dir: Path | None = None) -> None:
        self.score_column = score_column
        self._tags: dict[str, int] = {}
        self._scores = Spill(_SCORE, memory_rows=memory_rows, directory=spill_dir, name="pos-scores")

    def add(self, token_attributions: pd.DataFrame) -> None:
        if token_attributions.empty:
            return
        def code(tag: str) -> int:
            return self._tags.setdefault(merge_verbs(str(tag)), len(self._tags))

        codes = lookup(token_attributions["pos"].astype(str), code, dtype=np.int64)  # tags numbered as first seen
        rows = np.empty(len(codes), dtype=_SCORE)
        rows["score"] = token_attributions[self.score_column].to_numpy(dtype=np.float64)
        self._scores.append(codes, rows)

    def finish(self) -> pd.DataFrame:
        if not self._tags:
            return pd.DataFrame({c: pd.Series(dtype="object" if c == "pos" else "float64")
                                 for c in POS_STATS_COLUMNS}).astype({"n": "int64"})
        rows = [{"pos": tag, **box_stats(self._scores.bucket(self._tags[tag])["score"])}
                for tag in sorted(self._tags)]
        self._scores.close()
        out = pd.DataFrame(rows, columns=POS_STATS_COLUMNS)
        out = out.sort_values(["median", "pos"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
        return out.astype({"n": "int64"})


def pos_stats(token_attributions: pd.DataFrame, *, score_column: str = "score_pred") -> pd.DataFrame:
    """One row per (verb-merged) PTB tag, ranked by median score (highest first, ties by tag)."""
    acc = PosScores(score_column=score_column)
    acc.add(token_attributions)
    return acc.finish()
