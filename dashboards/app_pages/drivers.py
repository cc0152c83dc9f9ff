"""Driver words: ranked table; one word's score distribution (Fig. 8), training label counts and texts."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.charts import score_distribution
from audit.dashboard import drivers as vm
from audit.dashboard.html import text_block

st.title("Driver words")
root, run_id, manifest = _shared.require_run()
drivers = _shared.require_table(root, run_id, "driver_words")

c1, c2 = st.columns([2, 1])
query = c1.text_input("Filter words", key="d_query")
min_errors = c2.number_input("Min. errors containing the word", min_value=0, value=0, step=1, key="d_min_errors")
table = vm.driver_table(drivers, query=query, min_errors=int(min_errors))
st.caption("Words that most often make the top contribution to a misclassification (REAT score toward the wrong class).")
st.dataframe(table, hide_index=True, width="stretch")
if table.empty:
    st.stop()

words = list(table["word"].astype(str))
word = st.selectbox("Word", words, key="d_word")
compare = st.multiselect("Compare with", [w for w in words if w != word], key="d_compare", max_selections=3)
row = table[table["word"].astype(str) == word].iloc[0]

tokens = _shared.table(root, run_id, "token_attributions")
preds = _shared.table(root, run_id, "predictions")
left, right = st.columns([2, 1])
if tokens is not None:
    column = left.radio("Score toward", ("score_gold", "score_pred"), horizontal=True, key="d_column",
                        format_func=lambda c: "true class" if c == "score_gold" else "predicted class")
    scores = {w: vm.word_scores(tokens, w, column=column) for w in [word, *compare]}
    left.altair_chart(score_distribution(scores, title=f"REAT scores of {word!r} across the dataset"), width="stretch")
    left.text(" · ".join(f"{w}: {len(s)} occurrences" for w, s in scores.items()))  # plain text: words are data
counts = vm.train_label_counts(row.to_dict())
right.markdown("**Training-set label counts**")
if counts.empty:
    right.caption("Not recorded for this run.")
else:
    right.dataframe(counts, hide_index=True, width="stretch")

if tokens is not None and preds is not None:
    st.subheader("Texts containing the word")
    errors_only = st.toggle("Only misclassified texts", key="d_errors_only")
    texts = vm.texts_with_word(preds, tokens, word, errors_only=errors_only, limit=50)
    st.caption(f"{len(texts)} text(s) shown (at most 50), misclassified first.")
    for r in texts.head(10).itertuples():
        st.html(text_block(f"[{'ok' if r.correct else 'wrong'}, score {r.word_score_pred:+.3f}] {r.text}"))
    if len(texts) > 10:
        st.dataframe(texts.iloc[10:], hide_index=True, width="stretch")
