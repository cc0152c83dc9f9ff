"""POS patterns: REAT score boxplots per POS category ranked by median (Fig. 7); compare two runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared
from audit.charts import pos_boxplot, shared_domain, shared_order
from audit.charts.pos import PUNCT_MODES, select_categories
from audit.dashboard import links
from audit.dashboard import runs as vm_runs

st.title("POS patterns")
root, run_id, manifest = _shared.require_run()
stats = _shared.require_table(root, run_id, "pos_stats")
_shared.write_params(links.Selection(run=run_id))

ids = _shared.complete_ids(root)
others = [r for r in ids if r != run_id]
c1, c2, c3 = st.columns([2, 1, 1])
other = c1.selectbox("Compare with run (e.g. another model)", [None, *others], key="p_other",
                     format_func=lambda r: "none" if r is None else _shared.run_label(root, r))
min_count = c2.number_input("Min. occurrences of a tag", min_value=0, value=5, step=5, key="p_min_count",
                            help="Tags seen fewer times are left out: their medians are noise")
st.session_state.setdefault("p_punct", "exclude")  # "." (median ~0.95) would squash every other box
punct = c3.selectbox("Punctuation", PUNCT_MODES, key="p_punct",
                     format_func={"include": "with the others", "exclude": "hidden", "only": "alone"}.get,
                     help='Punctuation tags ("." above all) have large medians that squash the other boxes')
if punct == "exclude":
    st.caption('Punctuation tags are hidden: REAT credits the end of a text, where "." sits, so its box dwarfs '
               "the others. Choose Punctuation: alone to see them.")
side_by_side = st.toggle("Side by side (off: overlaid in one chart)", value=True, key="p_side")


def label(rid: str) -> str:
    return _shared.run_label(root, rid)


def chart(frame: pd.DataFrame, title: str, **kw: object) -> None:
    st.altair_chart(pos_boxplot(frame, title=title, min_count=int(min_count), punct=str(punct), **kw),  # type: ignore[arg-type]
                    width="stretch")


other_stats = _shared.table(root, other, "pos_stats") if other else None
if other is not None and other_stats is None:
    st.info(f"Run {other} has no pos_stats table.")
if other_stats is None:
    chart(stats, f"REAT scores by POS, {label(run_id)}")
else:
    kept = [select_categories(f, min_count=int(min_count), punct=str(punct)) for f in (stats, other_stats)]
    domain, order = shared_domain(kept), shared_order(kept)
    if side_by_side:
        st.caption("Both charts share one x scale and the category order of the first run.")
        left, right = st.columns(2)
        with left:
            chart(stats, label(run_id), domain=domain, order=order)
        with right:
            chart(other_stats, label(other or ""), domain=domain, order=order)
    else:
        both = pd.concat([stats.assign(run=label(run_id)), other_stats.assign(run=label(other or ""))],
                         ignore_index=True)
        chart(both, "REAT scores by POS", group="run")
    same_model = _shared.manifest(root, run_id).get("model_ref") == _shared.manifest(root, other or "").get("model_ref")
    if same_model:
        st.caption(f"Both runs audited the same model ({vm_runs.model_name(manifest.get('model_ref'))}).")
st.caption("Boxes span q1-q3, the tick marks the median, whiskers as recorded by the run; outliers omitted "
           "(as in Fig. 7). The number right of each box is its count. Scores are toward the predicted class.")
_shared.show_table(select_categories(stats, min_count=int(min_count), punct=str(punct))
                   .sort_values("median", ascending=False), key="p_table")
