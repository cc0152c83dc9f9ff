"""Fig. 7 of the paper: REAT score distributions per POS category as boxplots.

Built from the aggregated ``pos_stats`` table (q1/median/q3/whiskers), never
from raw token rows: ``mark_rule`` for the whiskers, ``mark_bar`` for the box,
``mark_tick`` for the median.  Outliers are omitted, as in the paper.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

STAT_COLUMNS = ("pos", "n", "median", "q1", "q3", "lo_whisker", "hi_whisker")


def pos_boxplot(
    stats: pd.DataFrame,
    *,
    title: str | None = None,
    group: str | None = None,
    max_categories: int = 60,
) -> alt.LayerChart:
    """Horizontal boxplots, one per POS category, ranked by median (highest on top).

    ``stats`` follows the ``pos_stats`` contract.  With ``group`` naming a
    column (e.g. ``"run"``), several runs or models are drawn side by side in
    each category (colour + offset); the ranking then follows the first group
    in order of appearance.  At most ``max_categories`` categories (by count)
    are kept.
    """
    missing = set(STAT_COLUMNS) - set(stats.columns)
    if missing:
        raise ValueError(f"pos_stats frame lacks columns {sorted(missing)}")
    cols = list(STAT_COLUMNS) + ([group] if group else [])
    data = stats.loc[:, cols].dropna(subset=["median"]).copy()
    if group:
        data[group] = data[group].astype(str)
    keep = data.groupby("pos")["n"].sum().sort_values(ascending=False).head(max_categories).index
    data = data[data["pos"].isin(keep)]
    ref = data if not group or data.empty else data[data[group] == data[group].iloc[0]]
    order = list(ref.sort_values(["median", "pos"], ascending=[False, True])["pos"])
    order += sorted(set(data["pos"]) - set(order))
    data = data.reset_index(drop=True)

    y = alt.Y("pos:N", sort=order, title="POS category")
    tooltip = [alt.Tooltip(c, type="quantitative" if c != "pos" else "nominal") for c in STAT_COLUMNS]
    # Any: the channels go to encode() as keywords, each of which takes a different channel type
    enc: dict[str, Any] = {"y": y}
    if group:
        enc["yOffset"] = alt.YOffset(f"{group}:N")
        enc["color"] = alt.Color(f"{group}:N", title=group)
        tooltip = [alt.Tooltip(f"{group}:N")] + tooltip
    base = alt.Chart(data).encode(tooltip=tooltip, **enc)
    whiskers = base.mark_rule().encode(
        x=alt.X("lo_whisker:Q", title="REAT score"), x2="hi_whisker:Q"
    )
    boxes = base.mark_bar(size=10 if group else 14).encode(x="q1:Q", x2="q3:Q")
    if not group:
        boxes = boxes.encode(color=alt.value("#4c78a8"))
    medians = base.mark_tick(color="black", thickness=2, size=10 if group else 14).encode(x="median:Q")
    layered = alt.layer(whiskers, boxes, medians)
    assert isinstance(layered, alt.LayerChart)  # no row/column/facet channel, so alt.layer does not facet
    return layered.properties(title=title or "REAT scores by POS (ranked by median)")
