"""Adversarial audit: REAT-guided WordNet synonym swaps (TextAttack-style pieces, typed).

    transformation  WordNetSwap             where a word may go
    constraints     Stopword/Entity/PosMatch/MaxWordsChanged/NoRepeat
    checks, strict  the strict recipe's blocking checks (mwe, names, scope, sense, morphology, naturalness,
                    closeness, sentiment, pos_kept), each giving evidence (passed, value, threshold)
    sentence        ContextMeaningCheck     all-MiniLM-L6-v2 cosine of the words around the swap (strict
                                            recipe, extra [meaning]); SentenceMeaningCheck (opt-in)
    registry        recipes as open constraint lists (attack.recipe, attack.constraints)
    validity        check_swap, Validator   evidence of swaps and variants
    edit            apply_swap              a swap with a/an adjusted
    meaning         MeaningFlagger          antonym / sense_mismatch / sentiment_flip flags (loose recipe; never block)
    goal            UntargetedClassification
    estimate        ReatGuide, ReatView     REAT ranking + swap estimates from one pass (the search's guide)
    search          GreedyReatSearch        REAT-ranked greedy, exact query counting
    recipe          ReatWordNetAttack, AttackConfig, AttackResult, attack_many
    driver          driver_flip_rates, DriverFlipRate
"""

from audit.attack.constraints import (
    Constraint,
    EntityConstraint,
    MaxWordsChanged,
    NoRepeatModification,
    PosMatchConstraint,
    StopwordConstraint,
    SwapContext,
)
from audit.attack.driver import DriverFlipRate, DriverVariant, driver_flip_rates, driver_synonyms
from audit.attack.estimate import (
    Guidance,
    Guide,
    Ranker,
    RankerGuide,
    ReatGuide,
    ReatView,
    gradient_estimator,
    reat_ranker,
)
from audit.attack.goal import UntargetedClassification
from audit.attack.meaning import FLAGS, MeaningFlagger
from audit.attack.recipe import AttackConfig, AttackResult, ReatWordNetAttack, attack_many
from audit.attack.search import GreedyReatSearch, QueryCounter, Swap
from audit.attack.transformation import Transformation, WordNetSwap
from audit.attack.validity import SwapEvidence, Validator, VariantEvidence, check_swap, strict_validator

__all__ = [
    "FLAGS",
    "AttackConfig",
    "AttackResult",
    "Constraint",
    "DriverFlipRate",
    "DriverVariant",
    "EntityConstraint",
    "GreedyReatSearch",
    "Guidance",
    "Guide",
    "MaxWordsChanged",
    "MeaningFlagger",
    "NoRepeatModification",
    "PosMatchConstraint",
    "QueryCounter",
    "Ranker",
    "RankerGuide",
    "ReatGuide",
    "ReatView",
    "ReatWordNetAttack",
    "StopwordConstraint",
    "Swap",
    "SwapContext",
    "SwapEvidence",
    "Transformation",
    "UntargetedClassification",
    "Validator",
    "VariantEvidence",
    "WordNetSwap",
    "attack_many",
    "check_swap",
    "driver_flip_rates",
    "driver_synonyms",
    "gradient_estimator",
    "reat_ranker",
    "strict_validator",
]
