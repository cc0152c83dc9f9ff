"""Adversarial variants: strict-valid breaks first; original vs variant, swaps highlighted, validity evidence."""

from __future__ import annotations

import functools
import html

import streamlit as st

from app_pages import _shared
from audit.dashboard import failures as vm_fail
from audit.dashboard import links
from audit.dashboard import variants as vm


@st.cache_data(show_spinner=False, max_entries=32)
def suite_bytes(root: str, run_id: str, fmt: str, recipe: str) -> bytes:
    return vm.suite_bytes(_shared.store(root).get(run_id), fmt, recipe=recipe)


ANY = "any"


def yes_no(value: object) -> str:
    return ANY if value is None else ("yes" if value else "no")


st.title("Adversarial variants")
root, run_id, manifest = _shared.require_run()
variants = _shared.require_table(root, run_id, "variants")
labels = _shared.labels(root, run_id)
wanted = _shared.selection()
validity = vm.has_validity(variants)
default = vm.default_filter(variants)


def preset(**values: object) -> None:
    """Set filter widgets; None (any) is the widgets' default, so it is set by removing the key."""
    for key, value in values.items():
        if value is None:
            st.session_state.pop(key, None)
        else:
            st.session_state[key] = value


if wanted.example:  # a link to one text's variants: all of them, whatever their verdict
    preset(v_direction=None, v_valid=None, v_flipped=None, v_constrained=None)
elif not st.session_state.get("v_opened"):  # first visit: open on strict-valid breaks
    st.session_state["v_opened"] = True
    preset(v_direction=default.direction, v_valid=default.valid, v_flipped=default.flipped,
           v_constrained=default.constrained)

recipe = vm.suite_recipe(variants)
st.markdown("**Download the adversarial test suite**" + (" (strict-valid breaks)" if recipe == "strict" else
            " (loose recipe: this run has no validity evidence)"))
cols = st.columns(len(vm.EXPORT_FORMATS))
for col, fmt in zip(cols, vm.EXPORT_FORMATS):
    file_name, mime = vm.EXPORT_FILES[fmt]
    # built when clicked (then cached), so the page does not wait for four exports of a large run
    col.download_button(fmt, data=functools.partial(suite_bytes, root, run_id, fmt, recipe),
                        file_name=f"{run_id}-{file_name}", mime=mime, key=f"v_dl_{fmt}")

if validity:
    st.caption("Opens on strict-valid breaks: swaps that passed every blocking check of the strict recipe and "
               "made a correct prediction wrong. Fixes (a wrong prediction made right) are listed apart.")
else:
    st.caption("This run has no validity verdicts (made with an older version): it opens on verified flips "
               "without a meaning flag that broke a correct prediction.")
c1, c2, c3, c4, c5 = st.columns(5)
direction = c1.selectbox("Direction", [None, *vm.DIRECTIONS], key="v_direction",
                         format_func=lambda d: ANY if d is None else vm.DIRECTIONS[d])
valid = c2.selectbox("Strict-valid", [None, True, False], key="v_valid", format_func=yes_no,
                     disabled=not validity, help="Passed every blocking check of the strict recipe")
flipped = c3.selectbox("Flipped", [None, True, False], key="v_flipped", format_func=yes_no)
constrained = c4.selectbox("Meaning kept (no flag)", [None, True, False], key="v_constrained", format_func=yes_no)
kind = c5.selectbox("Kind", [None, "text", "driver"], key="v_kind", format_func=lambda k: k or ANY)
c6, c7 = st.columns([1, 2])
flag = c6.selectbox("Meaning flag", [None, *vm.meaning_flags(variants)], key="v_flag", format_func=lambda f: f or ANY)
_shared.apply("v_query", wanted.word)
query = c7.text_input("Swapped word or text", key="v_query")
example = _shared.sticky("v_example", wanted.example)
if example:
    st.info(f"Showing the variants of {example[0]} #{example[1]} only.")
    if st.button("Show the variants of every text", key="v_all"):
        st.session_state["v_example"] = example = None
flt = vm.VariantFilter(kind=kind, flipped=flipped, constrained=constrained, meaning_flag=flag,
                       valid=valid if validity else None, direction=direction, example=example)
selected = vm.filter_variants(variants, flt)
if query.strip():  # a swapped word (exact) or any text containing it
    by_word = vm.filter_variants(selected, vm.VariantFilter(word=query.strip()))
    selected = by_word if not by_word.empty else vm.filter_variants(selected, vm.VariantFilter(query=query))
_shared.write_params(links.Selection(run=run_id, word=query.strip() or None, example=example))
st.markdown(f"**{len(selected)}** of {len(vm.dedupe_pairs(variants))} variants match.")
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
    gold = vm_fail.label_text(row["gold"], labels)
    before = vm_fail.label_text(row["pred_before"], labels)
    after = vm_fail.label_text(row["pred_after"], labels)
    flags = ", ".join(str(f) for f in (row.get("meaning_flags") if row.get("meaning_flags") is not None else []))
    verdict = ""
    if validity:
        verdict = "strict-valid" if row.get("valid") else "not valid (failed a blocking check)"
    with st.container(border=True):
        st.html(
            f"<div><b>{html.escape(str(row['dataset']))} #{int(row['example_id'])}</b> · gold <b>{html.escape(gold)}</b> · "
            + (html.escape(vm.DIRECTIONS.get(str(row["direction"]), str(row["direction"]))) if row["flipped"]
               else f"{html.escape(str(row['direction']))} attempt") + " · "
            + f"{'<b>flipped</b>' if row['flipped'] else 'not flipped'}: {html.escape(before)} &rarr; {html.escape(after)} · "
            + (f"{html.escape(verdict)} · " if verdict else "")
            + ("meaning kept" if row["constrained"] else "meaning flags: " + html.escape(flags or "?"))
            + f" · {int(row['words_changed'])} word(s) changed · {int(row['queries'])} queries</div>"
        )
        left, right, probs = st.columns([2, 2, 1.3])
        left.caption("Original")
        left.html(original)
        right.caption("Variant")
        right.html(variant)
        with probs:
            _shared.show_table(vm.probs_frame(row, labels), key=f"v_probs_{row['variant_id']}")
        evidence = vm.evidence_frame(row.get("evidence"))
        if not evidence.empty:
            with st.expander("Validity evidence"):
                _shared.show_table(evidence, key=f"v_evidence_{row['variant_id']}")
        st.page_link(_shared.PAGE_FILES["explain"], label="Explain the original", icon=":material/psychology:",
                     query_params={"run": run_id, "example": links.format_example(str(row["dataset"]),
                                                                                   int(row["example_id"]))})
