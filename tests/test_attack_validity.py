"""The strict recipe's checks on real WordNet / wordfreq / GloVe data (conformance cases of issue 12).

Uses the shared NLTK data and the GloVe 50d subset (``AUDIT_DATA_DIR``), like tests/test_wordnet.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from audit.attack.checks import CheckResult
from audit.attack.registry import ClosenessParams
from audit.attack.sentence import encoder_status
from audit.attack.validity import SwapEvidence, Validator, check_swap, strict_validator

EXPECTED_CHECKS = ["mwe", "names", "scope", "sense", "morphology", "frame", "licensing", "naturalness", "closeness", "sentiment", "pos_kept"] + (
    ["context_meaning", "context_token"] if encoder_status() == "available" else [])


@pytest.fixture(scope="module")
def validator() -> Validator:
    return strict_validator(extra_synonyms={"terribly": ["extremely"], "extremely": ["very"]})


def judge(v: Validator, text: str, word: str, substitute: str) -> SwapEvidence:
    tokens = text.split()
    return v.swap(tokens, tokens.index(word), substitute)


@pytest.mark.parametrize(
    ("text", "word", "substitute", "must_fail"),
    [
        ("the film is a charming and often affecting journey .", "film", "celluloid", "sense"),
        ("the characters are too cliched to jump off the screen .", "screen", "sieve", "sense"),
        ("there 's no way you wo n't be talking about the film .", "way", "agency", "closeness"),
        ("the whole thing is a mess .", "mess", "passel", "naturalness"),
        ("a sharp , funny comedy .", "funny", "laughable", "sentiment"),
        ("it 's a tremendous achievement .", "tremendous", "terrible", "sentiment"),
        ("there is a lot of fun here .", "lot", "heap", "mwe"),
        ("having never been a huge fan of dickens ' novel .", "dickens", "deuces", "names"),
        ("the movies are great .", "movies", "film", "morphology"),
        ("personally , i 'd rather watch them on tv .", "rather", "instead", "mwe"),  # "would rather"
        ("in the end you ca n't help but feel stoked .", "help", "aid", "mwe"),  # "can't help (but)"
        ("if you 're not nearly moved to tears , check your pulse .", "nearly", "almost", "scope"),
        ("elvira fans could hardly ask for more .", "hardly", "barely", "scope"),
        ("could n't someone take rob schneider ?", "someone", "person", "scope"),
        ("able to creep the living hell out of you .", "living", "life", "mwe"),
        ("what made old-time b movies good-bad .", "movies", "films", "mwe"),
        ("a norwegian offering which is good .", "offering", "offer", "morphology"),  # -ing noun -> bare noun
        ("the paper-thin supporting characters .", "supporting", "support", "morphology"),
        ("it was a laugh .", "laugh", "laughter", "morphology"),  # a mass noun after "a"
        ("a community-college advertisement , dull .", "advertisement", "advertising", "morphology"),
        ("it is funny , rather than sad .", "rather", "instead", "mwe"),  # a multi-word function word
        ("every laugh is earned .", "laugh", "laughter", "morphology"),  # a mass noun after "every"
        ("there is little of the charm here .", "little", "small", "scope"),  # a quantifier
        ("it is much better than the first .", "much", "often", "scope"),
        ("the story allows the characters to grow .", "allows", "lets", "frame"),  # "lets them to grow"
        ("the film seems like a rerun .", "seems", "appears", "frame"),  # "appears like"
        ("the camera jumps around too much .", "jumps", "leaps", "frame"),  # "leaps around"
        ("the score will keep you awake .", "keep", "hold", "frame"),  # "hold you awake"
        ("a sequel is always welcome .", "always", "ever", "licensing"),  # "ever" needs a negation
        ("it 's simply , and surprisingly , a nice treat .", "simply", "merely", "scope"),  # a focus particle
        ("it is hardly an objective documentary .", "hardly", "barely", "scope"),  # a negator
        ("i approached the usher and said that she should ask for a raise .", "said", "told", "frame"),  # no object
        ("you almost do n't notice the running time .", "almost", "nearly", "licensing"),  # "nearly" + negation
        ("a guy dressed as a children 's party clown .", "children", "kids", "morphology"),  # "kids 's"
        ("with spy kids 2 : the island of lost dreams .", "kids", "children", "names"),  # a sequel title
        ("malcolm d. lee and writer john ridley .", "writer", "author", "names"),  # a title before a name
        ("it 's everything you do n't go to the movies for .", "movies", "films", "mwe"),  # an idiom
        ("working to develop her own film language .", "film", "movie", "mwe"),  # a film term
    ],
)
def test_rejected_swaps(validator: Validator, text: str, word: str, substitute: str, must_fail: str) -> None:
    ev = judge(validator, text, word, substitute)
    assert not ev.valid
    assert must_fail in ev.failed, ev.to_dict()


@pytest.mark.parametrize(
    ("text", "word", "substitute"),
    [
        ("the actors jump through hoops to make it work .", "jump", "leap"),
        ("it 's a cookie-cutter movie , a cut-and-paste job .", "movie", "film"),
        ("the movies are great .", "movies", "films"),  # a plural kept plural
        ("the movie started slowly .", "started", "began"),  # a past tense kept past
        ("a movie with heart .", "movie", "film"),  # a count noun after "a" stays a count noun
        ("the film 's pace is unhurried .", "film", "movie"),  # a singular's possessive is always "'s"
        ("it is almost perfect .", "almost", "nearly"),  # no negation after it
    ],
)
def test_accepted_swaps(validator: Validator, text: str, word: str, substitute: str) -> None:
    ev = judge(validator, text, word, substitute)
    assert ev.valid, ev.to_dict()
    assert not ev.declared


def test_declared_pairs_pass_the_lexical_checks_both_ways(validator: Validator) -> None:
    for text, word, sub in [("it is extremely good .", "extremely", "very"), ("it is very good .", "very", "extremely"),
                            ("it 's terribly charismatic .", "terribly", "extremely")]:
        ev = judge(validator, text, word, sub)
        assert ev.valid and ev.declared, ev.to_dict()
        assert ev.checks["sense"].value == "declared pair"
    # undeclared, the same swap is judged like any other
    plain = judge(strict_validator(), "it 's terribly charismatic .", "terribly", "extremely")
    assert not plain.declared and not plain.valid


def test_article_before_the_swap() -> None:
    tokens = ["it", "is", "an", "intense", "and", "odd", "film", "."]
    blocking = strict_validator(constraints=[{"name": "morphology", "adjust_articles": False}])
    ev = blocking.swap(tokens, 3, "strong")  # "an strong"
    assert not ev.checks["morphology"].passed
    adjusting = strict_validator()
    ev2 = adjusting.swap(tokens, 3, "strong")
    assert ev2.checks["morphology"].passed and "article an->a" in str(ev2.checks["morphology"].value)
    # a vowel-initial substitute after "an" needs nothing
    assert blocking.swap(tokens, 3, "intensive").checks["morphology"].passed


def test_evidence_has_every_check_with_value_and_threshold() -> None:
    ev = check_swap(["the", "movie", "is", "fun", "."], 1, "film")
    assert list(ev.checks) == EXPECTED_CHECKS
    d = ev.to_dict()
    assert d["sense"] == "movie.n.01" and d["cosine"] is not None and d["cosine"] > 0.9
    assert d["zipf_original"] > 4 and d["zipf_substitute"] > 4
    default = ClosenessParams().min_cosine  # the calibrated default (reports/benchmarks/validity.md)
    assert d["checks"]["closeness"] == {"passed": True, "value": d["cosine"], "threshold": default}
    assert all(isinstance(r, CheckResult) for r in ev.checks.values())


def test_thresholds_are_configurable() -> None:
    tokens = ["the", "actors", "jump", "through", "hoops", "."]
    strict = strict_validator(constraints=[{"name": "closeness", "min_cosine": 0.8}])
    assert not strict.swap(tokens, 2, "leap").checks["closeness"].passed  # cosine 0.78
    assert strict_validator().swap(tokens, 2, "leap").checks["closeness"].passed


def test_given_tags_are_used() -> None:
    tokens = ["the", "movies", "are", "great", "."]
    ev = check_swap(tokens, 1, "films", tags=["DT", "NNS", "VBP", "JJ", "."])
    assert ev.checks["morphology"].threshold == "NNS"
    assert check_swap(tokens, 1, "films", tagger=lambda t: ["DT", "NN", "VBP", "JJ", "."]).checks[
        "morphology"].threshold == "NN"


def test_clitics_get_no_candidates() -> None:
    from audit.attack.transformation import WordNetSwap

    tokens = ["you", "'ve", "seen", "them"]
    assert WordNetSwap().candidates(tokens, ["PRP", "VBP", "VBN", "PRP"], 1) == []
    assert WordNetSwap().candidates(tokens, ["PRP", "VBP", "VBN", "PRP"], 2)


def test_pos_kept_blocks_a_swap_that_changes_the_tag() -> None:
    """The variant is re-tagged: a substitute that lands on another PTB tag is blocked (the tagger is
    given here, so the test does not depend on the perceptron's guesses)."""
    from audit.attack.checks import Resources
    from audit.attack.constraints import SwapContext
    from audit.attack.strict import PosKeptCheck

    def tagger(tokens: Sequence[str]) -> list[str]:
        return ["PRP", "JJ" if tokens[1] == "shrill" else "VBP", "RB", "."]

    check = PosKeptCheck(resources=Resources(tagger=tagger))
    ctx = SwapContext(tokens=("they", "shriek", "loudly", "."), tags=("PRP", "VBP", "RB", "."), position=1)
    bad = check.evaluate(ctx, "shrill")
    assert not bad.passed and bad.value == "JJ" and bad.threshold == "VBP"
    assert check.evaluate(ctx, "scream").passed
    assert check.filter(ctx, ["shrill", "scream"]) == ["scream"]
    assert check.lazy  # one tagger call per candidate: the search runs it on the candidates it sends


def test_pos_kept_with_the_real_tagger() -> None:
    ev = check_swap("the movie started slowly .".split(), 2, "began")
    assert ev.checks["pos_kept"].passed and ev.checks["pos_kept"].value == "VBD"


def test_min_sense_prior_blocks_a_rare_sense_of_the_original() -> None:
    """The chosen sense must be at least ``min_sense_prior`` of the original word's SemCor use."""
    tokens = "the movie started slowly .".split()
    loose = strict_validator(constraints=[{"name": "sense", "min_sense_prior": 0.0}]).swap(tokens, 2, "began")
    assert loose.checks["sense"].passed
    strict = strict_validator(constraints=[{"name": "sense", "min_sense_prior": 0.99}]).swap(tokens, 2, "began")
    assert not strict.checks["sense"].passed and "rare sense of 'started'" in strict.checks["sense"].detail


@pytest.mark.parametrize(
    ("text", "word", "substitute"),
    [("if your film becomes dull , leave .", "becomes", "goes"),  # "go" is rarely *become*
     ("the art that we choose matters .", "choose", "take")],
)
def test_min_substitute_share_blocks_a_rare_sense_of_the_substitute(text: str, word: str, substitute: str) -> None:
    """The calibrated default is 0.0 (reports/benchmarks/validity.md); set to 0.1 the check blocks these."""
    v = strict_validator(constraints=[{"name": "sense", "min_substitute_share": 0.1}])
    ev = judge(v, text, word, substitute)
    assert not ev.checks["sense"].passed and "rare sense of" in ev.checks["sense"].detail, ev.to_dict()


def test_scope_lets_an_adverb_out_of_negation_through(validator: Validator) -> None:
    ev = judge(validator, "the plot moves quickly .", "quickly", "rapidly")
    assert ev.checks["scope"].passed, ev.to_dict()
    assert not judge(validator, "the plot is not quickly resolved .", "quickly", "rapidly").checks["scope"].passed


def test_a_bare_verb_after_a_negated_auxiliary_is_tagged_a_verb() -> None:
    from audit.nlp.pos import tag

    assert tag("i did n't laugh .".split())[3] == "VB"
    assert tag("could n't someone take it ?".split())[2] != "VB"  # "someone" is no verb


def test_noun_kinds_from_lemminflect_and_wordfreq() -> None:
    from audit.nlp import inflection

    assert inflection.ing_noun("offering", "NN") and inflection.ing_noun("settings", "NNS")
    assert not inflection.ing_noun("thing", "NN") and not inflection.ing_noun("king", "NN")
    assert not inflection.ing_noun("offering", "VBG")  # verbs are the inflection check's business
    assert inflection.mass_noun("laughter") and inflection.mass_noun("music")  # rare plural / uncountable
    assert not inflection.mass_noun("laugh") and not inflection.mass_noun("television")
    tokens, tags = "a truly funny laugh".split(), ["DT", "RB", "JJ", "NN"]
    assert inflection.indefinite_np(tokens, tags, 3)
    assert not inflection.indefinite_np("the funny laugh".split(), ["DT", "JJ", "NN"], 2)
    assert not inflection.indefinite_np("a film and laugh".split(), ["DT", "NN", "CC", "NN"], 3)


def test_plural_possessives() -> None:
    from audit.nlp import inflection

    assert inflection.possessive_breaks("children", "kids", "'s") is not None  # "kids 's"
    assert inflection.possessive_breaks("kids", "children", "'") is not None  # "children '"
    assert inflection.possessive_breaks("films", "movies", "'") is None
    assert inflection.possessive_breaks("children", "kids", "are") is None  # no possessive


def test_titles_count_as_names() -> None:
    from audit.nlp import names
    from audit.nlp.pos import tag

    def reason(text: str, word: str) -> str | None:
        tokens = text.split()
        return names.name_reason(tokens, tokens.index(word), tagger=tag)

    assert "title" in (reason("malcolm d. lee and writer john ridley .", "writer") or "")
    assert "sequel" in (reason("with spy kids 2 : the island", "kids") or "")
    assert reason("the writer is good .", "writer") is None  # no name after it
    assert reason("the film roman polanski made .", "film") is None  # not a person noun
    assert names.person_noun("director") and not names.person_noun("film")
