"""Fig. 8 of the paper: the REAT score distribution of one or more words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from audit.charts._common import fit_width


def score_distribution(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    *,
    bins: int = 30,
    title: str | None = None,
    x_title: str = "REAT score toward the predicted class",
) -> alt.LayerChart:
    """Histogram (as density) of attribution scores per word, pre-binned.

    The data embedded in the spec is ``bins`` rows per word, however many
    occurrences there are.  All words share one set of bin edges so their
    distributions overlay; a rule marks zero.  Bars are rectangles from density 0
    (``y2``) up to the bin's density, so they never float.
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    arrays = {w: np.asarray(v, dtype=float) for w, v in scores.items()}
    arrays = {w: a[np.isfinite(a)] for w, a in arrays.items()}
    everything = np.concatenate([a for a in arrays.values()] or [np.zeros(0)])
    if everything.size:
        lo, hi = float(everything.min()), float(everything.max())
    else:
        lo, hi = -1.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    rows = []
    for word, arr in arrays.items():
        counts, _ = np.histogram(arr, bins=edges)
        total = max(int(counts.sum()), 1)
        width = edges[1] - edges[0]
        for i, c in enumerate(counts):
            rows.append(
                {"word": word, "bin_start": float(edges[i]), "bin_end": float(edges[i + 1]),
                 "count": int(c), "density": float(c) / (total * width), "base": 0.0}
            )
    data = pd.DataFrame(rows, columns=["word", "bin_start", "bin_end", "count", "density", "base"])
    bars = (
        alt.Chart(data)
        .mark_bar(opacity=0.55, binSpacing=0, stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X("bin_start:Q", title=x_title),
            x2="bin_end:Q",
            y=alt.Y("density:Q", title="density", stack=None, scale=alt.Scale(zero=True)),
            y2=alt.Y2("base:Q"),
            color=alt.Color("word:N", title="word", legend=alt.Legend(orient="top", labelLimit=0)),
            tooltip=["word:N", "bin_start:Q", "bin_end:Q", "count:Q"],
        )
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="zero:Q")
    layered = alt.layer(bars, zero)
    assert isinstance(layered, alt.LayerChart)  # no row/column/facet channel, so alt.layer does not facet
    return layered.properties(autosize=fit_width(), title=alt.Title(title or "Attribution score distribution", limit=0), height=220)
