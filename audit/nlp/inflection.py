"""Inflection and lemmas with ``lemminflect``; the indefinite article by a spelling rule.

Only forms found in lemminflect's lookup tables are produced (``inflect_oov=False``):
a form that cannot be produced reliably (``beautifuler``, ``handses``) is dropped, never
guessed.  ``be`` is left out (``was``/``were`` cannot be chosen from a tag alone), and so
are multi-word forms.  lemminflect is loaded on first use.  (The ``inflect`` package's a/an
was tried: its import alone takes tens of seconds, as typeguard instruments it, so a
spelling rule with exception lists is used instead.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from audit.errors import ResourceMissingError
from audit.nlp.frequency import zipf

_UPOS = {"NN": "NOUN", "VB": "VERB", "JJ": "ADJ", "RB": "ADV"}
_BASE_TAGS = frozenset({"NN", "JJ", "RB", "VB", "VBP"})


def upos(ptb_tag: str) -> str | None:
    """lemminflect's universal POS for a PTB tag (``NN*`` -> NOUN, ``VB*`` -> VERB, ``JJ*``, ``RB*``) or None."""
    return _UPOS.get(ptb_tag[:2])


def _lemminflect() -> Any:
    try:
        import lemminflect
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ResourceMissingError("the lemminflect package is not installed", hint="pip install lemminflect") from exc
    return lemminflect


@lru_cache(maxsize=65536)
def lemmas(word: str, ptb_tag: str) -> tuple[str, ...]:
    """lemminflect's lemmas of ``word`` read as ``ptb_tag``'s POS (``movies`` -> movie, ``ran`` -> run)."""
    pos = upos(ptb_tag)
    if pos is None:
        return ()
    found = _lemminflect().getAllLemmas(word.lower(), upos=pos).get(pos, ())
    return tuple(str(f) for f in found)


@lru_cache(maxsize=65536)
def inflect(lemma: str, ptb_tag: str) -> str | None:
    """``lemma`` inflected like a word tagged ``ptb_tag`` (``film``/NNS -> ``films``); None when not reliable."""
    lemma = lemma.lower()
    if upos(ptb_tag) is None or ptb_tag in ("NNP", "NNPS"):
        return None
    if ptb_tag in _BASE_TAGS:
        return lemma
    if lemma == "be":
        return None
    forms = _lemminflect().getInflection(lemma, tag=ptb_tag, inflect_oov=False)
    forms = [str(f) for f in forms if f and " " not in f]
    return forms[0] if forms else None


def keeps_inflection(original: str, substitute: str, ptb_tag: str) -> tuple[bool, str]:
    """Whether ``substitute`` carries the same inflection as ``original`` (tagged ``ptb_tag``).

    Passes when some lemma of ``substitute`` inflects to ``substitute`` under the tag and,
    for a plural noun / inflected verb, the substitute is not its bare lemma while the
    original is inflected (a plural kept plural, a past tense kept past).  Returns
    ``(passed, explanation)``.
    """
    o, s = original.lower(), substitute.lower()
    pos = upos(ptb_tag)
    if pos is None:
        return True, f"tag {ptb_tag}: not inflected"
    if ptb_tag in _BASE_TAGS:
        return True, f"{ptb_tag}: base form"
    cand_lemmas = lemmas(s, ptb_tag) or (s,)
    for lemma in cand_lemmas:
        if inflect(lemma, ptb_tag) == s:
            orig_inflected = any(lem != o for lem in (lemmas(o, ptb_tag) or (o,)))
            if orig_inflected and s == lemma and ptb_tag in ("NNS", "VBD", "VBN", "VBZ", "VBG"):
                return False, f"{s!r} is a bare {pos.lower()} but {o!r} is {ptb_tag}"
            return True, f"{lemma}+{ptb_tag}"
    return False, f"{s!r} is not a {ptb_tag} form"


@lru_cache(maxsize=65536)
def ing_noun(word: str, ptb_tag: str) -> bool:
    """Whether a noun is the -ing form of a verb: a gerund or deverbal noun ("offering", "filling",
    "settings").  Swapping it for a noun without -ing changes what it names ("offering" -> "offer",
    "supporting characters" -> "support characters")."""
    if not ptb_tag.startswith("NN"):
        return False
    w = word.lower()
    single = w[:-1] if w.endswith("ings") else w
    if not single.endswith("ing") or len(single) < 6:
        return False
    verbs = _lemminflect().getAllLemmas(single, upos="VERB").get("VERB", ())
    return any(inflect(str(v), "VBG") == single for v in verbs)


