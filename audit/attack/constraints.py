"""Constraints: which positions may change and which candidates are acceptable.

A :class:`Constraint` answers two questions, both pure functions of a
:class:`SwapContext`: may ``ctx.position`` be modified at all
(:meth:`Constraint.allows_position`), and which of a list of candidate words
are acceptable there (:meth:`Constraint.filter`, order kept).  The meaning
checks that should *not* block a swap live in :mod:`audit.attack.meaning`.
"""

from __future__ import annotations

import math
from abc import ABC
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from audit.attack import _nlp
from audit.errors import ConfigError


@dataclass(frozen=True)
class SwapContext:
    """The text being attacked, seen from one position."""

    tokens: tuple[str, ...]
    """Current text (after earlier swaps)."""
    tags: tuple[str, ...]
    """PTB tags of ``tokens``."""
    position: int
    original: tuple[str, ...] = ()
    """The text before any swap (defaults to ``tokens``)."""
    modified: frozenset[int] = frozenset()
    raw_tokens: tuple[str, ...] | None = None
    """Same tokens in their original casing, when known (for entity detection)."""

    @property
    def word(self) -> str:
        return self.tokens[self.position]

    @property
    def original_tokens(self) -> tuple[str, ...]:
        return self.original or self.tokens


class Constraint(ABC):  # noqa: B024 - every check has an allow-all default; subclasses override some
    """Base class; both checks allow everything unless overridden."""

    name: str = "constraint"
    lazy: bool = False
    """A costly per-candidate check: the search applies it only to candidates it is about to send,
    after the cheap ones and the ordering (same result, fewer checks).  Its filter must judge each
    candidate on its own."""

    def allows_position(self, ctx: SwapContext) -> bool:
        return True

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        return list(candidates)


class StopwordConstraint(Constraint):
    """Never modify a stopword (NLTK English list unless ``stopwords`` is given)."""

    name = "stopwords"

    def __init__(self, *, stopwords: Collection[str] | None = None) -> None:
        self._stopwords = frozenset(w.lower() for w in stopwords) if stopwords is not None else None

    @property
    def stopwords(self) -> frozenset[str]:
        return self._stopwords if self._stopwords is not None else _nlp.stopwords()

    def allows_position(self, ctx: SwapContext) -> bool:
        return ctx.word.lower() not in self.stopwords

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        return [c for c in candidates if c.lower() not in self.stopwords]


class EntityConstraint(Constraint):
    """Never modify a named entity: NNP/NNPS tags, or a token capitalized mid-sentence in the raw text."""

    name = "entities"

    def allows_position(self, ctx: SwapContext) -> bool:
        if ctx.tags[ctx.position] in ("NNP", "NNPS"):
            return False
        raw = ctx.raw_tokens
        if raw is None or ctx.position >= len(raw) or ctx.position == 0:
            return True
        word, prev = raw[ctx.position], raw[ctx.position - 1]
        sentence_start = prev in (".", "!", "?", ":", '"', "``", "''", "--")
        return sentence_start or word == "I" or not word[:1].isupper()


class PosMatchConstraint(Constraint):
    """Re-tag each variant; keep a candidate only if its universal tag at the position is unchanged."""

    name = "pos_match"
    lazy = True  # re-tags a whole sentence per candidate

    def __init__(
        self,
        *,
        tagger: Callable[[Sequence[str]], list[str]] | None = None,
        to_universal: Callable[[str], str] | None = None,
    ) -> None:
        self._tagger = tagger
        self._universal = to_universal

    def _tag(self, tokens: Sequence[str]) -> list[str]:
        return self._tagger(tokens) if self._tagger is not None else _nlp.tag(tokens)

    def _upos(self, ptb: str) -> str:
        return self._universal(ptb) if self._universal is not None else _nlp.universal(ptb)

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        want = self._upos(ctx.tags[ctx.position])
        out: list[str] = []
        for cand in candidates:
            variant = list(ctx.tokens)
            variant[ctx.position] = cand
            if self._upos(self._tag(variant)[ctx.position]) == want:
                out.append(cand)
        return out


class MaxWordsChanged(Constraint):
    """Cap on the number of modified positions: a count, a fraction of the text, or both (the smaller wins).

    A fraction cap is at least one word.
    """

    name = "max_words_changed"

    def __init__(self, *, max_words: int | None = None, max_fraction: float | None = None) -> None:
        if max_words is not None and max_words < 1:
            raise ConfigError("max_words_changed must be >= 1 (or None for no cap)")
        if max_fraction is not None and not 0.0 < max_fraction <= 1.0:
            raise ConfigError("max_fraction must be in (0, 1] (or None for no cap)")
        self.max_words = max_words
        self.max_fraction = max_fraction

    def cap(self, n_tokens: int) -> int:
        caps = [n_tokens]
        if self.max_words is not None:
            caps.append(self.max_words)
        if self.max_fraction is not None:
            caps.append(max(1, math.floor(self.max_fraction * n_tokens)))
        return min(caps)

    def allows_position(self, ctx: SwapContext) -> bool:
        return ctx.position in ctx.modified or len(ctx.modified) < self.cap(len(ctx.tokens))


class NoRepeatModification(Constraint):
    """Never modify a position twice."""

    name = "no_repeat"

    def allows_position(self, ctx: SwapContext) -> bool:
        return ctx.position not in ctx.modified


def apply_filters(
    ctx: SwapContext, candidates: Sequence[str], constraints: Sequence[Constraint], *, lazy: bool | None = None
) -> list[str]:
    """Run the constraints' filters in order (cheap ones should come first).

    ``lazy``: None runs every constraint; False only the cheap ones; True only the lazy ones.
    """
    out = list(candidates)
    for constraint in constraints:
        if lazy is not None and constraint.lazy != lazy:
            continue
        if not out:
            break
        out = constraint.filter(ctx, out)
    return out
