"""Explain: one text, one or two models, several attribution methods side by side (Fig. 4/5)."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.dashboard import explain as vm
from audit.dashboard import links
from audit.dashboard.html import heatmap, legend, shared_peak
from audit.dashboard.store import first_run_message
from audit.errors import AuditError

EXAMPLE = "the fight scenes are fun but it grows tedious"


@st.cache_data(show_spinner="Explaining...", max_entries=64)
def results(ref: str, text: str, methods: tuple[str, ...], target: str | None, levels: tuple[str, ...]) -> list[vm.MethodResult]:
    return vm.explain_methods(_shared.model(ref), text, methods=list(methods), target=target, levels=levels)


st.title("Explain")
root = _shared.store_dir()
wanted = _shared.selection()
refs: list[str] = []
run_id: str | None = None
if _shared.get_store(root) is not None:
    ids = _shared.complete_ids(root)
    refs = vm.model_refs(_shared.manifest(root, r) for r in ids)
    run_id = st.session_state.get(_shared.RUN_KEY) if ids else None
if not refs:
    st.info(first_run_message(root) + " Meanwhile, a model directory works here too.", icon=":material/info:")

# a deep link ?example=dataset:id pre-fills the text from the run, and picks the run's model
if wanted.example and run_id:
    linked = vm.example_text(_shared.table(root, run_id, "predictions"), wanted.example)
    if linked is None:
        st.warning(f"Example {links.format_example(*wanted.example)} is not in run {run_id}.")
    else:
        _shared.apply("e_text", linked)
        st.session_state["e_example"] = (wanted.example, linked)
        if _shared.manifest(root, run_id).get("model_ref") in refs:
            _shared.apply("e_ref", _shared.manifest(root, run_id).get("model_ref"))
if wanted.methods:
    known = [m for m in wanted.methods if m in vm.available_methods()]
    _shared.apply("e_methods", known or None)
_shared.apply("e_level", wanted.level)

allow_adapters = vm.adapters_allowed()
c1, c2 = st.columns(2)
st.session_state.setdefault("e_ref", refs[0] if refs else None)
st.session_state.setdefault("e_methods", ["reat"])
st.session_state.setdefault("e_text", EXAMPLE)
if st.session_state["e_ref"] not in [None, *refs]:
    st.session_state["e_ref"] = refs[0] if refs else None
choice = c1.selectbox("Model from a run", [None, *refs], key="e_ref",
                      format_func=lambda r: r or "(none)")
typed = c2.text_input("...or a model directory" + (" / module:function" if allow_adapters else ""),
                      key="e_model_dir")
c3, c4, c5 = st.columns([5, 3, 2])
methods = c3.multiselect("Methods", vm.available_methods(), key="e_methods",
                         format_func=lambda m: vm.METHOD_TITLES.get(m, m))
level = c4.radio("Level", links.LEVELS, horizontal=True, key="e_level")
second = c5.selectbox("Second model", [None, *refs], key="e_second", format_func=lambda r: r or "(none)",
                      help="Explain the same text with another model, side by side")
text = st.text_area("Text", key="e_text")
linked_example = st.session_state.get("e_example")
example_param = linked_example[0] if linked_example and linked_example[1] == text else None
_shared.write_params(links.Selection(run=run_id, example=example_param, level=level if level != "word" else None,
                                     methods=tuple(methods) if methods != ["reat"] else ()))

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
    labels = list(_shared.model(ref).labels)
except AuditError as exc:
    st.error(str(exc))
    st.stop()
target = st.radio("Scores toward", [None, *labels], horizontal=True, key="e_target",
                  format_func=lambda t: "the predicted class" if t is None else f"class {t}")
levels = (level,) if level != "word" else ()
models = [ref] + ([second] if second and second != ref else [])
outputs: dict[str, list[vm.MethodResult]] = {}
for r in models:
    try:
        outputs[r] = results(r, text, tuple(methods), target, levels)
    except AuditError as exc:
        st.error(f"{r}: {exc}")
        st.stop()

note = vm.unsigned_note(methods)
if note:
    st.info(note, icon=":material/info:")
peak = shared_peak(res.units(level)[1] for out in outputs.values() for res in out if res.method not in vm.UNSIGNED_METHODS)
st.html(legend(peak=peak, palette=_shared.palette(), toward=None if target is None else f"toward class {target}"))
st.caption("One colour scale for every signed heatmap on this page; the score of each unit is printed under it.")
columns = st.columns(len(outputs))
for col, (r, out) in zip(columns, outputs.items()):
    with col:
        first = out[0]
        if len(outputs) > 1:
            st.markdown(f"**{r}**")
        warning = vm.unknown_warning(first)
        if warning:
            st.warning(warning, icon=":material/warning:")
        m1, m2, m3 = st.columns(3)
        m1.metric("Prediction", first.prediction)
        m2.metric("Confidence", f"{first.confidence:.1%}")
        deltas = [x.completeness_delta for x in out if x.method == "reat" and x.completeness_delta is not None]
        m3.metric("REAT completeness delta", f"{deltas[0]:.2e}" if deltas else "n/a",
                  help="|sum of REAT scores + bias - logit|; ~0 means the decomposition is exact")
        st.caption(f"Scores toward class {first.target}"
                   + (" (the predicted class)." if first.target == first.prediction else "."))
        grid = st.columns(min(len(out), 3 if len(outputs) == 1 else 1))
        for i, res in enumerate(out):
            units, scores = res.units(level)
            title = vm.METHOD_TITLES.get(res.method, res.method) + (" (unsigned)" if res.method in vm.UNSIGNED_METHODS else "")
            with grid[i % len(grid)]:
                st.html(heatmap(units, scores, title=title, palette=_shared.palette(),
                                peak=None if res.method in vm.UNSIGNED_METHODS else peak))
                if res.completeness_delta is not None:
                    st.caption(f"completeness delta {res.completeness_delta:.2e}")
        _shared.show_table(vm.scores_frame(out, level=level), key="e_scores" if r == ref else f"e_scores_{r}")
        if len(out) > 1:
            st.markdown("**Agreement between methods** (Spearman rank correlation of the scores)")
            _shared.show_table(vm.method_agreement(out, level=level), key=f"e_agree_{r}")
