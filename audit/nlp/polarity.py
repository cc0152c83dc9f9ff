"""Sentiment polarity of a word: the opinion lexicon, else its WordNet neighbourhood.

* A word (or one of its lemmas) in the Hu & Liu lexicon has the lexicon's polarity, +1 or -1.
* Otherwise (e.g. "tremendous") the lexicon votes over the WordNet neighbourhood: the
  lemmas of the given synset (the sense chosen in context) or, without one, of all the
  word's synsets for the POS, plus their similar-to sets; a lemma of an antonym votes the
  other way.  Unanimous votes give that polarity, no vote gives 0, opposite votes give
  :data:`MIXED` (its polarity cannot be told: such a word is not swapped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.nlp import wordnet

MIXED = "mixed"
Polarity = int | str


def lexicon_polarity(word: str, ptb_tag: str, lexicon: Mapping[str, int]) -> int | None:
    w = word.lower()
    if w in lexicon:
        return lexicon[w]
    for base in wordnet.lemmas(w, ptb_tag):
        if base in lexicon:
            return lexicon[base]
    return None


def _votes(synsets: list[Any], lexicon: Mapping[str, int], skip: set[str]) -> set[int]:
    votes: set[int] = set()
    for s in synsets:
        for rel in (s, *s.similar_tos()):
            for lem in rel.lemmas():
                name = lem.name().lower()
                if name not in skip and name in lexicon:
                    votes.add(lexicon[name])
                for ant in lem.antonyms():
                    if ant.name().lower() in lexicon:
                        votes.add(-lexicon[ant.name().lower()])
    return votes


def polarity(word: str, ptb_tag: str, lexicon: Mapping[str, int], *, synset: str | None = None) -> Polarity:
    """+1, -1, 0 or :data:`MIXED` (see the module docstring)."""
    found = lexicon_polarity(word, ptb_tag, lexicon)
    if found is not None:
        return found
    wn = wordnet._wordnet()
    pos = wordnet.wordnet_pos(ptb_tag)
    if synset is not None:
        synsets = [wn.synset(synset)]
    elif pos is not None:
        synsets = [s for base in wordnet.lemmas(word, ptb_tag) for s in wordnet._synsets(base, pos)]
    else:
        return 0
    votes = _votes(synsets, lexicon, {word.lower()})
    if not votes:
        return 0
    return votes.pop() if len(votes) == 1 else MIXED
