"""Multi-word expressions a single-word swap must not break ("a lot", "liven up", "special effects").

:func:`mwe_spans` finds, in a tokenized sentence:

* n-grams (2 to 4 tokens) that are WordNet lemmas once joined with ``_`` (``a_lot``,
  ``special_effect``, ``liven_up``, ``in_the_way``), also after lemmatising their first
  or last token (``livens up`` -> ``liven_up``, ``special effects`` -> ``special_effect``);
* phrasal verbs: a verb followed by a particle (PTB tag ``RP``, or one of
  :data:`PARTICLES` when the pair is a WordNet verb lemma);
* the fixed expressions of :data:`FIXED_EXPRESSIONS`, a small hand-made list of movie-review
  phrases WordNet does not have ("romantic comedy", "get in the way") and of multi-word function
  words ("rather than", "instead of"), matched on lemmas.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from audit.nlp import inflection, wordnet

FIXED_EXPRESSIONS: tuple[str, ...] = (
    "a lot", "lots of", "romantic comedy", "get in the way", "special effects", "each other", "one another",
    "kind of", "sort of", "a bit", "a little", "at least", "at all", "of course", "in fact", "after all",
    "as well", "so far", "at first", "no doubt", "make sense", "pay off", "pull off", "come off", "fall flat",
    "fall apart", "take place", "big screen", "small screen", "feel good", "feel-good movie", "sit through",
    "on screen", "the real deal", "the whole thing", "for once", "by far", "in the end", "at times",
    "in the middle", "sad to say", "needless to say", "to say the least", "truth be told",
    "would rather", "'d rather", "had rather", "ca n't help", "can not help", "cannot help", "could n't help",
    "can't help", "couldn't help", "b movie", "b picture", "living hell", "keep time", "small favor",
    # multi-word function words (complex prepositions and conjunctions): "rather than" is not "instead than"
    "rather than", "instead of", "because of", "due to", "according to", "as though", "as if", "even though",
    "even if", "so that", "in order to", "as well as", "such as", "apart from", "thanks to", "let alone",
    "no longer", "any longer",
    # movie-review terms and idioms (round 8): "film language" is a term, "go to the films" breaks the idiom
    "film language", "film editor", "film school", "film buff", "go to the movie", "very fabric", "pay the price",
    "price to pay",
)
"""Fixed phrases never broken by a swap (lemma sequences, space-separated)."""

PARTICLES: frozenset[str] = frozenset(
    ["up", "out", "off", "down", "away", "over", "back", "in", "on", "through", "around", "about", "along", "together", "apart", "forward", "ahead"]
)
MAX_N = 4


def _forms(token: str, ptb_tag: str) -> tuple[str, ...]:
    t = token.lower()
    out = [t]
    for tag in (ptb_tag, "NNS", "VBD"):
        out += [lem for lem in inflection.lemmas(t, tag) if lem not in out]
    return tuple(out)


@lru_cache(maxsize=1)
def _fixed() -> dict[int, frozenset[tuple[str, ...]]]:
    out: dict[int, set[tuple[str, ...]]] = {}
    for phrase in FIXED_EXPRESSIONS:
        words = tuple(phrase.split())
        out.setdefault(len(words), set()).add(words)
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=131072)
def _is_wordnet_collocation(joined: str) -> bool:
    return bool(wordnet._wordnet().synsets(joined))


def _ngram_match(words: Sequence[str], tags: Sequence[str]) -> str | None:
    """The expression ``words`` forms (WordNet lemma or fixed phrase), lemma-matched, or None."""
    first, last = _forms(words[0], tags[0]), _forms(words[-1], tags[-1])
    middle = [w.lower() for w in words[1:-1]]
    fixed = _fixed().get(len(words), frozenset())
    for f in first:
        for la in last:
            seq = (f, *middle, la)
            if seq in fixed:
                return " ".join(seq)
            if all(w.replace("-", "").replace("'", "").isalpha() for w in seq) and _is_wordnet_collocation("_".join(seq)):
                return "_".join(seq)
    return None


def mwe_spans(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(start, end, expression)`` of every multi-word expression (``end`` exclusive), left to right."""
    spans: list[tuple[int, int, str]] = []
    n = len(tokens)
    for start in range(n):
        for size in range(2, MAX_N + 1):
            end = start + size
            if end > n:
                break
            found = _ngram_match(tokens[start:end], tags[start:end])
            if found is not None:
                spans.append((start, end, found))
        if start + 1 < n and tags[start].startswith("VB"):
            nxt = tokens[start + 1].lower()
            if tags[start + 1] == "RP" or (nxt in PARTICLES and any(
                    _is_wordnet_collocation(f"{lem}_{nxt}") for lem in _forms(tokens[start], tags[start]))):
                spans.append((start, start + 2, f"{tokens[start].lower()} {nxt}"))
    return spans


def mwe_at(tokens: Sequence[str], tags: Sequence[str], position: int) -> str | None:
    """The first expression covering ``position`` (None when the token stands alone)."""
    lo = max(0, position - MAX_N + 1)
    hi = min(len(tokens), position + MAX_N)
    for start, end, expr in mwe_spans(tokens[lo:hi], tags[lo:hi]):
        if start + lo <= position < end + lo:
            return expr
    return None


__all__ = ["FIXED_EXPRESSIONS", "PARTICLES", "mwe_at", "mwe_spans", "wordnet"]
