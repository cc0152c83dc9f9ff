"""Deterministic lowercase word tokenization.

Two jobs, one function:

* SST-2 text is already tokenized (Penn-Treebank style, lowercase).
  :func:`tokenize` must give back exactly ``line.split()`` for it.
* Raw user text ("Schweiger is talented and terribly charismatic, qualities...")
  must be split the way SST was: punctuation and clitics become their own
  tokens (``"doesn't" -> ["does", "n't"]``).

We lowercase, split on whitespace, and run NLTK's ``TreebankWordTokenizer``
(pure regexes, no downloaded data) on each whitespace chunk.  A chunk that is
already a complete PTB token is kept whole even where Treebank would split it
(abbreviations such as ``u.s.`` / ``mr.``, ``gonna``, ``r&b``, ``!?``).  A word
abbreviation (``mr.``, ``no.``) is split off its period when it ends the text,
so ``"The answer is no."`` ends in ``"."``; letter initials (``u.s.``, ``x.``)
stay whole everywhere, as SST writes them (``"jason x."``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.tokenize import TreebankWordTokenizer

__all__ = ["tokenize", "ABBREVIATIONS"]

_TREEBANK = TreebankWordTokenizer()

ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "mr.", "mrs.", "ms.", "dr.", "jr.", "sr.", "st.", "vs.", "no.", "al.", "etc.", "inc.", "co.", "corp.",
        "ltd.", "bros.", "sept.", "jan.", "feb.", "aug.", "oct.", "nov.", "dec.", "wash.", "pa.", "prof.",
        "mt.", "ft.", "vol.", "gen.", "capt.", "col.", "lt.", "sgt.", "rev.", "ph.d.",
    }
)
"""Word-with-period tokens kept whole (SST-2 has them as single tokens)."""

_INITIALS = re.compile(r"^(?:[^\W\d_]\.)+$")  # j.  u.s.  p.o.v.  j.r.r.
_WORD = re.compile(r"^\w+$")  # gonna, wanna (Treebank would split them)
_AMPERSAND = re.compile(r"^\w+(?:&\w+)+$")  # r&b, s&m
_PUNCT_RUN = re.compile(r"^[!?]+$|^\.\.+$")  # !?  ?!?  ...
_KEEP = frozenset({"ol'", "'n'"})


def _is_whole_token(chunk: str, *, last: bool) -> bool:
    if _WORD.match(chunk) or _AMPERSAND.match(chunk) or _PUNCT_RUN.match(chunk) or chunk in _KEEP:
        return True
    if _INITIALS.match(chunk):
        return True  # SST keeps a final "x." (as in "jason x.") whole too
    return chunk in ABBREVIATIONS and not last


@lru_cache(maxsize=65536)
def _split_chunk(chunk: str, last: bool) -> tuple[str, ...]:
    if _is_whole_token(chunk, last=last):
        return (chunk,)
    return tuple(_TREEBANK.tokenize(chunk))


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` (SST-2 lines come back as ``line.split()``)."""
    chunks = text.lower().split()
    out: list[str] = []
    n = len(chunks)
    for i, chunk in enumerate(chunks):
        out.extend(_split_chunk(chunk, i == n - 1))
    return out


def is_punct(token: str) -> bool:
    """A token with no letter or digit (``,``, ``.``, ``--``, ``'``...)."""
    return not any(ch.isalnum() for ch in token)
