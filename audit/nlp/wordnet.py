"""WordNet synonyms by part of speech, with the original word's inflection kept.

``synonyms("movies", "NNS")`` returns plural synonyms (``films``, ``pictures`` ...),
``synonyms("ran", "VBD")`` past forms, ``synonyms("better", "JJR")`` comparatives.
The lemma comes from WordNet's ``morphy``; inflected forms come from WordNet's
exception lists (``*.exc``) first and a small rule set second.  A candidate whose
form the rules cannot produce reliably is dropped rather than guessed:

* regular forms must round-trip through ``morphy`` back to the synonym's lemma;
* WordNet lists every consonant-doubling and ``y -> ied/ier`` form in its exception
  lists (``morphy`` could not undo them otherwise), so the rules never double;
* comparatives/superlatives by rule only for one-syllable adjectives/adverbs
  (``more``/``most`` constructions would be two tokens);
* nouns ending in consonant + ``o`` (``potatoes``/``photos``) are dropped in the plural.

WordNet itself does not list ``extremely`` among the synonyms of ``terribly``
(its two senses are ``terribly, awfully, awful, frightfully`` -- "used as
intensifiers" -- and ``terribly, atrociously, ...`` -- "in a terrible manner").
``expand_intensifiers=True`` adds the lemmas of every adverb sense whose gloss
marks it as an intensifier or degree adverb (a gloss heuristic, see
:data:`INTENSIFIER_GLOSS_MARKERS`), which yields ``extremely``, ``very``,
``really`` ... for ``terribly``.  Callers can also declare pairs explicitly
(``audit.attack`` takes an ``extra_synonyms`` mapping).

WordNet is loaded lazily on first use (about 5 s).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from audit.errors import ResourceMissingError

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

_VOWELS = re.compile(r"[aeiouy]+")
_WORD = re.compile(r"^[a-z][a-z'-]*$")
_VBZ_SPECIAL = {"have": "has", "be": "is", "do": "does"}
_UNCHANGED_PAST = frozenset(
    "beat bet bid broadcast burst cast cost cut fit hit hurt let put quit read rid set shed shut slit split spread "
    "thrust upset wet".split()
)
"""Verbs whose past forms equal the base; WordNet's exception lists omit them."""
_BASE_PARTICIPLE = frozenset("run come become overcome outrun overrun rerun".split())
"""Verbs whose past participle equals the base (ran/run, came/come)."""


def _wordnet() -> Any:
    """NLTK's WordNet reader, loaded; :class:`ResourceMissingError` (naming ``audit data fetch``) if absent."""
    from audit.nlp import resources

    resources.ensure("wordnet")
    from nltk.corpus import wordnet as wn

    try:
        wn.ensure_loaded()
    except LookupError as exc:
        raise ResourceMissingError("NLTK WordNet data is not available", hint="run `audit data fetch`") from exc
    return wn


def wordnet_pos(ptb_tag: str) -> str | None:
    """WordNet POS for a PTB tag (``JJ*``->a, ``RB*``->r, ``NN*``->n, ``VB*``->v) or None."""
    return WN_POS.get(ptb_tag[:2])


def _syllables(word: str) -> int:
    core = word[:-1] if word.endswith("e") and len(word) > 2 else word
    return max(1, len(_VOWELS.findall(core)))


@lru_cache(maxsize=4)
def _reverse_exceptions(pos: str) -> dict[str, tuple[str, ...]]:
    wn = _wordnet()
    rev: dict[str, list[str]] = {}
    for form, bases in wn._exception_map[pos].items():
        for base in bases:  # a self-mapping (read -> read) means an unchanged inflected form
            rev.setdefault(base, []).append(form)
    return {k: tuple(sorted(v)) for k, v in rev.items()}


def lemmas(word: str, ptb_tag: str) -> list[str]:
    """WordNet base forms of ``word`` for the tag's POS (``morphy``), most likely first."""
    pos = wordnet_pos(ptb_tag)
    if pos is None:
        return []
    wn = _wordnet()
    w = word.lower()
    found = [b for b in wn._morphy(w, pos) if b]
    if w in found:  # the word itself first when it is a lemma
        found.remove(w)
        found.insert(0, w)
    return found


def _round_trips(form: str, lemma: str, pos: str) -> bool:
    return lemma in _wordnet()._morphy(form, pos)


def _is_inflected_form(lemma: str, pos: str) -> bool:
    """True when ``lemma`` is itself listed as an inflected form (``best``, ``hands``)."""
    wn = _wordnet()
    bases = wn._morphy(lemma, pos)
    return (bool(bases) and lemma not in bases) or any(b != lemma for b in wn._exception_map[pos].get(lemma, ()))


