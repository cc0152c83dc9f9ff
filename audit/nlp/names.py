"""Names in lower-cased text ("dickens", "mcgrath"): which tokens are proper nouns.

SST-2 is lower-cased, so capitalisation says nothing.  A token counts as a name when

1. WordNet knows it only as a proper noun: every synset of it is an instance synset
   (``Dickens`` is an instance of *writer*) or every lemma spelt like it is capitalised; or
2. WordNet has a capitalised lemma spelt like it, its common senses are not dominant in
   SemCor (lower-case count < ``5 * (capitalised count + 1)``: "hope" and "mark" pass,
   "dickens" does not), and NLTK's tagger tags a truecased copy of the sentence (that
   token capitalised) ``NNP``/``NNPS``.

Tokens WordNet does not know get no WordNet synonyms anyway.

Words in a title count too (since round 8): a person noun right before a name is a title ("writer john
ridley", "director peter o'fallon": "author john ridley" is not how a credit reads), and a noun right
before a sequel numeral is part of a film title ("spy kids 2").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from audit.nlp import wordnet

Tagger = Callable[[Sequence[str]], list[str]]
DOMINANCE = 5


@lru_cache(maxsize=65536)
def wordnet_name_kind(word: str) -> tuple[str, int, int]:
    """``(kind, lower-case SemCor count, capitalised count)``; kind is ``proper_only``,
    ``both``, ``common`` or ``unknown``."""
    wn = wordnet._wordnet()
    w = word.lower()
    synsets = wn.synsets(w)
    if not synsets:
        return "unknown", 0, 0
    low = cap = 0
    has_cap = has_low_common = False
    for s in synsets:
        instance = bool(s.instance_hypernyms())
        for lem in s.lemmas():
            if lem.name().lower() != w:
                continue
            if lem.name()[:1].isupper() or instance:
                has_cap = True
                cap += int(lem.count())
            else:
                has_low_common = True
                low += int(lem.count())
    if has_cap and not has_low_common:
        return "proper_only", low, cap
    return ("both" if has_cap else "common"), low, cap


SEQUEL_NUMERALS = frozenset({"2", "3", "4", "5", "6", "ii", "iii", "iv"})
"""Numerals that follow a film title ("spy kids 2", "rocky iii")."""


@lru_cache(maxsize=65536)
def person_noun(word: str) -> bool:
    """Whether the most frequent WordNet noun sense of ``word`` is a person ("writer", "director")."""
    synsets = wordnet._synsets(word.lower(), "n")
    return bool(synsets) and synsets[0].lexname() == "noun.person"


def name_reason(tokens: Sequence[str], position: int, *, tagger: Tagger) -> str | None:
    """Why ``tokens[position]`` is a name or part of a title (None when it is not)."""
    reason = _proper_reason(tokens, position, tagger=tagger)
    if reason is not None:
        return reason
    nxt = tokens[position + 1].lower() if position + 1 < len(tokens) else ""
    if nxt in SEQUEL_NUMERALS:
        return f"before the sequel numeral {nxt!r}: part of a title"
    if nxt and person_noun(tokens[position]) and _proper_reason(tokens, position + 1, tagger=tagger) is not None:
        return f"a person noun before the name {nxt!r}: a title"
    return None


def _proper_reason(tokens: Sequence[str], position: int, *, tagger: Tagger) -> str | None:
    word = tokens[position].lower()
    kind, low, cap = wordnet_name_kind(word)
    if kind == "proper_only":
        return "proper noun only in WordNet"
    if kind != "both" or low >= DOMINANCE * (cap + 1):
        return None
    truecased = [t[:1].upper() + t[1:] if i == position or i == 0 else t for i, t in enumerate(tokens)]
    tag = tagger(truecased)[position]
    if tag in ("NNP", "NNPS"):
        return f"tagged {tag} when truecased (WordNet has a capitalised lemma)"
    return None
