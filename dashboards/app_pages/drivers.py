"""Driver words: confirmed drivers with their evidence first; one word's scores (Fig. 8), flip rates and texts."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.charts import score_distribution
from audit.dashboard import drivers as vm
from audit.dashboard import findings, links
from audit.dashboard.html import SIGN_TITLES, highlight_word

st.title("Driver words")
root, run_id, manifest = _shared.require_run()
drivers = _shared.table(root, run_id, "driver_words")
stats = _shared.table(root, run_id, "driver_stats")
if drivers is None and stats is None:
    _shared.require_table(root, run_id, "driver_words")  # says the stage was not run, stops
wanted = _shared.selection()

c1, c2, c3 = st.columns([2, 1, 1])
query = c1.text_input("Filter words", key="d_query")
if stats is not None and "confirmed" in stats:
    scope = c2.selectbox("Scope", findings.scopes(stats), key="d_scope", format_func=lambda s: "all datasets" if s == "all" else s)
    kind = c3.radio("Unit", ("word", "phrase"), horizontal=True, key="d_kind")
    message = findings.headline(stats, scope=scope, kind=kind)
    (st.success if findings.n_confirmed(stats, scope=scope, kind=kind) else st.info)(message)
    candidates = st.toggle("Show unconfirmed candidates too", key="d_candidates",
                           help="Units that did not pass the tests (or had too little support): noise until confirmed")
    table = findings.stats_view(stats, scope=scope, kind=kind, show_candidates=candidates, query=query)
    words = list(table["unit"].astype(str))
    key_column = "unit"
else:
    st.info(findings.NO_STATS_MESSAGE)
    assert drivers is not None
    min_errors = c2.number_input("Min. errors containing the word", min_value=0, value=0, step=1, key="d_min_errors")
    table = vm.driver_table(drivers, query=query, min_errors=int(min_errors))
    st.caption("Words that most often make the top contribution to a misclassification "
               "(REAT score toward the wrong, predicted class). Not tested: frequent words rank high by chance.")
    words = list(table["word"].astype(str))
    key_column = "word"
shown = table.assign(
    failures=[links.page_url("failures", run=run_id, word=w) for w in words],
    variants=[links.page_url("variants", run=run_id, word=w) for w in words],
    details=[links.page_url("drivers", run=run_id, word=w) for w in words],
)
lead = [c for c in ("rank", key_column, "failures", "variants", "details") if c in shown.columns]
shown = shown.loc[:, lead + [c for c in shown.columns if c not in lead]]  # links on screen, next to the word
if shown.empty and stats is not None and "confirmed" in stats and not st.session_state.get("d_candidates"):
    n_tested = len(findings.stats_view(stats, scope=scope, kind=kind, show_candidates=True))
    st.caption(f"{n_tested} candidate(s) were tested; turn on 'Show unconfirmed candidates too' to browse them "
               "(noise until confirmed).")
else:
    _shared.show_table(shown, key="d_table", link_columns={"failures": "failures", "variants": "variants",
                                                         "details": "flip rates"})

if wanted.word and wanted.word not in words:
    words = [wanted.word, *words]  # a linked word outside the current list is still shown
if not words:
    _shared.write_params(links.Selection(run=run_id))
    st.stop()
_shared.apply("d_word", wanted.word)
word = st.selectbox("Word", words, key="d_word")
_shared.write_params(links.Selection(run=run_id, word=word))
l1, l2 = st.columns(2)
l1.page_link(_shared.PAGE_FILES["failures"], label=f"Failures containing {word!r}", icon=":material/error:",
             query_params={"run": run_id, "word": word})
l2.page_link(_shared.PAGE_FILES["variants"], label=f"Variants swapping {word!r}", icon=":material/swap_horiz:",
             query_params={"run": run_id, "word": word})
compare = st.multiselect("Compare with", [w for w in words if w != word], key="d_compare", max_selections=3)

tokens = _shared.table(root, run_id, "token_attributions")
preds = _shared.table(root, run_id, "predictions")
left, right = st.columns([2, 1])
sign = _shared.sign()
if tokens is not None:
    column = vm.score_column(sign)
    scores = {w: vm.word_scores(tokens, w, column=column) for w in [word, *compare]}
    left.altair_chart(score_distribution(scores, title=f"REAT scores of {word!r} across the dataset",
                                         x_title=f"REAT score {SIGN_TITLES[sign]}"), width="stretch")
    left.text(" · ".join(f"{w}: {len(s)} occurrences" for w, s in scores.items()))  # plain text: words are data
row = drivers[drivers["word"].astype(str) == word] if drivers is not None else None
counts = vm.train_label_counts(row.iloc[0].to_dict()) if row is not None and not row.empty else None
right.markdown("**Training-set label counts**")
if row is None or row.empty:
    right.caption(f"{word!r} is not in this run's driver-word table.")
elif counts is None or counts.empty:
    right.caption("Not recorded for this run.")
else:
    with right:
        _shared.show_table(counts, key="d_counts")
right.markdown("**Flip rates** (swapping the word)")
flips = vm.flip_rates_for(_shared.table(root, run_id, "driver_flip_rates"), word)
with right:
    if flips is None:
        st.caption("This run has no flip-rate table.")
    elif flips.empty:
        st.caption("No swap of this word was measured.")
    else:
        _shared.show_table(flips, key="d_flips")

if tokens is not None and preds is not None:
    st.subheader("Texts containing the word")
    errors_only = st.toggle("Only misclassified texts", key="d_errors_only")
    texts = vm.texts_with_word(preds, tokens, word, errors_only=errors_only, limit=50)
    st.caption(f"{len(texts)} text(s) shown (at most 50), misclassified first; "
               f"the score is the word's, {SIGN_TITLES['pred']}.")
    for r in texts.head(10).itertuples():
        st.html(f'<div style="margin:4px 0"><b>[{"ok" if r.correct else "wrong"}, score {r.word_score_pred:+.3f}]</b> '
                + highlight_word(str(r.text), word) + "</div>")
    if len(texts) > 10:
        _shared.show_table(_shared.named(texts.iloc[10:], _shared.labels(root, run_id)), key="d_texts")
