"""The strict recipe's grammar checks beyond inflection: ``frame``, a swapped verb must take the construction
the original has in the sentence (:mod:`audit.nlp.frames`); ``licensing``, no negative-polarity item brought
into a sentence that does not license it."""

from __future__ import annotations

from typing import Any

from audit.attack.checks import Check, CheckResult
from audit.attack.constraints import SwapContext
from audit.nlp import frames, wordnet


class FrameCheck(Check):
    """A verb keeps its complement construction: no "lets the seeds *to* germinate", no "appear like",
    no "leaps around", no "hold them awake", no "told that" (a verb that needs an object) or "said them".
    Words that are not verbs pass.

    Evidence: ``value`` = the construction found after the original verb (None: none of those in
    :mod:`audit.nlp.frames`),
    ``threshold`` = the substitute's base form."""

    name = "frame"

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        tag = ctx.tags[ctx.position]
        if not tag.startswith("VB"):
            return CheckResult(self.name, True, None, None)
        kind = frames.construction(ctx.tokens, ctx.tags, ctx.position)
        if candidate is None:
            return CheckResult(self.name, True, kind, None)
        lemmas = wordnet.lemmas(candidate, tag) or [candidate.lower()]
        original = wordnet.lemmas(ctx.word, tag) or [ctx.word.lower()]
        broken = frames.object_fits(lemmas, original, ctx.tokens, ctx.tags, ctx.position)
        if broken is not None:
            return CheckResult(self.name, False, kind, lemmas[-1], f"{candidate!r} {broken}")
        if kind is None:
            return CheckResult(self.name, True, kind, None)
        particle = frames.particle_after(ctx.tokens, ctx.position) if kind == "particle" else None
        if frames.takes(lemmas, kind, particle=particle):
            return CheckResult(self.name, True, kind, lemmas[-1])
        what = f"{kind} {particle!r}" if particle else kind
        return CheckResult(self.name, False, kind, lemmas[-1], f"{candidate!r} does not take the {what} construction")

    def thresholds(self) -> dict[str, Any]:
        return {}


NEGATIVE_POLARITY = frozenset({"ever", "yet", "anymore", "any"})
"""Negative-polarity items: grammatical only under a negation, a question or a comparison ("is n't ever",
"have you ever"), so "is always welcome" -> "is ever welcome" breaks.  Of the judged swaps to "ever"
(rounds 1-6), 4 of 4 were invalid."""


NEGATION_SHY = frozenset({"nearly"})
"""Approximators that do not combine with a negation: "almost do n't notice", "almost no one", but not
"nearly do n't notice" or "nearly no one" (since round 8)."""
NEGATIVES = frozenset({"not", "n't", "never", "no", "nothing", "nobody", "none", "nowhere", "neither", "nor"})
NEGATION_REACH = 3
"""Tokens after the swap searched for a negation ("you almost do n't notice")."""


class LicensingCheck(Check):
    """A negative-polarity substitute ("ever", "yet", "anymore") only replaces another one: the original's
    sentence licensed it (since round 7).  A substitute that does not combine with a negation ("nearly")
    is not put before one ("almost do n't" -> "nearly do n't", since round 8).
    Evidence: ``value`` = the substitute when it is one of those."""

    name = "licensing"

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if candidate is not None and candidate.lower() in NEGATION_SHY and ctx.word.lower() not in NEGATION_SHY:
            after = {t.lower() for t in ctx.tokens[ctx.position + 1:ctx.position + 1 + NEGATION_REACH]}
            if after & NEGATIVES:
                return CheckResult(self.name, False, candidate.lower(), None,
                                   f"{candidate!r} does not combine with the negation after it")
            return CheckResult(self.name, True, candidate.lower(), None)
        if candidate is None or candidate.lower() not in NEGATIVE_POLARITY:
            return CheckResult(self.name, True, None, None)
        if ctx.word.lower() in NEGATIVE_POLARITY:
            return CheckResult(self.name, True, candidate.lower(), None)
        return CheckResult(self.name, False, candidate.lower(), None,
                           f"{candidate!r} is a negative-polarity item; {ctx.word!r} is not")

    def thresholds(self) -> dict[str, Any]:
        return {}
