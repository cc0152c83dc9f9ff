"""Verb complement constructions (audit.nlp.frames) and the strict recipe's ``frame`` check."""

from __future__ import annotations

import pytest

from audit.attack.constraints import SwapContext
from audit.attack.grammar import FrameCheck, LicensingCheck
from audit.nlp import frames


def tagged(text: str) -> tuple[list[str], list[str]]:
    """``word/TAG word/TAG ...`` -> tokens, tags (fixed tags: no tagger in these cases)."""
    pairs = [w.rsplit("/", 1) for w in text.split()]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.mark.parametrize(
    ("text", "verb", "kind"),
    [
        ("it/PRP allows/VBZ the/DT characters/NNS to/TO grow/VB ./.", "allows", "to_infinitive"),
        ("it/PRP allows/VBZ all/DT of/IN us/PRP to/TO see/VB ./.", "allows", "to_infinitive"),
        ("it/PRP makes/VBZ you/PRP laugh/VB ./.", "makes", "object_infinitive"),
        ("it/PRP will/MD keep/VB you/PRP awake/VBP ./.", "keep", "object_infinitive"),
        ("it/PRP keeps/VBZ them/PRP awake/JJ ./.", "keeps", "object_adjective"),
        ("it/PRP keeps/VBZ you/PRP guessing/VBG ./.", "keeps", "object_gerund"),
        ("the/DT camera/NN jumps/VBZ around/RP ./.", "jumps", "particle"),
        ("it/PRP puts/VBZ you/PRP off/RP ./.", "puts", "particle"),
        ("it/PRP seems/VBZ like/IN a/DT rerun/NN ./.", "seems", "particle"),
        ("they/PRP jump/VBP through/IN hoops/NNS ./.", "jump", None),  # a preposition, not a particle
        ("the/DT movie/NN started/VBD slowly/RB ./.", "started", None),
        ("it/PRP ends/VBZ ./.", "ends", None),
        ("it/PRP wants/VBZ to/TO last/VB ./.", "wants", "to_infinitive"),
        ("it/PRP wants/VBZ ,/, badly/RB ,/, to/TO last/VB", "wants", None),  # a pattern over tags, not a parser
    ],
)
def test_construction(text: str, verb: str, kind: str | None) -> None:
    tokens, tags = tagged(text)
    assert frames.construction(tokens, tags, tokens.index(verb)) == kind


def test_takes_follows_the_english_rules() -> None:
    assert frames.takes(["permit"], "to_infinitive")
    assert not frames.takes(["let"], "to_infinitive")  # "lets the seeds to germinate"
    assert frames.takes(["help"], "to_infinitive") and frames.takes(["help"], "object_infinitive")
    assert frames.takes(["let"], "object_infinitive")
    assert not frames.takes(["cause"], "object_infinitive")  # "causes you laugh"
    assert not frames.takes(["hold"], "object_adjective") and not frames.takes(["hold"], "object_gerund")
    assert frames.takes(["anything"], None)


def test_particle_verbs_need_wordnet_to_list_the_substitute_with_that_particle() -> None:
    assert frames.phrasal("jump", "out") and frames.phrasal("leap", "out")
    assert not frames.phrasal("appear", "like")
    assert frames.takes(["leap"], "particle", particle="out")
    assert not frames.takes(["appear"], "particle", particle="like")
    assert not frames.takes(["leap"], "particle", particle=None)
    tokens, _ = tagged("it/PRP puts/VBZ you/PRP off/RP ./.")
    assert frames.particle_after(tokens, 1) == "off"


def _check(text: str, verb: str, candidate: str | None) -> tuple[bool, object]:
    tokens, tags = tagged(text)
    ctx = SwapContext(tokens=tuple(tokens), tags=tuple(tags), position=tokens.index(verb))
    result = FrameCheck().evaluate(ctx, candidate)
    return result.passed, result.value


def test_frame_check_blocks_a_verb_that_does_not_take_the_construction() -> None:
    allows = "the/DT story/NN allows/VBZ the/DT characters/NNS to/TO grow/VB ./."
    assert _check(allows, "allows", "lets") == (False, "to_infinitive")
    assert _check(allows, "allows", "permits") == (True, "to_infinitive")
    assert _check("the/DT camera/NN jumps/VBZ around/RP ./.", "jumps", "leaps")[0] is False
    assert _check("they/PRP jump/VBP through/IN hoops/NNS ./.", "jump", "leap") == (True, None)
    assert _check("a/DT funny/JJ movie/NN ./.", "funny", "comic") == (True, None)  # not a verb: passes


def _licensed(text: str, position: int, candidate: str) -> bool:
    tokens, tags = tagged(text)
    return LicensingCheck().evaluate(SwapContext(tokens=tuple(tokens), tags=tuple(tags), position=position),
                                     candidate).passed


def test_licensing_check_keeps_negative_polarity_items_out_of_positive_sentences() -> None:
    always = "a/DT sequel/NN is/VBZ always/RB welcome/JJ ./."
    assert not _licensed(always, 3, "ever")
    assert _licensed(always, 3, "forever")
    assert _licensed("is/VBZ n't/RB ever/RB welcome/JJ ./.", 2, "yet")  # replaces another negative-polarity item


def test_object_rules_for_verbs_of_telling_and_saying() -> None:
    said = "she/PRP said/VBD that/IN it/PRP works/VBZ ./."
    assert _check(said, "said", "told")[0] is False  # "told that": tell needs an object
    assert _check(said, "said", "stated")[0] is True
    assert _check("she/PRP told/VBD them/PRP the/DT truth/NN ./.", "told", "said")[0] is False  # "said them"
    assert _check("she/PRP said/VBD nothing/NN ./.", "said", "told")[0] is True  # an object follows
    assert _check("she/PRP told/VBD me/PRP ./.", "told", "informed")[0] is True  # both need an object


def test_frames_object_fits_names_what_breaks() -> None:
    tokens, tags = tagged("as/IN he/PRP would/MD say/VB ,/, yes/UH")
    assert frames.object_fits(["tell"], ["say"], tokens, tags, 3) == "needs an object"
    assert frames.object_fits(["tell"], ["tell"], tokens, tags, 3) is None  # the sentence already fits


def test_licensing_check_keeps_nearly_away_from_a_negation() -> None:
    almost = "you/PRP almost/RB do/VBP n't/RB notice/VB ./."
    assert not _licensed(almost, 1, "nearly")
    assert _licensed(almost, 1, "virtually")
    assert _licensed("it/PRP is/VBZ almost/RB perfect/JJ ./.", 2, "nearly")
