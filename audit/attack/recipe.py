"""The REAT-guided WordNet swap attack: config, result, recipe."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audit.attack.checks import Check, Resources
from audit.attack.constraints import (
    Constraint,
    EntityConstraint,
    MaxWordsChanged,
    NoRepeatModification,
    PosMatchConstraint,
    StopwordConstraint,
)
from audit.attack.estimate import Guide, Ranker, RankerGuide, ReatGuide, gradient_estimator, reat_estimator
from audit.attack.goal import UntargetedClassification, argmax
from audit.attack.meaning import MeaningFlagger
from audit.attack.registry import ConstraintSpec, Recipe, build, describe, resolve
from audit.attack.search import GreedyReatSearch, QueryCounter, Swap, Tagger
from audit.attack.transformation import Transformation, WordNetSwap, symmetric_pairs
from audit.attack.validity import Validator, VariantEvidence
from audit.errors import InputError
from audit.models.base import AuditModel

logger = logging.getLogger(__name__)


def make_guide(estimator: str, ranker: Ranker | None = None) -> Guide:
    """The search's guide: REAT ranking (or ``ranker``) plus the named candidate estimator."""
    if ranker is None and estimator == "reat":
        return ReatGuide()  # ranking and estimates from one pass
    est = {"reat": reat_estimator, "gradient": gradient_estimator, "none": None}[estimator]
    return RankerGuide(ranker, est)


