"""Applying a word swap to a token list, with the indefinite article adjusted."""

from __future__ import annotations

from collections.abc import Sequence

from audit.nlp import inflection

ARTICLES = frozenset({"a", "an"})


def article_fix(tokens: Sequence[str], position: int, word: str) -> tuple[int, str] | None:
    """``(article position, new article)`` when ``word`` at ``position`` needs the other a/an; else None."""
    if position == 0:
        return None
    prev = tokens[position - 1]
    if prev.lower() not in ARTICLES:
        return None
    want = inflection.article(word)
    if want == prev.lower():
        return None
    return position - 1, (want.capitalize() if prev[:1].isupper() else want)


def apply_swap(tokens: Sequence[str], position: int, word: str, *, adjust_articles: bool = True) -> list[str]:
    """``tokens`` with ``word`` at ``position`` (and "a"/"an" before it adjusted: never "an scrutiny")."""
    out = list(tokens)
    out[position] = word
    if adjust_articles:
        fix = article_fix(tokens, position, word)
        if fix is not None:
            out[fix[0]] = fix[1]
    return out
