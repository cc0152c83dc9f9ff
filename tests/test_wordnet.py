"""WordNet synonyms by POS and inflection (audit.nlp.wordnet). Uses the shared NLTK data."""

from __future__ import annotations

import pytest

from audit.nlp import wordnet


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("JJ", "a"), ("JJS", "a"), ("RB", "r"), ("RBR", "r"), ("NN", "n"), ("NNS", "n"), ("VBD", "v"), ("DT", None), ("IN", None)],
)
def test_wordnet_pos(tag: str, expected: str | None) -> None:
    assert wordnet.wordnet_pos(tag) == expected


@pytest.mark.parametrize(
    ("lemma", "tag", "form"),
    [
        ("film", "NNS", "films"),
        ("box", "NNS", "boxes"),
        ("comedy", "NNS", "comedies"),
        ("child", "NNS", "children"),
        ("gentleman", "NNS", "gentlemen"),
        ("human", "NNS", "humans"),
        ("go", "VBD", "went"),
        ("go", "VBN", "gone"),
        ("run", "VBD", "ran"),
        ("run", "VBN", "run"),
        ("stop", "VBD", "stopped"),
        ("visit", "VBD", "visited"),
        ("read", "VBD", "read"),
        ("make", "VBG", "making"),
        ("see", "VBG", "seeing"),
        ("watch", "VBZ", "watches"),
        ("cry", "VBZ", "cries"),
        ("have", "VBZ", "has"),
        ("large", "JJR", "larger"),
        ("big", "JJR", "bigger"),
        ("good", "JJS", "best"),
        ("well", "RBR", "better"),
        ("film", "NN", "film"),
    ],
)
def test_inflect(lemma: str, tag: str, form: str) -> None:
    assert wordnet.inflect(lemma, tag) == form


@pytest.mark.parametrize(
    ("lemma", "tag"),
    [("beautiful", "JJR"), ("grown", "JJR"), ("be", "VBD"), ("hands", "NNS"), ("film", "NNP"), ("film", "DT")],
)
def test_inflect_drops_what_it_cannot_produce(lemma: str, tag: str) -> None:
    assert wordnet.inflect(lemma, tag) is None


def test_plural_noun_gets_plural_synonyms() -> None:
    syns = wordnet.synonyms("movies", "NNS")
    assert "films" in syns and "flicks" in syns
    assert "film" not in syns and "movies" not in syns


def test_past_tense_verb() -> None:
    syns = wordnet.synonyms("ran", "VBD")
    assert "went" in syns and "escaped" in syns
    assert not any(s.endswith("runned") or s == "ran" for s in syns)
    assert "gone" in wordnet.synonyms("ran", "VBN") or "gone" in wordnet.synonyms("run", "VBN")


def test_comparative_adjective() -> None:
    syns = wordnet.synonyms("bigger", "JJR")
    assert "larger" in syns and "greater" in syns
    assert all(s.endswith("er") for s in wordnet.synonyms("better", "JJR"))


def test_terribly_plain_wordnet_has_no_extremely() -> None:
    syns = wordnet.synonyms("terribly", "RB")
    assert "awfully" in syns and "frightfully" in syns
    assert "extremely" not in syns and "very" not in syns


def test_terribly_intensifier_expansion_gives_extremely_and_very() -> None:
    syns = wordnet.synonyms("terribly", "RB", expand_intensifiers=True)
    assert "extremely" in syns and "very" in syns
    # the expansion only applies to intensifier senses: a plain noun is unchanged
    assert wordnet.synonyms("movies", "NNS", expand_intensifiers=True) == wordnet.synonyms("movies", "NNS")


def test_single_word_lowercase_lemmas_only() -> None:
    for word, tag in [("movie", "NN"), ("good", "JJ"), ("run", "VB"), ("quickly", "RB")]:
        for s in wordnet.synonyms(word, tag):
            assert "_" not in s and " " not in s and s == s.lower() and s != word


def test_case_is_kept() -> None:
    assert wordnet.synonyms("Movies", "NNS")[:2] == ["Films", "Pictures"]


def test_synonym_senses_rank() -> None:
    senses = dict(wordnet.synonym_senses("terribly", "RB"))
    assert senses["awfully"] == 0 and senses["atrociously"] == 1


def test_antonyms_include_similar_to_sets() -> None:
    assert "bad" in wordnet.antonyms("good", "JJ")
    # "fantastic" is a satellite: its antonyms come only through its similar-to head
    assert "real" in wordnet.antonyms("fantastic", "JJ")
    assert wordnet.antonyms("the", "DT") == frozenset()


def test_synonyms_restricted_to_frequent_senses() -> None:
    every = wordnet.synonyms("terribly", "RB")
    top1 = wordnet.synonyms("terribly", "RB", max_sense_rank=1)
    assert "atrociously" in every and "atrociously" not in top1  # rank-1 sense only
    assert "awfully" in top1 and set(top1) <= set(every)
    top2 = wordnet.synonyms("terribly", "RB", max_sense_rank=2)
    assert top2 == every[: len(top2)]  # WordNet order: the top senses' synonyms come first
