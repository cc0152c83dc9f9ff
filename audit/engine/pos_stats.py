"""POS-category score distributions (the paper's Fig. 7), as a table.

Pure functions over the ``token_attributions`` table.  Scores are toward the
predicted class; verb forms (VBD, VBG, VBN, VBP, VBZ) are merged into ``VB``
as in the paper.  Whiskers follow Tukey's rule (the most extreme data points
within 1.5 IQR of the quartiles), so the outliers the paper omits are not in
the box.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.store.schemas import columns

VERB_TAGS = frozenset({"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"})

POS_STATS_COLUMNS = columns("pos_stats")  # the schema in audit/store/schemas.py


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


def pos_stats(token_attributions: pd.DataFrame, *, score_column: str = "score_pred") -> pd.DataFrame:
    """One row per (verb-merged) PTB tag, ranked by median score (highest first, ties by tag)."""
    if token_attributions.empty:
        return pd.DataFrame({c: pd.Series(dtype="object" if c == "pos" else "float64") for c in POS_STATS_COLUMNS}).astype(
            {"n": "int64"}
        )
    tags = token_attributions["pos"].astype(str).map(merge_verbs)
    scores = token_attributions[score_column].to_numpy(dtype=np.float64)
    rows = []
    for tag, idx in sorted(pd.Series(np.arange(len(tags))).groupby(tags.to_numpy()).groups.items()):
        rows.append({"pos": str(tag), **box_stats(scores[np.asarray(idx)])})
    out = pd.DataFrame(rows, columns=POS_STATS_COLUMNS)
    out = out.sort_values(["median", "pos"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    return out.astype({"n": "int64"})
