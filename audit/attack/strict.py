"""The strict recipe's built-in checks (see docs/ARCHITECTURE.md, "Variant validity").

=============  ========  ============================================================
name           scope     passes when
=============  ========  ============================================================
``mwe``        position  the token is not inside a multi-word expression
``names``      position  the token is not a name or part of a title (:mod:`audit.nlp.names`)
``scope``      position  the token is not an adverb right after a negation or modal ("not nearly",
                         "could hardly"), an indefinite pronoun ("someone"), a quantifier ("little"),
                         a negator ("hardly") or a focus particle ("simply")
``sense``      candidate the substitute is a lemma of the sense chosen in context
``morphology`` candidate same inflection as the original; an -ing noun stays -ing; no mass noun
                         after a/an; a/an before it fits (or is adjusted); a plural's possessive fits
``naturalness``candidate Zipf(substitute) >= ``min_zipf`` and Zipf drop <= ``max_zipf_drop``;
                         no archaic/slang WordNet usage domain
``closeness``  candidate GloVe cosine(original, substitute) >= ``min_cosine``
``sentiment``  candidate same polarity (lexicon, else WordNet neighbourhood), no antonymy,
                         strength shift on the GloVe sentiment axis <= ``max_shift``
``pos_kept``   candidate re-tagged in the variant, the substitute keeps the original's PTB tag
``context_     candidate encoder cosine of the words around the swap >= ``min_cosine``
meaning``                (:mod:`audit.attack.sentence`; extra ``[meaning]``, else left out and said so)
=============  ========  ============================================================

Declared pairs (``extra_synonyms``) are exempt from ``sense``, ``naturalness``,
``closeness``, ``sentiment`` and ``context_meaning``; the position checks, ``morphology`` and ``pos_kept`` still apply.
"""

from __future__ import annotations

from typing import Any

from audit.attack.checks import Check, CheckResult, _Memo
from audit.attack.constraints import SwapContext
from audit.attack.edit import apply_swap
from audit.nlp import inflection, names, wordnet
from audit.nlp.frequency import zipf
from audit.nlp.mwe import mwe_spans
from audit.nlp.pos import MODALS
from audit.nlp.polarity import MIXED, polarity, strength
from audit.nlp.senses import SenseChoice, choose_sense, substitute_share

ARTICLES = frozenset({"a", "an"})
BLOCKED_USAGE = frozenset({"archaism.n.01", "slang.n.02", "obscenity.n.02", "ethnic_slur.n.01",
                           "disparagement.n.01", "vulgarism.n.01", "trademark.n.02"})
"""WordNet usage domains that make a substitute unnatural in a review."""
ARCHAIC_GLOSS = ("(archaic)", "archaic ", "(obsolete)", "obsolete ")


class MweCheck(Check):
    """Never swap inside a WordNet collocation, phrasal verb or fixed expression (:mod:`audit.nlp.mwe`)."""

    name = "mwe"
    scope = "position"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._memo = _Memo()

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        covered: dict[int, str] = self._memo.get(ctx.original_tokens, lambda: self._spans(ctx))
        expr = covered.get(ctx.position)
        return CheckResult(self.name, expr is None, expr, None)

    def _spans(self, ctx: SwapContext) -> dict[int, str]:
        """Position -> the first expression covering it, for the whole (original) sentence."""
        out: dict[int, str] = {}
        for start, end, expr in mwe_spans(ctx.original_tokens, self._tags(ctx)):
            for i in range(start, end):
                out.setdefault(i, expr)
        return out

    def _tags(self, ctx: SwapContext) -> list[str]:
        if ctx.original_tokens == ctx.tokens:
            return list(ctx.tags)
        return self.resources.tag(ctx.original_tokens)


class NameCheck(Check):
    """Never swap a name: proper-noun-only in WordNet, or ``NNP`` on a truecased copy (:mod:`audit.nlp.names`)."""

    name = "names"
    scope = "position"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._memo = _Memo()

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if ctx.tags[ctx.position] in ("NNP", "NNPS"):
            return CheckResult(self.name, False, f"tagged {ctx.tags[ctx.position]}", None)
        key = (ctx.original_tokens, ctx.position)
        reason = self._memo.get(key, lambda: names.name_reason(ctx.original_tokens, ctx.position,
                                                                 tagger=self.resources.tag))
        return CheckResult(self.name, reason is None, reason, None)


NEGATORS = frozenset({"not", "n't", "never", "no", "hardly", "barely", "scarcely"})
INDEFINITE_PRONOUNS = frozenset({"someone", "somebody", "something", "anyone", "anybody", "anything", "everyone",
                                 "everybody", "everything", "nobody", "nothing", "noone", "one"})