class AttackConfig(BaseModel):
    """Options of :class:`ReatWordNetAttack` (``None`` caps mean no cap)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_words_changed: int | None = Field(default=4, ge=1)
    max_fraction: float | None = Field(default=0.25, gt=0.0, le=1.0)
    query_budget: int | None = Field(default=500, ge=1)
    max_candidates: int | None = Field(default=30, ge=1)
    require_in_vocab: bool = True
    skip_stopwords: bool = True
    skip_entities: bool = True
    pos_match: bool = True
    attack_misclassified: bool = False
    expand_intensifiers: bool = False
    """Add sibling intensifier adverbs (terribly -> extremely, very); a WordNet gloss heuristic."""
    extra_synonyms: dict[str, list[str]] = Field(default_factory=dict)
    """Declared synonym pairs, symmetric, e.g. ``{"terribly": ["extremely", "very"]}``."""
    sense_top_k: int = Field(default=2, ge=1)
    """``sense_mismatch`` flags candidates sharing none of the original's top-k senses."""
    retry_positions: bool = True
    """Re-try, after later swaps, a position none of whose candidates helped (False saves ~10% queries)."""
    min_gain: float = Field(default=0.15, ge=0.0, le=1.0)
    """Accept a swap at once only if it lowers the original class's probability by this much (see GreedyReatSearch)."""
    batch_size: int | None = Field(default=1, ge=1)
    """Evaluate a position's candidates in chunks of this size, stopping early on success (None: all at once)."""
    patience: int | None = Field(default=1, ge=1)
    """Weak positions (gain below ``min_gain``) tried in a round before the best weak swap is taken."""
    estimator: Literal["reat", "gradient", "none"] = "reat"
    """How candidates are ordered before they are sent: ``reat`` (REAT view: exact swapped cell plus
    state gradient, from the same pass as the REAT ranking), ``gradient`` (embedding gradient, one
    more pass per round) or ``none`` (WordNet order)."""
    window: int | None = Field(default=5, ge=1)
    """Pool the candidates of this many REAT-ranked positions, ordered by the estimate (None: all)."""
    max_estimate: float | None = 0.0
    """Do not send candidates whose estimated change of log p(class) is above this (None: send all)."""
    group_sends: int | None = Field(default=3, ge=1)
    """Send at most this many candidates per group of positions (None: all)."""
    max_weak: int | None = Field(default=None, ge=0)
    """At most this many swaps below ``min_gain`` per text (None: no limit)."""
    candidate_senses: int | None = Field(default=None, ge=1)
    """Only candidates from the original word's k most frequent WordNet senses (None: all senses)."""
    recipe: Recipe = "strict"
    """``strict`` (default): the validity checks of :mod:`audit.attack.strict` block candidates before
    they are sent; ``loose``: the raw stress test, swaps only flagged (:mod:`audit.attack.meaning`).
    Either way every variant carries the strict checks' evidence and a ``valid`` verdict."""
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    """Edits of the recipe's constraint list (see :mod:`audit.attack.registry`)."""
    vectors: str | None = None
    """Word-vector file for the closeness and sense checks (``data:`` prefix allowed; None: the shared GloVe 50d)."""

    @field_validator("extra_synonyms")
    @classmethod
    def _lower(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {k.lower(): [s.lower() for s in v] for k, v in value.items()}


@dataclass
class AttackResult:
    """Outcome of attacking one text. ``status``: ``succeeded``, ``failed`` or ``skipped``."""

    original: list[str]
    variant: list[str]
    swaps: list[Swap]
    gold: int | None
    probs_before: list[float]
    probs_after: list[float]
    pred_before: int
    pred_after: int
    flipped: bool
    verified: bool
    queries: int
    """All model queries: initial prediction + REAT ranking passes + candidate texts."""
    rank_queries: int
    words_changed: int
    meaning_flags: list[str]
    status: str
    stop_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    recipe: str = "strict"
    evidence: VariantEvidence | None = None
    """The strict checks' evidence for every swap (None when nothing was swapped)."""

    @property
    def valid(self) -> bool:
        """Every swap passed every strict check (a variant with no swap is not valid)."""
        return self.evidence is not None and self.evidence.valid

    @property
    def declared(self) -> bool:
        return self.evidence is not None and self.evidence.declared

    @property
    def direction(self) -> str:
        """``break`` when the attack started from a correct prediction (or no gold), else ``fix``."""
        return "break" if self.gold is None or self.pred_before == self.gold else "fix"

    @property
    def constrained(self) -> bool:
        """No meaning flag on any swap."""
        return not self.meaning_flags

    @property
    def constrained_success(self) -> bool:
        return self.flipped and self.verified and self.constrained

    def to_row(self) -> dict[str, Any]:
        """Fields of the ``variants`` table this result owns."""
        return {
            "original": " ".join(self.original),
            "variant": " ".join(self.variant),
            "swaps": [s.to_dict() for s in self.swaps],
            "gold": self.gold,
            "pred_before": self.pred_before,
            "probs_before": list(self.probs_before),
            "pred_after": self.pred_after,
            "probs_after": list(self.probs_after),
            "flipped": self.flipped,
            "verified": self.verified,
            "queries": self.queries,
            "words_changed": self.words_changed,
            "meaning_flags": list(self.meaning_flags),
            "constrained": self.constrained,
            "recipe": self.recipe,
            "valid": self.valid,
            "direction": self.direction,
            "declared": self.declared,
            "evidence": self.evidence.to_dict() if self.evidence is not None else {},
        }


class ReatWordNetAttack:
    """Greedy REAT-ranked WordNet synonym swaps (TextAttack-style: transformation,
    constraints, goal, search).  Cheap to build; NLTK data loads on first attack.

    ``ranker`` and ``tagger`` can be replaced (tests, other importance measures).
    """

    def __init__(self, config: AttackConfig | None = None, *, ranker: Ranker | None = None, tagger: Tagger | None = None) -> None:
        self.config = config or AttackConfig()
        self.goal = UntargetedClassification(attack_misclassified=self.config.attack_misclassified)
        c = self.config
        self.search = GreedyReatSearch(
            guide=make_guide(c.estimator, ranker), tagger=tagger, retry_positions=c.retry_positions, min_gain=c.min_gain,
            batch_size=c.batch_size, patience=c.patience, window=c.window, max_weak=c.max_weak,
            max_estimate=c.max_estimate, group_sends=c.group_sends,
        )
        self.flagger = MeaningFlagger(
            top_k=self.config.sense_top_k,
            expand_intensifiers=self.config.expand_intensifiers,
            extra_synonyms=self.config.extra_synonyms,
        )
        self._tagger = tagger
        self.resources = Resources(vectors_path=self.config.vectors, tagger=tagger)
        self._declared = symmetric_pairs(self.config.extra_synonyms)
        self._items = resolve(self.config.recipe, self.config.constraints)
        self._recipe_constraints: list[Constraint] | None = None
        self._validator: Validator | None = None

    def recipe_constraints(self) -> list[Constraint]:
        """The recipe's blocking checks and user constraints (built once, they hold caches)."""
        if self._recipe_constraints is None:
            self._recipe_constraints = build(self._items, resources=self.resources, declared=self._declared)
        return self._recipe_constraints

    @property
    def validator(self) -> Validator:
        """The strict checks that judge every variant (the recipe's own when it is strict)."""
        if self._validator is None:
            if self.config.recipe == "strict":
                checks = [c for c in self.recipe_constraints() if isinstance(c, Check)]
            else:
                strict_items = [(n, p) for n, p in resolve("strict", self.config.constraints) if ":" not in n]
                checks = [c for c in build(strict_items, resources=self.resources, declared=self._declared)
                          if isinstance(c, Check)]
            self._validator = Validator(checks, declared=self._declared, resources=self.resources)
        return self._validator

    def describe(self) -> dict[str, Any]:
        """The manifest record: recipe, its constraints and thresholds, sentence-encoder status."""
        return describe(self.config.recipe, self._items)

    def transformation(self, model: AuditModel) -> Transformation:
        c = self.config
        return WordNetSwap(
            vocab=model.vocab if c.require_in_vocab else None,
            # strict: the checks prune (sense first); a cap before them could cut the sense that fits
            max_candidates=None if c.recipe == "strict" else c.max_candidates,
            expand_intensifiers=c.expand_intensifiers,
            extra_synonyms=c.extra_synonyms,
            max_sense_rank=c.candidate_senses,
        )

    def constraints(self) -> list[Constraint]:
        """Cheap position checks first, then the recipe's checks, the re-tagging POS check last."""
        c = self.config
        out: list[Constraint] = [NoRepeatModification(), MaxWordsChanged(max_words=c.max_words_changed, max_fraction=c.max_fraction)]
        if c.skip_stopwords:
            out.append(StopwordConstraint())
        if c.skip_entities:
            out.append(EntityConstraint())
        out += self.recipe_constraints()
        if c.pos_match:
            out.append(PosMatchConstraint(tagger=self._tagger))
        return out

    def attack(
        self, model: AuditModel, tokens: Sequence[str], *, gold: int | None, raw_tokens: Sequence[str] | None = None
    ) -> AttackResult:
        """Attack one tokenized text. ``raw_tokens``: the same tokens in original casing, if known."""
        if not tokens:
            raise InputError("cannot attack an empty text", hint="pass a non-empty token list")
        if raw_tokens is not None and len(raw_tokens) != len(tokens):
            raise InputError("raw_tokens must align with tokens")
        counter = QueryCounter(model, budget=self.config.query_budget)
        probs = counter.predict([tokens])[0]
        pred = argmax(probs)
        if not self.goal.should_attack(pred, gold):
            return AttackResult(
                original=list(tokens), gold=gold, probs_before=probs, pred_before=pred, variant=list(tokens), swaps=[], probs_after=probs, pred_after=pred, flipped=False, verified=False,
                queries=counter.used, rank_queries=0, words_changed=0, meaning_flags=[], status="skipped",
                stop_reason="misclassified", recipe=self.config.recipe,
            )
        outcome = self.search.run(
            counter, tokens, pred=pred, probs=probs, goal=self.goal, transformation=self.transformation(model),
            constraints=self.constraints(), raw_tokens=raw_tokens,
        )
        swaps = [
            s if s.pos == "DT" else
            Swap(s.position, s.original, s.replacement, s.pos, tuple(self.flagger.flags(s.original, s.replacement, s.pos)))
            for s in outcome.swaps
        ]
        evidence = self.validator.variant(tokens, [s.to_dict() for s in swaps]) if swaps else None
        flags = sorted({f for s in swaps for f in s.flags})
        flipped = outcome.pred != pred
        verified = False
        if flipped:  # re-predict the final variant from scratch (not counted as a search query)
            fresh = model.predict_proba_tokens([outcome.tokens])[0].tolist()
            verified = argmax(fresh) != pred and argmax(fresh) == outcome.pred
        return AttackResult(
            original=list(tokens), gold=gold, probs_before=probs, pred_before=pred, variant=outcome.tokens, swaps=swaps, probs_after=outcome.probs, pred_after=outcome.pred,
            flipped=flipped, verified=verified, queries=counter.used, rank_queries=counter.rank_queries,
            extra={"estimated": counter.estimated},
            words_changed=sum(1 for a, b in zip(tokens, outcome.tokens) if a != b), meaning_flags=flags,
            status="succeeded" if flipped and verified else "failed", stop_reason=outcome.stop_reason,
            recipe=self.config.recipe, evidence=evidence,
        )

    def attack_many(
        self,
        model: AuditModel,
        token_lists: Sequence[Sequence[str]],
        golds: Sequence[int | None] | None = None,
        *,
        progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    ) -> list[AttackResult]:
        """Attack each text; ``progress`` wraps the iteration (e.g. ``tqdm``)."""
        gold_list = list(golds) if golds is not None else [None] * len(token_lists)
        if len(gold_list) != len(token_lists):
            raise InputError(f"{len(token_lists)} texts but {len(gold_list)} gold labels")
        pairs: Iterable[Any] = list(zip(token_lists, gold_list))
        if progress is not None:
            pairs = progress(pairs)
        return [self.attack(model, toks, gold=g) for toks, g in pairs]


def attack_many(
    model: AuditModel,
    token_lists: Sequence[Sequence[str]],
    golds: Sequence[int | None] | None = None,
    *,
    config: AttackConfig | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    ranker: Ranker | None = None,
) -> list[AttackResult]:
    """Module-level helper: ``ReatWordNetAttack(config).attack_many(...)``."""
    return ReatWordNetAttack(config, ranker=ranker).attack_many(model, token_lists, golds, progress=progress)
