"""The strict recipe's verb-construction check (``frame``): a swapped verb must take the construction the
original has in the sentence (:mod:`audit.nlp.frames`)."""

from __future__ import annotations

from typing import Any

from audit.attack.checks import Check, CheckResult
from audit.attack.constraints import SwapContext
from audit.nlp import frames, wordnet


class FrameCheck(Check):
    """A verb keeps its complement construction: no "lets the seeds *to* germinate", no "appear like",
    no "leaps around", no "hold them awake".  Words that are not verbs pass.

    Evidence: ``value`` = the construction found after the original verb (None: none of the judged ones),
    ``threshold`` = the substitute's base form."""

    name = "frame"

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        tag = ctx.tags[ctx.position]
        if not tag.startswith("VB"):
            return CheckResult(self.name, True, None, None)
        kind = frames.construction(ctx.tokens, ctx.tags, ctx.position)
        if candidate is None or kind is None:
            return CheckResult(self.name, True, kind, None)
        lemmas = wordnet.lemmas(candidate, tag) or [candidate.lower()]
        particle = frames.particle_after(ctx.tokens, ctx.position) if kind == "particle" else None
        if frames.takes(lemmas, kind, particle=particle):
            return CheckResult(self.name, True, kind, lemmas[-1])
        what = f"{kind} {particle!r}" if particle else kind
        return CheckResult(self.name, False, kind, lemmas[-1], f"{candidate!r} does not take the {what} construction")

    def thresholds(self) -> dict[str, Any]:
        return {}
