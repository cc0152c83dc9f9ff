"""POS patterns: REAT score boxplots per POS category ranked by median (Fig. 7); compare two runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared
from audit.charts import pos_boxplot

st.title("POS patterns")
root, run_id, manifest = _shared.require_run()
stats = _shared.require_table(root, run_id, "pos_stats")

ids = _shared.complete_ids(root)
others = [r for r in ids if r != run_id]
other = st.selectbox("Compare with run (e.g. another model)", [None, *others], key="p_other",
                     format_func=lambda r: "none" if r is None else _shared.run_label(root, r))
side_by_side = st.toggle("Side by side (off: overlaid in one chart)", value=True, key="p_side")


def label(rid: str) -> str:
    ref = _shared.manifest(root, rid).get("model_ref") or "?"
    return f"{rid} [{ref}]"


if other is None:
    st.altair_chart(pos_boxplot(stats, title=f"REAT scores by POS, {label(run_id)}"), width="stretch")
else:
    other_stats = _shared.table(root, other, "pos_stats")
    if other_stats is None:
        st.info(f"Run {other} has no pos_stats table.")
        st.altair_chart(pos_boxplot(stats, title=label(run_id)), width="stretch")
    elif side_by_side:
        left, right = st.columns(2)
        left.altair_chart(pos_boxplot(stats, title=label(run_id)), width="stretch")
        right.altair_chart(pos_boxplot(other_stats, title=label(other)), width="stretch")
    else:
        both = pd.concat([stats.assign(run=label(run_id)), other_stats.assign(run=label(other))], ignore_index=True)
        st.altair_chart(pos_boxplot(both, group="run", title="REAT scores by POS"), width="stretch")
st.caption("Boxes span q1-q3, the tick marks the median, whiskers as recorded by the run; outliers omitted (as in Fig. 7).")
st.dataframe(stats.sort_values("median", ascending=False), hide_index=True, width="stretch")
