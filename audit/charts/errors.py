"""Error-overview charts: the confusion matrix as a labelled heatmap, error rates per slice as bars."""

from __future__ import annotations

import altair as alt
import pandas as pd

from audit.charts._common import fit_width


def confusion_heatmap(matrix: pd.DataFrame, *, title: str = "Confusion matrix") -> alt.LayerChart:
    """Heatmap of a confusion matrix with its counts written in the cells and a colour legend.

    ``matrix`` is :func:`audit.dashboard.overview.confusion_matrix`'s frame: a first column of
    true-label names and one count column per predicted label.
    """
    first = matrix.columns[0]
    long = matrix.melt(id_vars=[first], var_name="predicted", value_name="count").rename(columns={first: "gold"})
    long["count"] = long["count"].astype(int)
    base = alt.Chart(long).encode(
        x=alt.X("predicted:N", title="predicted", sort=list(matrix.columns[1:]),
                axis=alt.Axis(labelAngle=0, labelLimit=0, orient="top")),
        y=alt.Y("gold:N", title="true label", sort=list(matrix[first]), axis=alt.Axis(labelLimit=0)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("count:Q", title="texts", scale=alt.Scale(scheme="blues", domainMin=0),
                        legend=alt.Legend(orient="right")),
        tooltip=["gold:N", "predicted:N", "count:Q"],
    )
    peak = int(long["count"].max()) if len(long) else 0
    labels = base.mark_text(fontSize=14).encode(
        text=alt.Text("count:Q", format="d"),
        color=alt.condition(alt.datum.count > peak / 2, alt.value("white"), alt.value("black")),
    )
    layered = alt.layer(cells, labels)
    assert isinstance(layered, alt.LayerChart)
    return layered.properties(autosize=fit_width(), title=alt.Title(title, limit=0), height=190)


def error_rate_bars(slices: pd.DataFrame, *, title: str, overall: float | None = None) -> alt.LayerChart:
    """Horizontal bars of ``error_rate`` per ``slice`` (in row order) with the rate and count as labels.

    ``overall`` draws the run's overall error rate as a dashed rule for reference.
    """
    data = slices.loc[:, ["slice", "n", "n_errors", "error_rate"]].copy()
    data["label"] = [f"{r:.0%} ({e}/{n})" for r, e, n in zip(data["error_rate"], data["n_errors"], data["n"])]
    base = alt.Chart(data).encode(
        y=alt.Y("slice:N", sort=list(data["slice"]), title=None, axis=alt.Axis(labelLimit=0)),
        x=alt.X("error_rate:Q", title="error rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
    )
    bars = base.mark_bar(color="#4c78a8").encode(tooltip=["slice:N", "n:Q", "n_errors:Q",
                                                          alt.Tooltip("error_rate:Q", format=".1%")])
    text = base.mark_text(align="left", dx=3, fontSize=11).encode(text="label:N")
    layers: list[alt.Chart] = [bars, text]
    if overall is not None:
        rule = alt.Chart(pd.DataFrame({"overall": [overall]})).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(
            x="overall:Q")
        layers.append(rule)
    layered = alt.layer(*layers)
    assert isinstance(layered, alt.LayerChart)
    return layered.properties(autosize=fit_width(), title=alt.Title(title, limit=0), height=max(60, 24 * len(data)))