"""Function words the tagger calls nouns; WordNet's noun senses of them ("someone" -> "person") do not fit."""
QUANTIFIERS = frozenset({"little", "few", "much", "many", "less", "fewer", "more", "most", "least", "enough",
                         "several", "plenty", "lot", "lots"})
"""Quantifiers the tagger calls adjectives, adverbs or nouns: "with little of" -> "with small of", "much better"
-> "often better".  Every judged swap of one (10 pairs, rounds 1-5) was invalid."""
FOCUS_PARTICLES = frozenset({"only", "merely", "just", "simply", "solely", "even", "purely"})
"""Focus particles: they set what the clause is about and how much it counts ("simply a nice treat" praises,
"merely a nice treat" belittles).  Of the judged swaps of one (rounds 1-6), "simply" -> "merely" was invalid
4 times out of 4, "solely" -> "entirely" once; "merely" -> "simply" was valid twice (since round 7)."""


class ScopeCheck(Check):
    """Never swap an adverb in the scope of a negation or modal, an indefinite pronoun, a quantifier, a negator
    ("hardly", "barely", "never") or a focus particle ("simply", "merely", "only").

    After "not", "n't", "never", "hardly" or a modal, a degree or frequency adverb is part of a fixed
    reading: "not nearly moved" is not "not almost moved", "could hardly ask" is not "could barely ask",
    "not always" is not "not ever".  WordNet lists the adverbs as synonyms out of that scope.
    """

    name = "scope"
    scope = "position"

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        word = ctx.original_tokens[ctx.position].lower()
        if word in INDEFINITE_PRONOUNS:
            return CheckResult(self.name, False, "indefinite pronoun", None)
        if word in QUANTIFIERS:
            return CheckResult(self.name, False, "quantifier", None)
        if word in NEGATORS:  # "hardly an objective documentary" (far from) -> "barely" (just)
            return CheckResult(self.name, False, "negator", None)
        if word in FOCUS_PARTICLES:
            return CheckResult(self.name, False, "focus particle", None)
        prev = ctx.original_tokens[ctx.position - 1].lower() if ctx.position > 0 else ""
        if ctx.tags[ctx.position].startswith("RB") and (prev in NEGATORS or prev in MODALS):
            return CheckResult(self.name, False, f"adverb after {prev!r}", None)
        return CheckResult(self.name, True, None, None)


class SenseCheck(Check):
    """Only lemmas of the WordNet sense that fits the sentence (:func:`audit.nlp.senses.choose_sense`),
    and only substitutes for which that sense is not a rare one: at least ``min_substitute_share`` of
    their own SemCor usage (:func:`audit.nlp.senses.substitute_share`; "take" for *choose*, "book" for
    *script* and "go" for *become* are blocked).

    ``min_sense_prior``: the chosen sense must also be at least this share of the *original*
    word's own SemCor use (its smoothed prior): when the context picks a sense the word rarely
    has, the choice is the least reliable, and the position gets no candidate."""

    name = "sense"
    declared_exempt = True

    def __init__(self, *, prior_weight: float = 0.1, window: int = 8, min_substitute_share: float = 0.05,
                 min_sense_prior: float = 0.4, **kw: Any) -> None:
        super().__init__(**kw)
        self.prior_weight = prior_weight
        self.window = window
        self.min_substitute_share = min_substitute_share
        self.min_sense_prior = min_sense_prior
        self._memo = _Memo()

    def thresholds(self) -> dict[str, Any]:
        return {"prior_weight": self.prior_weight, "window": self.window,
                "min_substitute_share": self.min_substitute_share, "min_sense_prior": self.min_sense_prior}

    def choice(self, ctx: SwapContext) -> SenseChoice | None:
        """The sense in context (memoised on the word, its tag and the ``window`` tokens around it)."""
        lo, hi = max(0, ctx.position - self.window), ctx.position + self.window + 1
        window = ctx.tokens[lo:hi]
        key = (window, ctx.position - lo, ctx.tags[ctx.position])
        return self._memo.get(key, lambda: choose_sense(  # type: ignore[no-any-return]
            window, ctx.position - lo, ctx.tags[ctx.position], vectors=self.resources.vectors,
            window=self.window, prior_weight=self.prior_weight))

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        choice = self.choice(ctx)
        if choice is None:
            return CheckResult(self.name, False, None, "lemma of the sense in context", "no WordNet sense")
        if choice.prior < self.min_sense_prior - 1e-9:
            return CheckResult(self.name, False, choice.synset, "lemma of the sense in context",
                               f"{choice.synset} is a rare sense of {ctx.word!r} ({choice.prior:.1%} of its use)")
        if candidate is None:
            return CheckResult(self.name, True, choice.synset, "lemma of the sense in context")
        tag = ctx.tags[ctx.position]
        cand_lemmas = set(wordnet.lemmas(candidate, tag)) | {candidate.lower()}
        if not cand_lemmas & set(choice.lemmas):
            return CheckResult(self.name, False, choice.synset, "lemma of the sense in context",
                               f"not a lemma of {choice.synset}")
        share = substitute_share(candidate, tag, choice.synset)
        if share is not None and share < self.min_substitute_share - 1e-9:
            return CheckResult(self.name, False, choice.synset, "lemma of the sense in context",
                               f"{choice.synset} is a rare sense of {candidate!r} ({share:.1%} of its use)")
        return CheckResult(self.name, True, choice.synset, "lemma of the sense in context")


