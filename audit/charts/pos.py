"""Fig. 7 of the paper: REAT score distributions per POS category as boxplots.

Built from the aggregated ``pos_stats`` table (q1/median/q3/whiskers), never
from raw token rows: ``mark_rule`` for the whiskers, ``mark_bar`` for the box,
``mark_tick`` for the median.  Outliers are omitted, as in the paper.

Readability: categories seen fewer than ``min_count`` times are left out (a tag
seen twice should not rank near the top), punctuation tags can be shown, hidden
or shown alone (their medians, "." above all, squash every other box), and two
charts being compared share one x domain and one category order
(:func:`shared_domain`, :func:`shared_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt
import pandas as pd

from audit.charts._common import fit_width

STAT_COLUMNS = ("pos", "n", "median", "q1", "q3", "lo_whisker", "hi_whisker")
PUNCT_TAGS: frozenset[str] = frozenset({".", ",", ":", "``", "''", "-LRB-", "-RRB-", "(", ")", "#", "$", "HYPH",
                                        "NFP", "PUNCT", "SYM"})
"""Penn Treebank (and UD) tags of punctuation and symbols."""
PUNCT_MODES: tuple[str, ...] = ("include", "exclude", "only")


def is_punct_tag(tag: str) -> bool:
    return tag in PUNCT_TAGS or not any(ch.isalnum() for ch in tag)


def select_categories(stats: pd.DataFrame, *, min_count: int = 0, punct: str = "include") -> pd.DataFrame:
    """The rows of ``stats`` kept by the count threshold and the punctuation mode."""
    if punct not in PUNCT_MODES:
        raise ValueError(f"punct must be one of {PUNCT_MODES}, got {punct!r}")
    out = stats[stats["n"] >= min_count] if min_count else stats
    mask = out["pos"].astype(str).map(is_punct_tag)
    if punct == "exclude":
        out = out[~mask]
    elif punct == "only":
        out = out[mask]
    return out


def shared_domain(frames: Iterable[pd.DataFrame]) -> tuple[float, float]:
    """One x domain (whisker range) covering every frame, for charts compared side by side."""
    lo, hi = 0.0, 0.0
    for f in frames:
        if not f.empty:
            lo, hi = min(lo, float(f["lo_whisker"].min())), max(hi, float(f["hi_whisker"].max()))
    return (lo, hi) if hi > lo else (-1.0, 1.0)


def shared_order(frames: Sequence[pd.DataFrame]) -> list[str]:
    """Category order by the first frame's median (highest first), then categories only the others have."""
    order: list[str] = []
    for f in frames:
        for tag in f.sort_values(["median", "pos"], ascending=[False, True])["pos"].astype(str):
            if tag not in order:
                order.append(tag)
    return order


def pos_boxplot(
    stats: pd.DataFrame,
    *,
    title: str | None = None,
    group: str | None = None,
    max_categories: int = 60,
    min_count: int = 0,
    punct: str = "include",
    domain: tuple[float, float] | None = None,
    order: Sequence[str] | None = None,
    x_title: str = "REAT score toward the predicted class",
) -> alt.LayerChart:
    """Horizontal boxplots, one per POS category, ranked by median (highest on top).

    ``stats`` follows the ``pos_stats`` contract.  With ``group`` naming a
    column (e.g. ``"run"``), several runs or models are drawn side by side in
    each category (colour + offset); the ranking then follows the first group
    in order of appearance.  At most ``max_categories`` categories (by count)
    are kept, each seen at least ``min_count`` times; ``punct`` includes,
    excludes or keeps only punctuation tags.  ``domain``/``order`` fix the x
    scale and the category order (pass the same to charts being compared).
    """
    missing = set(STAT_COLUMNS) - set(stats.columns)
    if missing:
        raise ValueError(f"pos_stats frame lacks columns {sorted(missing)}")
    cols = list(STAT_COLUMNS) + ([group] if group else [])
    data = stats.loc[:, cols].dropna(subset=["median"]).copy()
    data["pos"] = data["pos"].astype(str)
    data = select_categories(data, min_count=min_count, punct=punct)
    if group:
        data[group] = data[group].astype(str)
    keep = data.groupby("pos")["n"].sum().sort_values(ascending=False).head(max_categories).index
    data = data[data["pos"].isin(keep)]
    if order is None:
        ref = data if not group or data.empty else data[data[group] == data[group].iloc[0]]
        sort = shared_order([ref, data])
    else:
        sort = [t for t in order if t in set(data["pos"])] + sorted(set(data["pos"]) - set(order))
    data = data.reset_index(drop=True)

    y = alt.Y("pos:N", sort=sort, title="POS category (n = count)", axis=alt.Axis(labelLimit=0))
    scale = alt.Scale(domain=list(domain)) if domain else alt.Scale()
    tooltip = [alt.Tooltip(c, type="quantitative" if c != "pos" else "nominal") for c in STAT_COLUMNS]
    # Any: the channels go to encode() as keywords, each of which takes a different channel type
    enc: dict[str, Any] = {"y": y}
    if group:
        enc["yOffset"] = alt.YOffset(f"{group}:N")
        enc["color"] = alt.Color(f"{group}:N", title=group, scale=alt.Scale(scheme="tableau10"),
                                 legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0))
        tooltip = [alt.Tooltip(f"{group}:N")] + tooltip
    base = alt.Chart(data).encode(tooltip=tooltip, **enc)
    whiskers = base.mark_rule().encode(
        x=alt.X("lo_whisker:Q", title=x_title, scale=scale), x2="hi_whisker:Q"
    )
    boxes = base.mark_bar(size=10 if group else 14).encode(x="q1:Q", x2="q3:Q")
    if not group:
        boxes = boxes.encode(color=alt.value("#4c78a8"))
    medians = base.mark_tick(color="black", thickness=2, size=10 if group else 14).encode(x="median:Q")
    counts = base.mark_text(align="left", dx=4, fontSize=10, color="#555").encode(
        x="hi_whisker:Q", text=alt.Text("n:Q", format="d"))
    layered = alt.layer(whiskers, boxes, medians, counts)
    assert isinstance(layered, alt.LayerChart)  # no row/column/facet channel, so alt.layer does not facet
    height = max(120, 22 * max(1, len(sort)) * (2 if group else 1))
    return layered.properties(autosize=fit_width(), title=alt.Title(title or "REAT scores by POS (ranked by median)", limit=0),
                              height=height)
