"""Hierarchical attribution: Table 1 phrase chunks, clause splits, segment scores."""

from __future__ import annotations

import numpy as np
import pytest

from audit.attribution import hierarchy
from audit.errors import InputError


def test_paper_example_phrases() -> None:
    tokens = "the movie does n't serve up lot of laughs .".split()
    spans = hierarchy.phrase_spans(tokens)
    assert [" ".join(tokens[s:e]) for s, e in spans] == ["the movie", "does n't serve up", "lot of laughs", "."]


def test_phrase_spans_with_given_tags_follow_table_1() -> None:
    tokens = ["a", "cup", "of", "tea", "and", "cake", "is", "not", "going", "to", "be", "very", "nice"]
    upos = ["DET", "NOUN", "ADP", "NOUN", "CONJ", "NOUN", "VERB", "ADV", "VERB", "PRT", "VERB", "ADV", "ADJ"]
    spans = hierarchy.phrase_spans(tokens, upos=upos)
    assert [" ".join(tokens[s:e]) for s, e in spans] == [
        "a cup of tea and cake",
        "is not going to",  # <VERB>*<ADV>*<PRT>*<VERB>+<PRT>* ends at the particle
        "be",
        "very",
        "nice",
    ]


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("it 's a great movie , but the ending is bad .", ["it 's a great movie ,", "but the ending is bad ."]),
        ("fun ; sad but true", ["fun ;", "sad", "but true"]),
        ("but why", ["but why"]),
        ("good . . !", ["good . . !"]),
        ("great", ["great"]),
    ],
)
def test_clause_spans(text: str, clauses: list[str]) -> None:
    tokens = text.split()
    spans = hierarchy.clause_spans(tokens)
    assert [" ".join(tokens[s:e]) for s, e in spans] == clauses
    assert spans[0][0] == 0 and spans[-1][1] == len(tokens)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_build_levels_cover_the_text_and_sum_scores() -> None:
    tokens = "the movie does n't serve up lot of laughs , but it is fun .".split()
    rng = np.random.default_rng(0)
    scores = rng.normal(size=len(tokens))
    tree = hierarchy.build(tokens, scores)
    assert list(tree.levels) == ["word", "phrase", "clause"]
    for level, segs in tree.levels.items():
        assert segs[0].start == 0 and segs[-1].end == len(tokens), level
        assert all(a.end == b.start for a, b in zip(segs, segs[1:])), level
        assert sum(s.score for s in segs) == pytest.approx(scores.sum()), level
        for s in segs:
            assert s.text == " ".join(tokens[s.start : s.end])
            assert s.score == pytest.approx(scores[s.start : s.end].sum())
    assert [s.text for s in tree["clause"]] == ["the movie does n't serve up lot of laughs ,", "but it is fun ."]
    assert tree.to_dict()["word"][0] == {"text": "the", "start": 0, "end": 1, "score": pytest.approx(scores[0])}


def test_build_word_level_only_needs_no_tagger_and_validates() -> None:
    tree = hierarchy.build(["a", "b"], [1.0, -1.0], levels=("word",))
    assert list(tree.levels) == ["word"]
    with pytest.raises(InputError):
        hierarchy.build(["a", "b"], [1.0], levels=("word",))
    with pytest.raises(InputError):
        hierarchy.build(["a"], [1.0], levels=("sentence",))
    assert hierarchy.phrase_spans([]) == []