def _plural(lemma: str) -> str | None:
    exc = [f for f in _reverse_exceptions("n").get(lemma, ()) if f != lemma]
    if exc:
        return exc[0] if len(exc) == 1 else None
    if re.search(r"[^aeiou]o$", lemma) or re.search(r"[^su]s$", lemma):
        return None  # potato(e)s, and lemmas that already look plural (hands)
    if lemma.endswith("man") and len(lemma) > 3 and _wordnet().synsets(lemma[:-3]):
        form = lemma[:-3] + "men"  # gentleman -> gentlemen; human, shaman fall through to -s
        return form if _round_trips(form, lemma, "n") else None
    if re.search(r"(s|x|z|ch|sh)$", lemma):
        form = lemma + "es"
    elif re.search(r"[^aeiou]y$", lemma):
        form = lemma[:-1] + "ies"
    else:
        form = lemma + "s"
    return form if _round_trips(form, lemma, "n") else None


def _verb(lemma: str, ptb_tag: str) -> str | None:
    if lemma == "be":
        return None  # too irregular (am/is/are/was/were/been) to pick by tag alone
    exc = _reverse_exceptions("v").get(lemma, ())
    if ptb_tag not in ("VB", "VBP") and _is_inflected_form(lemma, "v"):
        return None
    ing = [f for f in exc if f.endswith("ing")]
    special = _VBZ_SPECIAL.get(lemma)
    past = [f for f in exc if not f.endswith("ing") and f != special]
    if ptb_tag in ("VB", "VBP"):
        return lemma
    if ptb_tag == "VBZ":
        if special:
            return special
        if re.search(r"(s|x|z|ch|sh|o)$", lemma):
            form = lemma + "es"
        elif re.search(r"[^aeiou]y$", lemma):
            form = lemma[:-1] + "ies"
        else:
            form = lemma + "s"
        return form if _round_trips(form, lemma, "v") else None
    if ptb_tag == "VBG":
        if ing:
            return ing[0] if len(ing) == 1 else None
        if re.search(r"[^eoy]e$", lemma) and len(lemma) > 2:
            form = lemma[:-1] + "ing"
        else:
            form = lemma + "ing"
        return form if _round_trips(form, lemma, "v") else None
    if ptb_tag in ("VBD", "VBN"):
        if len(past) == 1:  # one listed form serves both, except strong verbs whose participle is the base
            return lemma if ptb_tag == "VBN" and lemma in _BASE_PARTICIPLE else past[0]
        if len(past) == 2 and lemma in past:  # run/ran/run, come/came/come
            other = next(f for f in past if f != lemma)
            return lemma if ptb_tag == "VBN" else other
        if len(past) == 2:
            participles = [f for f in past if re.search(r"(n|ne)$", f)]
            if len(participles) != 1:
                return None
            other = next(f for f in past if f != participles[0])
            return participles[0] if ptb_tag == "VBN" else other
        if past:
            return None
        if lemma in _UNCHANGED_PAST:
            return lemma
        if lemma.endswith("e"):
            form = lemma + "d"
        elif re.search(r"[^aeiou]y$", lemma):
            return None  # WordNet lists real -ied forms as exceptions
        else:
            form = lemma + "ed"
        return form if _round_trips(form, lemma, "v") else None
    return None


def _degree(lemma: str, ptb_tag: str, pos: str) -> str | None:
    """Comparative (``JJR``/``RBR``) or superlative (``JJS``/``RBS``) of ``lemma``."""
    superlative = ptb_tag.endswith("S")
    exc = [f for f in _reverse_exceptions(pos).get(lemma, ()) if f != lemma]
    wanted = [f for f in exc if f.endswith("st" if superlative else "r")]
    if exc:
        return wanted[0] if len(wanted) == 1 else None
    if _syllables(lemma) != 1 or lemma.endswith("ly") or "-" in lemma or _is_inflected_form(lemma, pos):
        return None
    if re.search(r"(ed|en|wn|st)$", lemma):
        return None  # participial or already-superlative adjectives (grown, best) have no -er form
    if re.search(r"[^aeiou][aeiou][^aeiouwxy]$", lemma):
        return None  # would double (big -> bigger); WordNet lists those as exceptions
    suffix = "st" if superlative else "r"
    form = lemma + suffix if lemma.endswith("e") else lemma + ("est" if superlative else "er")
    if pos == "a" and not _round_trips(form, lemma, "a"):
        return None
    return form


def inflect(lemma: str, ptb_tag: str) -> str | None:
    """Inflect a WordNet lemma like a word tagged ``ptb_tag``; None when not reliable."""
    lemma = lemma.lower()
    pos = wordnet_pos(ptb_tag)
    if pos is None:
        return None
    if ptb_tag in ("NN", "JJ", "RB", "VB", "VBP"):
        return lemma
    if ptb_tag == "NNS":
        return _plural(lemma)
    if pos == "v":
        return _verb(lemma, ptb_tag)
    if ptb_tag in ("JJR", "JJS"):
        return _degree(lemma, ptb_tag, "a")
    if ptb_tag in ("RBR", "RBS"):
        return _degree(lemma, ptb_tag, "r")
    return None  # NNP/NNPS and anything else


def _synsets(lemma: str, pos: str) -> list[Any]:
    wn = _wordnet()
    if pos == "a":
        return [s for s in wn.synsets(lemma) if s.pos() in ("a", "s")]
    return list(wn.synsets(lemma, pos=pos))


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
