"""The WordNet reader reat-audit loads (audit.nlp._wordnet_reader) holds what NLTK's own reader holds.

The fast reader differs from NLTK's in two ways: no OMW version map, and the index/exception/lexname files
decoded whole instead of line by line.  The second could change what is read, so its tables are compared
with those of a reader that keeps NLTK's file reading (and skips only the OMW map, which builds nothing
the tables hold).  Uses the shared NLTK data."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from nltk.corpus.reader.wordnet import WordNetCorpusReader

from audit.nlp import _wordnet_reader, wordnet


class _NltkFileReading(WordNetCorpusReader):  # type: ignore[misc]
    def map_wn(self, version: str = "wordnet") -> None:
        return None


@pytest.fixture(scope="module")
def readers() -> tuple[Any, Any]:
    fast = wordnet._wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        stock = _NltkFileReading(fast._root, None)
    return fast, stock


def test_the_fast_reader_is_the_one_every_caller_gets(readers: tuple[Any, Any]) -> None:
    fast, _ = readers
    assert isinstance(fast, _wordnet_reader.FastWordNetReader) and wordnet._wordnet() is fast
    assert fast.map30 is None and fast.get_version() == "3.0"


def test_the_fast_reader_reads_the_same_index_exceptions_and_satellites(readers: tuple[Any, Any]) -> None:
    fast, stock = readers
    assert len(fast._lemma_pos_offset_map) > 140_000
    assert fast._lemma_pos_offset_map == stock._lemma_pos_offset_map
    assert fast._exception_map == stock._exception_map
    assert fast.satellite_offsets == stock.satellite_offsets and fast._lexnames == stock._lexnames


def test_the_fast_reader_answers_like_nltk(readers: tuple[Any, Any]) -> None:
    fast, stock = readers
    for word, pos in (("movie", "n"), ("terribly", "r"), ("tell", "v"), ("good", "a")):
        assert [s.name() for s in fast.synsets(word, pos)] == [s.name() for s in stock.synsets(word, pos)]
    dog = fast.synset("dog.n.01")
    assert dog.definition() == stock.synset("dog.n.01").definition()
    assert [lem.count() for lem in dog.lemmas()] == [lem.count() for lem in stock.synset("dog.n.01").lemmas()]
    assert fast.morphy("went", "v") == "go" and fast.morphy("children", "n") == "child"
