"""Altair chart builders of the paper evaluation. Pure functions: data frame in, chart out.

Nothing here touches files; :mod:`audit.evaluation.report` saves the charts.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

DIVERGING = alt.Scale(scheme="redyellowgreen", domainMid=0)


def pos_boxplot(stats: pd.DataFrame, *, title: str, width: int = 320) -> alt.LayerChart:
    """Fig. 7: one horizontal box per POS tag built from aggregated quantiles (q1, median, q3,
    Tukey whiskers), ranked by median, outliers omitted. Expects the columns of
    :func:`audit.evaluation.patterns.tag_stats`; rows with ``plotted == False`` are dropped."""
    data = stats[stats["plotted"]] if "plotted" in stats.columns else stats
    data = data[["pos", "n", "median", "q1", "q3", "lo_whisker", "hi_whisker"]].reset_index(drop=True)
    order = data.sort_values("median", ascending=False)["pos"].tolist()
    y = alt.Y("pos:N", sort=order, title="POS tag (ranked by median)")
    base = alt.Chart(data).encode(y=y)
    tooltip = [
        alt.Tooltip("pos:N"),
        alt.Tooltip("n:Q"),
        alt.Tooltip("median:Q", format=".3f"),
        alt.Tooltip("q1:Q", format=".3f"),
        alt.Tooltip("q3:Q", format=".3f"),
    ]
    whisker = base.mark_rule(color="#555").encode(
        x=alt.X("lo_whisker:Q", title="REAT score toward predicted class"), x2="hi_whisker:Q"
    )
    box = base.mark_bar(size=12, color="#8fb3d9", stroke="#333", strokeWidth=0.5).encode(
        x="q1:Q", x2="q3:Q", tooltip=tooltip
    )
    median = base.mark_tick(color="#b00", thickness=2, size=12).encode(x="median:Q")
    zero = alt.Chart(data).mark_rule(color="#999", strokeDash=[3, 3]).encode(x=alt.datum(0))
    layered = alt.layer(whisker, box, median, zero)
    assert isinstance(layered, alt.LayerChart)  # no row/column/facet channel, so alt.layer does not facet
    return layered.properties(title=title, width=width, height=max(120, 14 * len(data)))


def word_score_chart(occurrences: pd.DataFrame, *, title: str, target_name: str) -> alt.FacetChart:
    """Fig. 8: every occurrence's score (ticks) with a box per word and model.

    ``occurrences`` columns: model, word, score."""
    base = alt.Chart(occurrences)
    x = alt.X("score:Q", title=f"REAT score toward {target_name}")
    y = alt.Y("word:N", title=None)
    box = base.mark_boxplot(extent=1.5, outliers=False, opacity=0.5, size=18).encode(
        x=x, y=y, color=alt.Color("word:N", legend=None)
    )
    points = base.mark_tick(opacity=0.8, color="#222", thickness=1.5, size=14).encode(
        x=x, y=y, tooltip=["model:N", "word:N", alt.Tooltip("score:Q", format=".3f")]
    )
    rule = base.mark_rule(color="#999", strokeDash=[3, 3]).encode(x=alt.datum(0))
    layered = alt.layer(box, points, rule).properties(width=300, height=90)
    return layered.facet(row=alt.Row("model:N", title=None)).properties(title=title)


def ours_vs_paper_chart(table: pd.DataFrame, *, title: str, value_title: str) -> alt.FacetChart:
    """Dot plot of our value and the paper's per method, one panel per model.

    ``table`` columns: model, method, source (``ours``/``paper``), value."""
    return (
        alt.Chart(table)
        .mark_point(filled=True, size=70)
        .encode(
            x=alt.X("value:Q", title=value_title),
            y=alt.Y("method:N", title=None, sort=None),
            color=alt.Color("source:N", scale=alt.Scale(domain=["ours", "paper"], range=["#1f77b4", "#ff7f0e"])),
            shape=alt.Shape("source:N"),
            tooltip=["model:N", "method:N", "source:N", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=220, height=150)
        .facet(column=alt.Column("model:N", title=None, sort=list(dict.fromkeys(table["model"]))))
        .properties(title=title)
    )


def hierarchy_heatmap(cells: pd.DataFrame, *, title: str) -> alt.LayerChart:
    """Fig. 6: one row per level (word, phrase, clause), one cell per token, coloured by the score of
    the segment the token belongs to (green: toward the predicted class, red: against).

    ``cells`` columns: level, position, token, score, segment."""
    levels = ["word", "phrase", "clause"]
    lim = float(cells["score"].abs().max()) or 1.0
    base = alt.Chart(cells).encode(
        x=alt.X("position:O", axis=None),
        y=alt.Y("level:N", sort=levels, title=None),
    )
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("score:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[-lim, lim]), title="score"),
        tooltip=["level:N", "segment:N", alt.Tooltip("score:Q", format=".3f")],
    )
    text = base.mark_text(fontSize=11).encode(text="token:N")
    n_tokens = int(cells["position"].max()) + 1 if len(cells) else 1
    layered = alt.layer(rect, text)
    assert isinstance(layered, alt.LayerChart)  # no row/column/facet channel, so alt.layer does not facet
    return layered.properties(title=title, width=max(300, 52 * n_tokens), height=90)
