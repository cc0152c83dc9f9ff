"""Explain: one text, one model, several attribution methods side by side (Fig. 4/5)."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.dashboard import explain as vm
from audit.dashboard.html import heatmap
from audit.dashboard.store import first_run_message
from audit.errors import AuditError

EXAMPLE = "the fight scenes are fun but it grows tedious"


@st.cache_data(show_spinner="Explaining...", max_entries=64)
def results(ref: str, text: str, methods: tuple[str, ...]) -> list[vm.MethodResult]:
    return vm.explain_methods(_shared.model(ref), text, methods=list(methods))


st.title("Explain")
root = _shared.store_dir()
refs: list[str] = []
if _shared.get_store(root) is not None:
    refs = vm.model_refs(_shared.manifest(root, r) for r in _shared.complete_ids(root))
if not refs:
    st.info(first_run_message(root) + " Meanwhile, a model directory works here too.", icon=":material/info:")

allow_adapters = vm.adapters_allowed()
c1, c2 = st.columns(2)
choice = c1.selectbox("Model from a run", [None, *refs], index=1 if refs else 0, key="e_ref",
                      format_func=lambda r: r or "(none)")
typed = c2.text_input("...or a model directory" + (" / module:function" if allow_adapters else ""),
                      key="e_model_dir")
methods = st.multiselect("Methods", vm.available_methods(), default=["reat"], key="e_methods",
                         format_func=lambda m: vm.METHOD_TITLES.get(m, m))
text = st.text_area("Text", value=EXAMPLE, key="e_text")

try:  # typed module:function refs would run code on this server: refused unless --allow-adapters
    ref = vm.choose_model_ref(typed, choice, run_refs=refs, allow_adapters=allow_adapters)
except AuditError as exc:
    st.error(str(exc))
    st.stop()
if not ref:
    st.info("Pick a model from a run or type a model directory (a folder made by `audit train`).")
    st.stop()
if not methods or not text.strip():
    st.info("Type a text and pick at least one method.")
    st.stop()
try:
    out = results(ref, text, tuple(methods))
except AuditError as exc:
    st.error(str(exc))
    st.stop()

first = out[0]
m1, m2, m3 = st.columns(3)
m1.metric("Prediction", first.prediction)
m2.metric("Confidence", f"{first.confidence:.1%}")
deltas = [r.completeness_delta for r in out if r.method == "reat" and r.completeness_delta is not None]
m3.metric("REAT completeness delta", f"{deltas[0]:.2e}" if deltas else "n/a",
          help="|sum of REAT scores + bias - logit|; ~0 means the decomposition is exact")
cols = st.columns(min(len(out), 3))
for i, r in enumerate(out):
    with cols[i % len(cols)]:
        st.html(heatmap(r.tokens, r.scores, title=vm.METHOD_TITLES.get(r.method, r.method)))
        if r.completeness_delta is not None:
            st.caption(f"completeness delta {r.completeness_delta:.2e}")
st.caption(f"Scores toward the predicted class ({first.target}).")
st.dataframe(vm.scores_frame(out), hide_index=True, width="stretch", key="e_scores")