def has_ing_form(word: str) -> bool:
    """``word`` ends in -ing (or -ings)."""
    return word.lower().endswith(("ing", "ings"))


@lru_cache(maxsize=65536)
def mass_noun(noun: str, *, max_plural_gap: float = 2.0) -> bool:
    """Whether ``noun`` is a mass noun, which takes no "a"/"an" ("a laughter", "an advertising").

    lemminflect lists it as uncountable (its plural is the word itself: "music", "fun"), or its
    plural is rarely written: Zipf(noun) - Zipf(plural) > ``max_plural_gap`` (count nouns are
    near 0-1, "laugh" 0.6, "television" 1.7; "laughter" 2.8).  Zero-plural count nouns ("sheep")
    read as mass: a swap to one after "a" is refused, which costs a candidate, never validity."""
    forms = _lemminflect().getInflection(noun.lower(), tag="NNS", inflect_oov=True)
    plural = str(forms[0]) if forms else noun.lower() + "s"
    if plural == noun.lower():
        return True
    return zipf(noun) - zipf(plural) > max_plural_gap


NP_MODIFIER_TAGS = frozenset({"JJ", "JJR", "JJS", "NN", "RB", "RBR", "RBS", "VBN", "VBG", "CD", "HYPH"})


def possessive_breaks(original: str, substitute: str, next_token: str) -> str | None:
    """Why a plural noun's possessive breaks when ``original`` becomes ``substitute`` (None when it fits):
    a plural in -s takes a bare apostrophe ("kids '"), another plural takes "'s" ("children 's"), so
    "children 's" -> "kids 's" and "kids '" -> "children '" break.  Singular nouns always take "'s"."""
    if next_token not in ("'s", "'"):
        return None
    o_s, s_s = original.lower().endswith("s"), substitute.lower().endswith("s")
    if o_s == s_s:
        return None
    wants = "'" if s_s else "'s"
    return f"the possessive of {substitute!r} is {substitute}{wants}, not {substitute} {next_token}"


COUNT_DETERMINERS = frozenset({"a", "an", "every", "each", "another", "either", "neither"})
"""Determiners that take a singular *count* noun: "every laugh", never "every laughter"."""


def indefinite_np(tokens: Sequence[str], tags: Sequence[str], position: int, *, reach: int = 4) -> bool:
    """Whether the singular noun phrase ending at ``position`` starts with a count determiner
    (:data:`COUNT_DETERMINERS`: "a"/"an", "every", "each", ...): the tokens before it are modifiers
    (adjectives, adverbs, participles, singular nouns; at most ``reach``) back to the determiner
    ("a community-college advertisement", "a truly funny laugh", "every potential laugh")."""
    i = position - 1
    while i >= 0 and position - i <= reach + 1:
        word = tokens[i].lower()
        if word in COUNT_DETERMINERS:
            return True
        if tags[i] not in NP_MODIFIER_TAGS:
            return False
        i -= 1
    return False


_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "uto", "ura", "ure", "uri", "uro", "uku", "ufo", "ubiq", "eu", "ewe",
                    "one", "once", "ouija")
"""Vowel-letter beginnings read with a consonant sound: "a unique", "a euphoric", "a one-off"."""
_SILENT_H = ("hour", "honest", "honor", "honour", "heir", "herb")
"""Beginnings with a silent h: "an hour", "an honest"."""


@lru_cache(maxsize=65536)
def article(word: str) -> str:
    """``"a"`` or ``"an"`` for ``word``, by its first sound (a spelling rule with exception lists:
    ``an hour``, ``a unicorn``, ``a one-off``, ``an unusual``)."""
    w = word.lower().lstrip("'\"-")
    if not w:
        return "a"
    if w.startswith(_SILENT_H):
        return "an"
    if w[0] in "aeiou":
        return "a" if w.startswith(_CONSONANT_SOUND) else "an"
    if len(w) == 1 or (w.isupper() and len(w) <= 4):
        return "an" if w[0] in "fhlmnrsx" else "a"  # letters and short acronyms: "an f", "an x-ray" is caught below
    if w.startswith("x-"):
        return "an"
    return "a"
