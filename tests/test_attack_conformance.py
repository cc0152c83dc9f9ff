"""Conformance matrix: every transformation and every constraint obeys the same rules.

* deterministic: the same input gives the same output, also after other calls;
* never proposes (transformations) or adds (constraints) the original word;
* respects POS: transformation candidates are WordNet words of the same POS,
  and what the POS-match constraint keeps re-tags to the same universal tag;
* pure: inputs are not mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from audit.attack import _nlp
from audit.attack.constraints import (
    Constraint,
    EntityConstraint,
    MaxWordsChanged,
    NoRepeatModification,
    PosMatchConstraint,
    StopwordConstraint,
    SwapContext,
)
from audit.attack.checks import Check, Resources
from audit.attack.registry import BUILTINS, STRICT
from audit.attack.transformation import Transformation, WordNetSwap
from audit.nlp import wordnet

SENTENCES = [
    "schweiger is talented and terribly charismatic , qualities essential to both movie stars".split(),
    "the movies ran longer than the better films".split(),
    "occasionally melodramatic , it 's also extremely effective".split(),
]
VOCAB = frozenset(w for s in SENTENCES for w in s) | {"films", "awfully", "pictures", "very", "magnetic", "went", "picture"}

TRANSFORMATIONS: dict[str, Callable[[], Transformation]] = {
    "wordnet": lambda: WordNetSwap(),
    "wordnet_vocab": lambda: WordNetSwap(vocab=VOCAB, max_candidates=5),
    "wordnet_intensifiers": lambda: WordNetSwap(expand_intensifiers=True),
    "wordnet_extra": lambda: WordNetSwap(extra_synonyms={"terribly": ["extremely", "very"]}),
}
CONSTRAINTS: dict[str, Callable[[], Constraint]] = {
    "stopwords": lambda: StopwordConstraint(),
    "entities": lambda: EntityConstraint(),
    "pos_match": lambda: PosMatchConstraint(),
    "max_words": lambda: MaxWordsChanged(max_words=2, max_fraction=0.2),
    "no_repeat": lambda: NoRepeatModification(),
}


def _strict_check(name: str) -> Callable[[], Constraint]:
    def make() -> Constraint:
        cls = BUILTINS[name][0]
        return cls(resources=Resources(), declared={"terribly": ["very"], "very": ["terribly"]})

    return make


# every built-in check of the strict recipe obeys the same rules (the sentence encoder has its own test)
CONSTRAINTS.update({f"strict_{name}": _strict_check(name) for name in STRICT})


@pytest.fixture(scope="module")
def tagged() -> list[tuple[list[str], list[str]]]:
    return [(s, _nlp.tag(s)) for s in SENTENCES]


def _cases(tagged: list[tuple[list[str], list[str]]]) -> list[tuple[list[str], list[str], int]]:
    return [(toks, tags, i) for toks, tags in tagged for i in range(len(toks))]


@pytest.mark.parametrize("name", sorted(TRANSFORMATIONS))
def test_transformation_conformance(name: str, tagged: list[tuple[list[str], list[str]]]) -> None:
    make = TRANSFORMATIONS[name]
    t = make()
    first = {}
    for toks, tags, i in _cases(tagged):
        before = (list(toks), list(tags))
        cands = t.candidates(toks, tags, i)
        assert (toks, tags) == before, "inputs must not be mutated"
        assert toks[i] not in cands and toks[i].lower() not in [c.lower() for c in cands]
        assert len(cands) == len(set(cands))
        for c in cands:
            declared = name == "wordnet_extra" and toks[i] in ("terribly", "extremely", "very")
            assert declared or wordnet.lemmas(c, tags[i]), f"{c!r} is not a WordNet {tags[i]} word"
        first[(tuple(toks), i)] = cands
    again = make()
    for toks, tags, i in reversed(_cases(tagged)):  # other order, fresh and reused instance: same answers
        assert again.candidates(toks, tags, i) == first[(tuple(toks), i)]
        assert t.candidates(toks, tags, i) == first[(tuple(toks), i)]


def _contexts(tagged: list[tuple[list[str], list[str]]]) -> list[SwapContext]:
    out = []
    for toks, tags in tagged:
        for i in range(len(toks)):
            for modified in (frozenset(), frozenset({0, i})):
                out.append(SwapContext(tokens=tuple(toks), tags=tuple(tags), position=i, modified=modified))
    return out


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_constraint_conformance(name: str, tagged: list[tuple[list[str], list[str]]]) -> None:
    make = CONSTRAINTS[name]
    c = make()
    swap = WordNetSwap(extra_synonyms={"terribly": ["very", "the"]})
    results = []
    for ctx in _contexts(tagged):
        snapshot = copy.deepcopy(ctx)
        cands = swap.candidates(ctx.tokens, ctx.tags, ctx.position) + ["the"]
        cands_before = list(cands)
        allowed = c.allows_position(ctx)
        kept = c.filter(ctx, cands)
        assert ctx == snapshot and cands == cands_before, "inputs must not be mutated"
        assert isinstance(allowed, bool)
        assert [k for k in cands if k in kept] == kept, "filter keeps an ordered subset"
        assert ctx.word not in kept or ctx.word in cands
        if c.lazy:  # the search filters a lazy constraint one candidate at a time: it must give the same answer
            assert [k for k in cands if c.filter(ctx, [k])] == kept
        if name == "pos_match":
            want = _nlp.universal(ctx.tags[ctx.position])
            for k in kept:
                variant = list(ctx.tokens)
                variant[ctx.position] = k
                assert _nlp.universal(_nlp.tag(variant)[ctx.position]) == want
        results.append((allowed, kept))
    again = make()
    assert [(again.allows_position(ctx), again.filter(ctx, swap.candidates(ctx.tokens, ctx.tags, ctx.position) + ["the"]))
            for ctx in _contexts(tagged)] == results


@pytest.mark.parametrize("name", STRICT)
def test_strict_checks_give_evidence_for_every_candidate(name: str, tagged: list[tuple[list[str], list[str]]]) -> None:
    """A check's filter keeps exactly the candidates whose evidence passed; the evidence names the check."""
    c = _strict_check(name)()
    assert isinstance(c, Check)
    swap = WordNetSwap()
    for ctx in _contexts(tagged)[::3]:
        cands = swap.candidates(ctx.tokens, ctx.tags, ctx.position)
        results = [c.evaluate(ctx, k) for k in cands]
        assert all(r.name == name and isinstance(r.passed, bool) for r in results)
        if c.scope == "candidate":
            assert c.filter(ctx, cands) == [k for k, r in zip(cands, results) if r.passed]
        else:
            assert c.allows_position(ctx) == c.evaluate(ctx, None).passed


