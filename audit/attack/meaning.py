"""Meaning-change flags for a swap (the loose recipe's labels). They mark a variant; they never block it.

The strict recipe's blocking checks live in :mod:`audit.attack.strict`; these flags are
kept for the loose recipe (raw stress tests) and the ``meaning_flags`` column.

* ``antonym``: the candidate is a WordNet antonym of a sense of the original
  (or of one of its similar-to sets);
* ``sense_mismatch``: the candidate shares none of the original's ``top_k``
  most frequent senses (it comes only through a rare sense) or no WordNet
  sense at all (e.g. a declared extra synonym is exempt: see below);
* ``sentiment_flip``: the Hu & Liu opinion lexicon puts original and
  candidate on opposite sides.

Declared ``extra_synonyms`` pairs are trusted: they are not sense-checked,
but antonym and sentiment checks still apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from audit.attack import _nlp
from audit.attack.transformation import symmetric_pairs
from audit.nlp import wordnet

FLAGS: tuple[str, ...] = ("antonym", "sense_mismatch", "sentiment_flip")


class MeaningFlagger:
    """Flags meaning changes of single-word swaps (pure; lexicons loaded lazily)."""

    def __init__(
        self,
        *,
        top_k: int = 2,
        expand_intensifiers: bool = False,
        extra_synonyms: Mapping[str, Sequence[str]] | None = None,
        lexicon: Mapping[str, int] | None = None,
    ) -> None:
        self.top_k = top_k
        self.expand_intensifiers = expand_intensifiers
        self.extra = symmetric_pairs(extra_synonyms or {})
        self._lexicon = lexicon

    def _polarity(self, word: str, tag: str) -> int:
        lex = self._lexicon if self._lexicon is not None else _nlp.opinion_lexicon()
        w = word.lower()
        if w in lex:
            return lex[w]
        for base in wordnet.lemmas(w, tag):
            if base in lex:
                return lex[base]
        return 0

    def _candidate_lemmas(self, candidate: str, tag: str) -> set[str]:
        c = candidate.lower()
        return set(wordnet.lemmas(c, tag)) | {c}

    def flags(self, original: str, candidate: str, ptb_tag: str) -> list[str]:
        """Flags (subset of :data:`FLAGS`, in that order) for replacing ``original`` by ``candidate``."""
        o, c = original.lower(), candidate.lower()
        out: list[str] = []
        cand_lemmas = self._candidate_lemmas(c, ptb_tag)
        if cand_lemmas & wordnet.antonyms(o, ptb_tag):
            out.append("antonym")
        if c not in self.extra.get(o, ()):
            senses = dict(wordnet.synonym_senses(o, ptb_tag, expand_intensifiers=self.expand_intensifiers))
            ranks = [senses[lem] for lem in cand_lemmas if lem in senses]
            if not ranks or min(ranks) >= self.top_k:
                out.append("sense_mismatch")
        po, pc = self._polarity(o, ptb_tag), self._polarity(c, ptb_tag)
        if po * pc < 0:
            out.append("sentiment_flip")
        return out
