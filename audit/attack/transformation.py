"""Transformations: where a word may go. Pure functions of their inputs."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Mapping, Sequence

from audit.nlp import wordnet

SynonymSource = Callable[..., list[str]]
_PLAIN_WORD = re.compile(r"^[A-Za-z][A-Za-z'-]*$")


class Transformation(ABC):
    """Proposes replacement words for one position of a tokenized text.

    Implementations must be deterministic, never return the word at
    ``position`` itself, and keep no state between calls.
    """

    name: str = "transformation"

    @abstractmethod
    def candidates(self, tokens: Sequence[str], tags: Sequence[str], position: int) -> list[str]:
        """Replacement words for ``tokens[position]`` (PTB tag ``tags[position]``), best first."""


def symmetric_pairs(extra: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Make declared synonym pairs symmetric: ``{"terribly": ["extremely"]}`` also maps extremely -> terribly."""
    out: dict[str, list[str]] = {}
    for word, syns in extra.items():
        w = word.lower()
        for syn in syns:
            s = syn.lower()
            if s == w:
                continue
            out.setdefault(w, [])
            out.setdefault(s, [])
            if s not in out[w]:
                out[w].append(s)
            if w not in out[s]:
                out[s].append(w)
    return {k: tuple(v) for k, v in out.items()}


class WordNetSwap(Transformation):
    """Same-POS WordNet synonyms, inflected like the original (see :mod:`audit.nlp.wordnet`).

    Options (keyword-only): ``vocab`` restricts candidates to in-vocabulary
    words; ``max_candidates`` caps the list (WordNet order: most frequent sense
    first); ``expand_intensifiers`` adds sibling intensifier adverbs
    (terribly -> extremely, very ...); ``extra_synonyms`` declares pairs used
    as given (symmetric, not inflected, any POS), listed before WordNet's;
    ``max_sense_rank`` keeps only WordNet synonyms that come through one of the
    original's ``max_sense_rank`` most frequent senses (declared pairs are kept).
    """

    name = "wordnet_swap"

    def __init__(
        self,
        *,
        vocab: Container[str] | None = None,
        max_candidates: int | None = None,
        expand_intensifiers: bool = False,
        extra_synonyms: Mapping[str, Sequence[str]] | None = None,
        max_sense_rank: int | None = None,
    ) -> None:
        self.vocab = vocab
        self.max_sense_rank = max_sense_rank
        self.max_candidates = max_candidates
        self.expand_intensifiers = expand_intensifiers
        self.extra = symmetric_pairs(extra_synonyms or {})

    def candidates(self, tokens: Sequence[str], tags: Sequence[str], position: int) -> list[str]:
        word = tokens[position]
        lower = word.lower()
        if not _PLAIN_WORD.match(word):
            return []  # clitics and symbols ("'ve", "n't", "'s", "-lrb-") are not words to swap
        found = list(self.extra.get(lower, ()))
        found += wordnet.synonyms(
            word, tags[position], expand_intensifiers=self.expand_intensifiers, max_sense_rank=self.max_sense_rank
        )
        out: list[str] = []
        for cand in found:
            if cand.lower() == lower or cand in out:
                continue
            if self.vocab is not None and cand.lower() not in self.vocab and cand not in self.vocab:
                continue
            out.append(cand)
        return out[: self.max_candidates] if self.max_candidates is not None else out
