"""WordNet synonyms by part of speech, with the original word's inflection kept.

``synonyms("movies", "NNS")`` returns plural synonyms (``films``, ``pictures`` ...),
``synonyms("ran", "VBD")`` past forms, ``synonyms("better", "JJR")`` comparatives.
Lemmas come from ``lemminflect`` (plus NLTK's public ``morphy``), inflected forms
from ``lemminflect``'s lookup tables (:mod:`audit.nlp.inflection`; NLTK's private
``_morphy`` / ``_exception_map`` are not used).  A candidate whose form the tables do
not list is dropped rather than guessed (``beautifuler``), and so are multi-word
forms (``more beautiful``) and forms of ``be``.

WordNet itself does not list ``extremely`` among the synonyms of ``terribly``
(its two senses are ``terribly, awfully, awful, frightfully`` -- "used as
intensifiers" -- and ``terribly, atrociously, ...`` -- "in a terrible manner").
``expand_intensifiers=True`` adds the lemmas of every adverb sense whose gloss
marks it as an intensifier or degree adverb (a gloss heuristic, see
:data:`INTENSIFIER_GLOSS_MARKERS`), which yields ``extremely``, ``very``,
``really`` ... for ``terribly``.  Callers can also declare pairs explicitly
(``audit.attack`` takes an ``extra_synonyms`` mapping).

WordNet is loaded lazily on first use, once per process (about 1.5 s; NLTK's own loader takes ~7 s:
see :mod:`audit.nlp._wordnet_reader`).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from audit.errors import ResourceMissingError
from audit.nlp import inflection

logger = logging.getLogger(__name__)

WN_POS: dict[str, str] = {"JJ": "a", "RB": "r", "NN": "n", "VB": "v"}
"""PTB tag prefix -> WordNet POS (``a`` also covers satellites ``s``)."""

INTENSIFIER_GLOSS_MARKERS: tuple[str, ...] = (
    "used as intensifier",
    "as an intensifier",
    "to an extreme degree",
    "to a high degree",
)
"""Gloss phrases that mark an adverb sense as an intensifier/degree adverb."""

_WORD = re.compile(r"^[a-z][a-z'-]*$")


@lru_cache(maxsize=1)
def _wordnet() -> Any:
    """NLTK's WordNet reader, loaded once per process (:mod:`audit.nlp._wordnet_reader`);
    :class:`ResourceMissingError` (naming ``audit data fetch``) if absent."""
    from audit.nlp import resources

    resources.ensure("wordnet")
    from audit.nlp._wordnet_reader import load_reader

    try:
        return load_reader()
    except LookupError as exc:
        raise ResourceMissingError("NLTK WordNet data is not available", hint="run `audit data fetch`") from exc


def wordnet_pos(ptb_tag: str) -> str | None:
    """WordNet POS for a PTB tag (``JJ*``->a, ``RB*``->r, ``NN*``->n, ``VB*``->v) or None."""
    return WN_POS.get(ptb_tag[:2])


def lemmas(word: str, ptb_tag: str) -> list[str]:
    """WordNet base forms of ``word`` for the tag's POS, most likely first.

    Candidates are lemminflect's lemmas, NLTK's public ``morphy`` and the word itself;
    those WordNet has for the POS are kept (the word itself first when it is a lemma).
    """
    pos = wordnet_pos(ptb_tag)
    if pos is None:
        return []
    wn = _wordnet()
    w = word.lower()
    found: list[str] = []
    for cand in (w, *inflection.lemmas(w, ptb_tag), wn.morphy(w, pos)):
        if cand and cand not in found and _synsets(cand, pos):
            found.append(cand)
    return found


def inflect(lemma: str, ptb_tag: str) -> str | None:
    """Inflect a WordNet lemma like a word tagged ``ptb_tag`` (lemminflect); None when not reliable."""
    return inflection.inflect(lemma, ptb_tag)


def _synsets(lemma: str, pos: str) -> list[Any]:
    wn = _wordnet()
    if pos == "a":
        return [s for s in wn.synsets(lemma) if s.pos() in ("a", "s")]
    return list(wn.synsets(lemma, pos=pos))


@lru_cache(maxsize=65536)
def is_verb(word: str) -> bool:
    """Whether ``word`` (a base form: "laugh", "care") is a WordNet verb lemma."""
    return bool(_synsets(word.lower(), "v"))


def _is_intensifier(synset: Any) -> bool:
    gloss = synset.definition().lower()
    return any(m in gloss for m in INTENSIFIER_GLOSS_MARKERS)


@lru_cache(maxsize=1)
def _intensifier_synsets() -> tuple[Any, ...]:
    wn = _wordnet()
    return tuple(s for s in wn.all_synsets("r") if _is_intensifier(s))


@lru_cache(maxsize=65536)
def synonym_senses(word: str, ptb_tag: str, *, expand_intensifiers: bool = False) -> tuple[tuple[str, int], ...]:
    """``(synonym lemma, rank of the original's sense it comes through)``, in WordNet order.

    Single-word, lowercase lemmas only.  Rank 0 is the original's most frequent
    sense.  With ``expand_intensifiers``, lemmas of other intensifier adverb
    senses count as coming through the original's intensifier sense.
    """
    pos = wordnet_pos(ptb_tag)
    if pos is None:
        return ()
    bases = lemmas(word, ptb_tag)
    if not bases:
        return ()
    out: dict[str, int] = {}
    for base in bases:
        for rank, synset in enumerate(_synsets(base, pos)):
            related = [synset]
            if expand_intensifiers and pos == "r" and _is_intensifier(synset):
                related += [s for s in _intensifier_synsets() if s != synset]
            for s in related:
                for lemma in s.lemmas():
                    name = lemma.name()
                    if name in bases or not _WORD.match(name):
                        continue  # underscores (multiword), capitals (proper nouns), digits
                    out.setdefault(name, rank)
    return tuple(out.items())


def synonyms(
    word: str, ptb_tag: str, *, expand_intensifiers: bool = False, max_sense_rank: int | None = None
) -> list[str]:
    """Same-POS WordNet synonyms of ``word``, inflected like it; never ``word`` itself.

    Keeps the case pattern of ``word`` (all lower, Title or UPPER).  ``max_sense_rank``
    keeps only synonyms that come through one of the original's ``max_sense_rank``
    most frequent senses (rank as in :func:`synonym_senses`).
    """
    w = word.lower()
    out: list[str] = []
    for lemma, rank in synonym_senses(w, ptb_tag, expand_intensifiers=expand_intensifiers):
        if max_sense_rank is not None and rank >= max_sense_rank:
            continue
        form = inflect(lemma, ptb_tag)
        if form is None or form == w or form in out:
            continue
        out.append(form)
    return [_match_case(word, f) for f in out]


def _match_case(original: str, form: str) -> str:
    if original.isupper() and len(original) > 1:
        return form.upper()
    if original[:1].isupper():
        return form[:1].upper() + form[1:]
    return form


@lru_cache(maxsize=65536)
def antonyms(word: str, ptb_tag: str) -> frozenset[str]:
    """Lemmas that are WordNet antonyms of any sense of ``word`` or of its similar-to sets."""
    pos = wordnet_pos(ptb_tag)
    if pos is None:
        return frozenset()
    out: set[str] = set()
    for base in lemmas(word, ptb_tag):
        for synset in _synsets(base, pos):
            for lemma in synset.lemmas():
                if lemma.name() == base:
                    out.update(a.name() for a in lemma.antonyms())
            for sim in synset.similar_tos():
                for lemma in sim.lemmas():
                    out.update(a.name() for a in lemma.antonyms())
    return frozenset(out)