def test_the_rules_bite(tagged: list[tuple[list[str], list[str]]]) -> None:
    """Each constraint blocks something on these sentences (so the matrix above is not vacuous)."""
    toks, tags = tagged[0]
    ctx = {i: SwapContext(tokens=tuple(toks), tags=tuple(tags), position=i) for i in range(len(toks))}
    assert not StopwordConstraint().allows_position(ctx[1])  # "is"
    assert StopwordConstraint().filter(ctx[4], ["the", "awfully"]) == ["awfully"]
    entity = SwapContext(tokens=tuple(toks), tags=("NNP", *tags[1:]), position=0)
    assert not EntityConstraint().allows_position(entity)
    raw = ("Schweiger", "is", "Talented", *toks[3:])  # capitalized mid-sentence in the raw text
    assert not EntityConstraint().allows_position(SwapContext(tokens=tuple(toks), tags=tuple(tags), position=2, raw_tokens=raw))
    assert EntityConstraint().allows_position(SwapContext(tokens=tuple(toks), tags=tuple(tags), position=0, raw_tokens=raw))
    assert PosMatchConstraint().filter(ctx[4], ["awfully", "movie"]) == ["awfully"]
    used = SwapContext(tokens=tuple(toks), tags=tuple(tags), position=4, modified=frozenset({4}))
    assert not NoRepeatModification().allows_position(used)
    full = SwapContext(tokens=tuple(toks), tags=tuple(tags), position=5, modified=frozenset({1, 4}))
    assert not MaxWordsChanged(max_words=2).allows_position(full)
