"""Sentiment polarity of a word: the opinion lexicon, else its WordNet neighbourhood.

* A word (or one of its lemmas) in the Hu & Liu lexicon has the lexicon's polarity, +1 or -1.
* Otherwise, for adjectives and adverbs (e.g. "tremendous"), the lexicon votes over the WordNet neighbourhood: the
  lemmas of the given synset (the sense chosen in context) or, without one, of all the
  word's synsets for the POS, plus their similar-to sets; a lemma of an antonym votes the
  other way.  Unanimous votes give that polarity, no vote gives 0, opposite votes give
  :data:`MIXED` (its polarity cannot be told: such a word is not swapped).  Nouns and verbs
  missing from the lexicon are neutral.
* :func:`sentiment_axis`: the direction mean(positive words) - mean(negative words) in the
  word-vector space; a word's projection on it grades its strength ("tremendous" 0.29,
  "terrible" -0.17, "funny" 0.15, "laughable" -0.15), so a swap can be held to a small shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audit.nlp import wordnet
from audit.nlp.vectors import WordVectors

MIXED = "mixed"
Polarity = int | str


def lexicon_polarity(word: str, ptb_tag: str, lexicon: Mapping[str, int], *, synset: str | None = None) -> int | None:
    """The lexicon's polarity of ``word`` or of one of its lemmas (with ``synset``: only a lemma
    of that synset counts, so "lay" in the sense *put* is not read as a form of "lie")."""
    w = word.lower()
    if w in lexicon:
        return lexicon[w]
    bases = wordnet.lemmas(w, ptb_tag)
    if synset is not None:
        names = {lem.name().lower() for lem in wordnet._wordnet().synset(synset).lemmas()}
        bases = [b for b in bases if b in names]
    for base in bases:
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
    found = lexicon_polarity(word, ptb_tag, lexicon, synset=synset)
    if found is not None:
        return found
    if not ptb_tag.startswith(("JJ", "RB")):
        return 0  # nouns and verbs: the lexicon only (their neighbourhoods vote on too many senses)
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


def sentiment_axis(vectors: WordVectors, lexicon: Mapping[str, int]) -> np.ndarray:
    """Unit vector mean(positive lexicon words) - mean(negative ones) (cached on ``vectors``)."""
    key = ("sentiment_axis", id(lexicon), len(lexicon))
    if key not in vectors.memo:
        pos = vectors.mean(w for w, p in lexicon.items() if p > 0)
        neg = vectors.mean(w for w, p in lexicon.items() if p < 0)
        if pos is None or neg is None:
            raise ValueError("the opinion lexicon has no word in the vectors")
        axis = pos - neg
        vectors.memo[key] = axis / float(np.linalg.norm(axis))
    return vectors.memo[key]  # type: ignore[return-value]


def strength(word: str, vectors: WordVectors, lexicon: Mapping[str, int]) -> float | None:
    """Projection of ``word``'s vector on :func:`sentiment_axis` (None when it has no vector)."""
    vec = vectors.vector(word)
    return None if vec is None else float(vec @ sentiment_axis(vectors, lexicon))
