"""Verb complement constructions: which one a verb has in a sentence, and whether a substitute takes it.

A single-word swap keeps the rest of the sentence, so the substitute verb must take the construction the
original has there.  WordNet's sentence frames do not tell: NLTK lists them per synset, so "allow" and
"let" share "Somebody ----s somebody to INFINITIVE" (permit.v.01) although only "allow" takes "to"
("lets the seeds to germinate").  :func:`construction` reads the construction off the tokens after the verb
(a small pattern grammar over PTB tags, not a parser) and :func:`takes` applies English rules:

``to_infinitive``
    an object of at most six words ("of" allowed), then "to" + verb ("allows the characters to inhabit"): the substitute
    may not be a bare-infinitive verb (:data:`BARE_INFINITIVE`: let, make, have, see, ...).
``object_infinitive``
    an object pronoun, then a bare verb ("make it work"): the substitute must be a bare-infinitive verb.
``object_adjective`` / ``object_gerund``
    an object pronoun, then an adjective or an -ing verb ("keep them awake", "keep you watching"):
    complex-transitive uses, idiomatic per verb ("hold them awake"); never swapped.
``particle``
    an adverbial particle right after the verb or after its object pronoun ("jumps around", "put you off",
    "seem like"): a phrasal verb is not compositional, so it is swapped only when WordNet lists the
    substitute with the same particle ("jump out" -> "leap out").

Two object rules hold whatever the construction (since round 8): a verb that needs a person object
(:data:`OBJECT_REQUIRED`: "tell", "inform") replaces another verb only when an object follows ("said that
..." -> "told that ..." breaks), and a verb of saying that takes no person object (:data:`NO_PERSON_OBJECT`:
"say", "explain") does not replace one before "me", "him", "them" ("told them" -> "said them").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from audit.nlp.wordnet import _synsets

PARTICLES = frozenset({"around", "about", "up", "down", "off", "out", "away", "back", "over", "along", "apart",
                       "aside", "ahead", "forward", "together", "like"})
"""Adverbial particles of phrasal verbs (and "like" of "seem like", "look like"); true prepositions such as
"through", "on" or "into" are not here ("jump through hoops" -> "leap through hoops" keeps its sense)."""
OBJECT_PRONOUNS = frozenset({"me", "you", "him", "her", "it", "us", "them", "yourself", "himself", "herself",
                             "itself", "ourselves", "themselves", "myself"})
OBJECT_TAGS = frozenset({"DT", "PRP", "PRP$", "NN", "NNS", "NNP", "NNPS", "JJ", "JJR", "JJS", "CD", "POS"})
CLAUSE_END = frozenset({".", ",", ";", ":", "!", "?", "--", "-", "and", "or", "but", "...", "''", "'", ")"})
BARE_INFINITIVE = frozenset({"let", "make", "have", "help", "see", "watch", "hear", "feel", "bid"})
"""Verbs whose object takes a bare infinitive ("let them go"); "help" takes both."""
TO_REFUSED = BARE_INFINITIVE - {"help"}
OBJECT_REQUIRED = frozenset({"tell", "inform", "remind", "notify", "assure", "persuade", "convince"})
"""Verbs that need an object: "she told that ..." is not English."""
NO_PERSON_OBJECT = frozenset({"say", "explain", "describe", "suggest", "mention", "announce", "state", "speak"})
"""Verbs of saying whose object is what is said, never the hearer: "said them", "explained me"."""
CLAUSE_OPENERS = frozenset({"that", "if", "whether", "how", "what", "why", "when", "where", "who", "to"})
"""Words that start a clause, not an object ("said that ...": the tagger may call "that" a determiner)."""
PERSON_OBJECTS = frozenset({"me", "him", "us", "them"})
"""Object pronouns that can only be a person object ("you" and "her" can start other phrases)."""


def construction(tokens: Sequence[str], tags: Sequence[str], position: int) -> str | None:
    """The complement construction of the verb at ``position`` (see the module doc), or None."""
    words = [t.lower() for t in tokens]
    n = len(words)
    nxt = position + 1
    if nxt >= n or words[nxt] in CLAUSE_END:
        return None
    if words[nxt] in PARTICLES and tags[nxt] in ("RP", "RB", "IN"):
        return "particle"
    if words[nxt] in OBJECT_PRONOUNS and nxt + 1 < n:
        after, tag = words[nxt + 1], tags[nxt + 1]
        if after in PARTICLES and tag in ("RP", "RB", "IN"):
            return "particle"
        if tag.startswith("JJ"):
            return "object_adjective"
        if tag == "VBG":
            return "object_gerund"
        if tag in ("VB", "VBP"):  # the tagger reads "keep you awake" as "you awake/VBP"
            return "object_infinitive"
    i = nxt
    while i < n and i - nxt <= 6:
        if words[i] == "to" and i + 1 < n and tags[i + 1] == "VB":
            return "to_infinitive"
        if tags[i] not in OBJECT_TAGS and words[i] != "of":
            break
        i += 1
    return None


@lru_cache(maxsize=65536)
def phrasal(lemma: str, particle: str) -> bool:
    """Whether WordNet lists ``lemma particle`` as a verb ("jump out", "leap out")."""
    return bool(_synsets(f"{lemma}_{particle}", "v"))


def takes(substitute_lemmas: Sequence[str], kind: str | None, *, particle: str | None = None) -> bool:
    """Whether a verb with base forms ``substitute_lemmas`` ("lets": lets, let) takes construction ``kind``
    (module doc); ``particle``: the particle of a ``particle`` construction."""
    if kind is None:
        return True
    if kind == "to_infinitive":
        return not any(lemma in TO_REFUSED for lemma in substitute_lemmas)
    if kind == "object_infinitive":
        return any(lemma in BARE_INFINITIVE for lemma in substitute_lemmas)
    if kind == "particle":
        return particle is not None and any(phrasal(lemma, particle) for lemma in substitute_lemmas)
    return False  # object_adjective, object_gerund


def object_fits(substitute_lemmas: Sequence[str], original_lemmas: Sequence[str], tokens: Sequence[str],
                tags: Sequence[str], position: int) -> str | None:
    """Why the substitute verb breaks the object the original has (None when it fits): an
    :data:`OBJECT_REQUIRED` verb with no object after it, a :data:`NO_PERSON_OBJECT` verb before a person
    object pronoun.  A substitute in the same class as the original passes (its sentence already fits)."""
    nxt = position + 1
    word, tag = (tokens[nxt].lower(), tags[nxt]) if nxt < len(tokens) else ("", "")
    sub, orig = set(substitute_lemmas), set(original_lemmas)
    if sub & OBJECT_REQUIRED and not orig & OBJECT_REQUIRED:
        if not (word in OBJECT_PRONOUNS or (tag in OBJECT_TAGS and word not in CLAUSE_END | CLAUSE_OPENERS)):
            return "needs an object"
    if sub & NO_PERSON_OBJECT and not orig & NO_PERSON_OBJECT and word in PERSON_OBJECTS:
        return f"takes no person object ({word!r})"
    return None


def particle_after(tokens: Sequence[str], position: int) -> str | None:
    """The particle of a ``particle`` construction (right after the verb or after its object pronoun)."""
    for i in (position + 1, position + 2):
        if i < len(tokens) and tokens[i].lower() in PARTICLES:
            return tokens[i].lower()
    return None