class MorphologyCheck(Check):
    """Same inflection as the original (lemminflect), the same kind of noun, and a fitting a/an before it.

    * inflection: a plural stays plural, a past tense past (:func:`audit.nlp.inflection.keeps_inflection`);
    * a plural's possessive stays right: "children 's" -> "kids 's" breaks (since round 8);
    * an -ing noun (a gerund or deverbal noun: "offering", "filling", "supporting") is replaced only by
      another -ing word: "offering" -> "offer" names something else (``keep_ing_nouns``);
    * in a noun phrase headed by "a"/"an", "every", "each" ..., a count noun is not replaced by a mass
      noun ("a laugh" -> "a laughter", "every laugh" -> "every laughter"; :func:`audit.nlp.inflection.mass_noun`, ``max_plural_gap``);
    * with ``adjust_articles`` (default) a mismatching article is allowed: the search adjusts it
      (:func:`audit.attack.edit.apply_swap`) and the evidence says so.  Without it, a swap that would
      leave "an scrutiny" is rejected.
    """

    name = "morphology"

    def __init__(self, *, adjust_articles: bool = True, keep_ing_nouns: bool = True, max_plural_gap: float = 2.0,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.adjust_articles = adjust_articles
        self.keep_ing_nouns = keep_ing_nouns
        self.max_plural_gap = max_plural_gap

    def thresholds(self) -> dict[str, Any]:
        return {"adjust_articles": self.adjust_articles, "keep_ing_nouns": self.keep_ing_nouns,
                "max_plural_gap": self.max_plural_gap}

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        tag = ctx.tags[ctx.position]
        if candidate is None:
            return CheckResult(self.name, True, tag, None)
        ok, why = inflection.keeps_inflection(ctx.word, candidate, tag)
        if not ok:
            return CheckResult(self.name, False, why, tag)
        nxt = ctx.tokens[ctx.position + 1] if ctx.position + 1 < len(ctx.tokens) else ""
        if tag == "NNS" and (broken := inflection.possessive_breaks(ctx.word, candidate, nxt)) is not None:
            return CheckResult(self.name, False, broken, tag)
        if (self.keep_ing_nouns and inflection.ing_noun(ctx.word, tag)
                and not inflection.has_ing_form(candidate)):
            return CheckResult(self.name, False, f"{ctx.word!r} is an -ing noun, {candidate!r} is not", tag)
        if (tag == "NN" and inflection.indefinite_np(ctx.tokens, ctx.tags, ctx.position)
                and inflection.mass_noun(candidate, max_plural_gap=self.max_plural_gap)
                and not inflection.mass_noun(ctx.word, max_plural_gap=self.max_plural_gap)):
            return CheckResult(self.name, False, f"{candidate!r} is a mass noun after a count determiner", tag)
        prev = ctx.tokens[ctx.position - 1].lower() if ctx.position > 0 else ""
        if prev in ARTICLES:
            want = inflection.article(candidate)
            if want != prev:
                if not self.adjust_articles:
                    return CheckResult(self.name, False, f"{prev} {candidate}", tag, f"needs {want!r}")
                return CheckResult(self.name, True, f"{why}; article {prev}->{want}", tag)
        return CheckResult(self.name, True, why, tag)


def _archaic(word: str, tag: str) -> str | None:
    pos = wordnet.wordnet_pos(tag)
    if pos is None:
        return None
    for base in wordnet.lemmas(word, tag) or [word.lower()]:
        synsets = wordnet._synsets(base, pos)
        marked = []
        for s in synsets:
            domains = {d.name() for d in s.usage_domains()}
            for lem in s.lemmas():
                if lem.name().lower() == base:
                    domains |= {d.name() for d in lem.usage_domains()}
            gloss = s.definition().lower()
            if domains & BLOCKED_USAGE or gloss.startswith(ARCHAIC_GLOSS):
                marked.append(s)
        if synsets and len(marked) == len(synsets):
            return f"every sense of {base!r} is marked archaic/slang in WordNet"
    return None


class NaturalnessCheck(Check):
    """Substitute not much rarer than the original (wordfreq Zipf), above a floor, not archaic or slang."""

    name = "naturalness"
    declared_exempt = True

    def __init__(self, *, max_zipf_drop: float = 1.0, min_zipf: float = 0.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_zipf_drop = max_zipf_drop
        self.min_zipf = min_zipf

    def thresholds(self) -> dict[str, Any]:
        return {"max_zipf_drop": self.max_zipf_drop, "min_zipf": self.min_zipf}

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if candidate is None:
            return CheckResult(self.name, True, None, self.thresholds())
        zo, zs = zipf(ctx.word), zipf(candidate)
        value = {"zipf_original": zo, "zipf_substitute": zs}
        if zs < self.min_zipf:
            return CheckResult(self.name, False, value, self.thresholds(), f"rare: Zipf {zs:.2f} < {self.min_zipf}")
        if zo - zs > self.max_zipf_drop:
            return CheckResult(self.name, False, value, self.thresholds(), f"much rarer: drop {zo - zs:.2f}")
        old = _archaic(candidate, ctx.tags[ctx.position])
        if old is not None:
            return CheckResult(self.name, False, value, self.thresholds(), old)
        return CheckResult(self.name, True, value, self.thresholds())


class ClosenessCheck(Check):
    """GloVe cosine between original and substitute at least ``min_cosine`` (a word missing: fails)."""

    name = "closeness"
    declared_exempt = True

    def __init__(self, *, min_cosine: float = 0.7, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_cosine = min_cosine

    def thresholds(self) -> dict[str, Any]:
        return {"min_cosine": self.min_cosine}

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        if candidate is None:
            return CheckResult(self.name, True, None, self.min_cosine)
        cos = self.resources.vectors.cosine(ctx.word, candidate)
        if cos is None:
            return CheckResult(self.name, False, None, self.min_cosine, "a word has no vector")
        return CheckResult(self.name, cos >= self.min_cosine, round(cos, 4), self.min_cosine)


class SentimentCheck(Check):
    """No polarity change (opinion lexicon, else WordNet neighbourhood: :mod:`audit.nlp.polarity`),
    no WordNet antonymy (either way, through similar-to sets), and similar strength: the words'
    projections on the GloVe sentiment axis differ by at most ``max_shift``."""

    name = "sentiment"
    declared_exempt = True

    def __init__(self, *, max_shift: float = 0.15, sense: SenseCheck | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_shift = max_shift
        self.sense = sense

    def thresholds(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift}

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        tag = ctx.tags[ctx.position]
        choice = self.sense.choice(ctx) if self.sense is not None else None
        synset = choice.synset if choice is not None else None
        lex = self.resources.lexicon
        po = polarity(ctx.word, tag, lex, synset=synset)
        if candidate is None:
            return CheckResult(self.name, po != MIXED, {"original": po}, self.thresholds())
        c = candidate.lower()
        o = ctx.word.lower()
        cand_lemmas = set(wordnet.lemmas(c, tag)) | {c}
        in_sense = choice is not None and bool(cand_lemmas & set(choice.lemmas))
        ps = polarity(c, tag, lex, synset=synset if in_sense else None)
        value: dict[str, Any] = {"original": po, "substitute": ps}
        if po == MIXED or ps == MIXED:
            return CheckResult(self.name, False, value, self.thresholds(), "polarity cannot be told")
        if po != ps:
            return CheckResult(self.name, False, value, self.thresholds(), "polarity changes")
        if c in wordnet.antonyms(o, tag) or o in wordnet.antonyms(c, tag):
            value["antonym"] = True
            return CheckResult(self.name, False, value, self.thresholds(), "WordNet antonym")
        vectors = self.resources.vectors
        so, sc = strength(o, vectors, lex), strength(c, vectors, lex)
        if so is None or sc is None:
            return CheckResult(self.name, False, value, self.thresholds(), "a word has no vector")
        value["shift"] = round(sc - so, 4)
        if abs(sc - so) > self.max_shift:
            return CheckResult(self.name, False, value, self.thresholds(), "sentiment strength differs")
        return CheckResult(self.name, True, value, self.thresholds())


class PosKeptCheck(Check):
    """The variant, re-tagged, gives the substitute the original's PTB tag (a verb stays a verb of the
    same form: "shriek" -> "shrill" becomes an adjective).  The variant is tagged as the search would
    send it (a/an adjusted); one tagger call per candidate, so the search runs it last (``lazy``)."""

    name = "pos_kept"
    lazy = True

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._memo = _Memo()

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        want = ctx.tags[ctx.position]
        if candidate is None:
            return CheckResult(self.name, True, want, want)
        key = (ctx.tokens, ctx.position, candidate)
        got: str = self._memo.get(key, lambda: self.resources.tag(apply_swap(ctx.tokens, ctx.position, candidate))[ctx.position])
        if got != want:
            return CheckResult(self.name, False, got, want, f"re-tagged {got}, was {want}")
        return CheckResult(self.name, True, got, want)
