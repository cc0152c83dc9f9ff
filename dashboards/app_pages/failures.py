"""Failures: an error overview, then misclassified texts, filterable and paged, each as a REAT heatmap (Fig. 6)."""

from __future__ import annotations

import html

import streamlit as st

from app_pages import _shared
from audit.charts import confusion_heatmap, error_rate_bars
from audit.dashboard import failures as vm
from audit.dashboard import findings
from audit.dashboard import overview as vm_overview
from audit.dashboard.html import (
    SIGN_NOTE,
    SIGN_TITLES,
    heatmap,
    highlight_word,
    legend,
    reasons_html,
    shared_peak,
    text_block,
)
from audit.dashboard.links import LEVELS, Selection

st.title("Failures")
root, run_id, manifest = _shared.require_run()
preds = _shared.require_table(root, run_id, "predictions")
tokens = _shared.require_table(root, run_id, "token_attributions")
segments = _shared.table(root, run_id, "segments")
drivers = _shared.table(root, run_id, "failure_drivers")
stats = _shared.table(root, run_id, "driver_stats")
fixes = _shared.table(root, run_id, "minimal_fixes")
labels = _shared.labels(root, run_id)
wanted = _shared.selection()
_shared.apply("f_query", wanted.word)
_shared.apply("f_level", wanted.level)


def name(index: int) -> str:
    return vm.label_text(index, labels)


n_errors = int((~preds["correct"].astype(bool)).sum())
with st.expander(f"Error overview: {n_errors} of {len(preds)} texts misclassified", expanded=not wanted.word):
    overall = n_errors / max(len(preds), 1)
    top_left, top_right = st.columns(2)
    top_left.altair_chart(confusion_heatmap(vm_overview.confusion_matrix(preds, labels)), width="stretch")
    top_right.altair_chart(error_rate_bars(vm_overview.error_rate_by_label(preds, labels),
                                           title="Error rate by true label (red: overall)", overall=overall),
                           width="stretch")
    low_left, low_right = st.columns(2)
    low_left.altair_chart(error_rate_bars(vm_overview.error_rate_by_length(preds),
                                          title="Error rate by length", overall=overall), width="stretch")
    low_right.altair_chart(error_rate_bars(vm_overview.error_rate_by_confidence(preds),
                                           title="Error rate by confidence of the prediction", overall=overall),
                           width="stretch")
    st.markdown("**Slices with the highest error rate: texts containing a confirmed driver**")
    driver_slices = vm_overview.driver_slices(stats)
    if driver_slices is None:
        st.caption(findings.NO_STATS_MESSAGE.split(":")[0] + ".")
    elif driver_slices.empty:
        st.caption(findings.NO_CONFIRMED_MESSAGE)
    else:
        _shared.show_table(driver_slices, key="f_slices")
    n_dot, n_first = vm_overview.top_unit_share(drivers, ".")
    if n_dot:
        st.info(f'REAT ranks "." first in {n_dot} of {n_first} failures. ' + vm_overview.TRAILING_DOT_NOTE,
                icon=":material/lightbulb:")

c1, c2, c3 = st.columns(3)
gold = c1.multiselect("Gold label", vm.labels_present(preds, "gold"), format_func=name, key="f_gold")
pred = c2.multiselect("Predicted label", vm.labels_present(preds, "pred"), format_func=name, key="f_pred")
lo, hi = vm.confidence_bounds(preds)
conf = c3.slider("Confidence of the wrong prediction", 0.0, 1.0, (min(lo, 0.5), 1.0), step=0.01, key="f_conf")
c4, c5, c6 = st.columns([2, 1, 1])
query = c4.text_input("Search word", key="f_query", placeholder="e.g. terribly")
level = c5.radio("Level", LEVELS, horizontal=True, key="f_level")
page_size = c6.selectbox("Per page", (10, 25, 50), key="f_page_size")
_shared.write_params(Selection(run=run_id, word=query.strip() or None, level=level if level != "word" else None))

flt = vm.FailureFilter(gold=tuple(gold), pred=tuple(pred), min_confidence=conf[0], max_confidence=conf[1], query=query)
selected = vm.filter_failures(preds, flt)
st.markdown(f"**{len(selected)}** of {n_errors} failures match (run `{run_id}`).")
if selected.empty:
    if query.strip():
        st.text(f"No misclassified text of this run contains {query.strip()!r} (with the filters above).")
        st.page_link(_shared.PAGE_FILES["drivers"], label=f"{query.strip()!r} on the Driver words page",
                     icon=":material/format_list_numbered:", query_params={"run": run_id, "word": query.strip()})
    st.stop()

n_pages = vm.paginate(selected, page=1, page_size=page_size).n_pages
number = st.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1, key="f_page") if n_pages > 1 else 1
page = vm.paginate(selected, page=int(number), page_size=page_size)
st.caption(f"Page {page.number} of {page.n_pages}")
if level != "word" and (segments is None or segments.empty):
    st.warning(f"This run has no segments table: {level}-level heatmaps are not available.")

sign = _shared.sign() if level == "word" else "pred"
if level != "word" and _shared.sign() == "gold":
    st.caption("Phrase and clause scores are recorded toward the predicted class only; shown that way.")
units = vm.units_for_page(page.frame, tokens, segments, level=level, column=f"score_{sign}")
peak = shared_peak(scores for _, scores in units)
st.html(legend(peak=peak, palette=_shared.palette(), sign=sign))
st.caption(SIGN_NOTE + " One colour scale for every text on this page; scores are printed under each unit.")
if drivers is not None and not findings.has_columns(drivers, ["fixes_error"]):
    st.caption(findings.NO_VERIFIED_MESSAGE)
for row, (words, scores) in zip(page.frame.itertuples(), units):
    example = (str(row.dataset), int(row.example_id))
    with st.container(border=True):
        st.markdown(
            f"**{html.escape(example[0])} #{example[1]}**: gold **{html.escape(name(row.gold))}**, "
            f"predicted **{html.escape(name(row.pred))}** ({float(row.prob_pred):.1%})"
        )
        st.html(highlight_word(str(row.text), query.strip()) if query.strip() else text_block(str(row.text)))
        if words:
            st.html(heatmap(words, scores, peak=peak, palette=_shared.palette(),
                            title=f"REAT {level}-level, {SIGN_TITLES[sign]}"))
        reasons = findings.reasons(drivers, dataset=example[0], example_id=example[1])
        if reasons:
            st.html(reasons_html(reasons))
        fix = findings.minimal_fix(fixes, dataset=example[0], example_id=example[1])
        if fix:
            st.caption(fix)
        a, b = st.columns(2)
        a.page_link(_shared.PAGE_FILES["explain"], label="Explain this text", icon=":material/psychology:",
                    query_params={"run": run_id, "example": f"{example[0]}:{example[1]}"})
        b.page_link(_shared.PAGE_FILES["variants"], label="Its adversarial variants", icon=":material/swap_horiz:",
                    query_params={"run": run_id, "example": f"{example[0]}:{example[1]}"})
