"""Adversarial variants: original vs variant with swapped words highlighted; suite downloads."""

from __future__ import annotations

import functools

import streamlit as st

from app_pages import _shared
from audit.dashboard import failures as vm_fail
from audit.dashboard import variants as vm


@st.cache_data(show_spinner=False, max_entries=32)
def suite_bytes(root: str, run_id: str, fmt: str) -> bytes:
    return vm.suite_bytes(_shared.store(root).get(run_id), fmt)


st.title("Adversarial variants")
root, run_id, manifest = _shared.require_run()
variants = _shared.require_table(root, run_id, "variants")
labels = vm_fail.label_names(manifest, _shared.table(root, run_id, "driver_words"))

st.markdown("**Download the adversarial test suite**")
cols = st.columns(len(vm.EXPORT_FORMATS))
for col, fmt in zip(cols, vm.EXPORT_FORMATS):
    file_name, mime = vm.EXPORT_FILES[fmt]
    # built when clicked (then cached), so the page does not wait for four exports of a large run
    col.download_button(fmt, data=functools.partial(suite_bytes, root, run_id, fmt),
                        file_name=f"{run_id}-{file_name}", mime=mime, key=f"v_dl_{fmt}")

c1, c2, c3, c4 = st.columns(4)
kind = c1.selectbox("Kind", [None, "text", "driver"], key="v_kind", format_func=lambda k: k or "any")
flipped = c2.selectbox("Flipped", [None, True, False], key="v_flipped", format_func=lambda v: "any" if v is None else str(v))
constrained = c3.selectbox("Meaning kept (constrained)", [None, True, False], key="v_constrained",
                           format_func=lambda v: "any" if v is None else str(v))
flag = c4.selectbox("Meaning flag", [None, *vm.meaning_flags(variants)], key="v_flag", format_func=lambda f: f or "any")
query = st.text_input("Search text", key="v_query")
selected = vm.filter_variants(variants, vm.VariantFilter(kind=kind, flipped=flipped, constrained=constrained,
                                                         meaning_flag=flag, query=query))
st.markdown(f"**{len(selected)}** of {len(variants)} variants match.")
if selected.empty:
    st.stop()
page_size = 10
n_pages = vm_fail.paginate(selected, page=1, page_size=page_size).n_pages
number = st.number_input("Page", min_value=1, max_value=n_pages, value=1, key="v_page") if n_pages > 1 else 1
page = vm_fail.paginate(selected, page=int(number), page_size=page_size)
st.caption(f"Page {page.number} of {page.n_pages}")

for row in page.frame.to_dict(orient="records"):
    swaps = vm.parse_swaps(row.get("swaps"))
    original, variant = vm.variant_pair_html(str(row["original"]), str(row["variant"]), swaps)
    before = vm_fail.label_text(row["pred_before"], labels)
    after = vm_fail.label_text(row["pred_after"], labels)
    flags = ", ".join(str(f) for f in (row.get("meaning_flags") if row.get("meaning_flags") is not None else []))
    with st.container(border=True):
        st.markdown(
            f"{'**flipped**' if row['flipped'] else 'not flipped'} · {before} → {after} · "
            f"{'meaning kept' if row['constrained'] else 'meaning flags: ' + (flags or '?')} · "
            f"{int(row['words_changed'])} word(s) changed · {int(row['queries'])} queries"
        )
        left, right, probs = st.columns([2, 2, 1])
        left.caption("Original")
        left.html(original)
        right.caption("Variant")
        right.html(variant)
        probs.dataframe(vm.probs_frame(row, labels), hide_index=True)
