"""Failures: misclassified texts, filterable and paged, each as a REAT heatmap (Fig. 6)."""

from __future__ import annotations

import html

import streamlit as st

from app_pages import _shared
from audit.dashboard import failures as vm
from audit.dashboard.html import heatmap, text_block

st.title("Failures")
root, run_id, manifest = _shared.require_run()
preds = _shared.require_table(root, run_id, "predictions")
tokens = _shared.require_table(root, run_id, "token_attributions")
segments = _shared.table(root, run_id, "segments")
drivers = _shared.table(root, run_id, "failure_drivers")
labels = vm.label_names(manifest, _shared.table(root, run_id, "driver_words"))


def name(index: int) -> str:
    return vm.label_text(index, labels)


c1, c2, c3 = st.columns(3)
gold = c1.multiselect("Gold label", vm.labels_present(preds, "gold"), format_func=name, key="f_gold")
pred = c2.multiselect("Predicted label", vm.labels_present(preds, "pred"), format_func=name, key="f_pred")
lo, hi = vm.confidence_bounds(preds)
conf = c3.slider("Confidence of the wrong prediction", 0.0, 1.0, (min(lo, 0.5), 1.0), step=0.01, key="f_conf")
c4, c5, c6 = st.columns([2, 1, 1])
query = c4.text_input("Search word", key="f_query", placeholder="e.g. terribly")
level = c5.radio("Level", vm.LEVELS, horizontal=True, key="f_level")
page_size = c6.selectbox("Per page", (10, 25, 50), key="f_page_size")

flt = vm.FailureFilter(gold=tuple(gold), pred=tuple(pred), min_confidence=conf[0], max_confidence=conf[1], query=query)
selected = vm.filter_failures(preds, flt)
n_errors = int((~preds["correct"].astype(bool)).sum())
st.markdown(f"**{len(selected)}** of {n_errors} failures match (run `{run_id}`).")
if selected.empty:
    st.stop()

n_pages = vm.paginate(selected, page=1, page_size=page_size).n_pages
number = st.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1, key="f_page") if n_pages > 1 else 1
page = vm.paginate(selected, page=int(number), page_size=page_size)
st.caption(f"Page {page.number} of {page.n_pages}")
if level != "word" and (segments is None or segments.empty):
    st.warning(f"This run has no segments table: {level}-level heatmaps are not available.")

units = vm.units_for_page(page.frame, tokens, segments, level=level)
for row, (words, scores) in zip(page.frame.itertuples(), units):
    with st.container(border=True):
        st.markdown(
            f"**{html.escape(str(row.dataset))} #{int(row.example_id)}**: gold **{html.escape(name(row.gold))}**, "
            f"predicted **{html.escape(name(row.pred))}** ({float(row.prob_pred):.1%})"
        )
        st.html(text_block(str(row.text)))
        if words:
            st.html(heatmap(words, scores, title=f"REAT {level}-level, toward the predicted class"))
        reasons = vm.top_drivers(drivers, dataset=str(row.dataset), example_id=int(row.example_id))
        if reasons:
            st.html("<div>Top reasons: " + ", ".join(
                f"<code>{html.escape(t)}</code> ({s:+.3f})" for t, s in reasons) + "</div>")
