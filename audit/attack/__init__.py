"""Adversarial audit: REAT-guided WordNet synonym swaps (TextAttack-style pieces, typed).

    transformation  WordNetSwap             where a word may go
    constraints     Stopword/Entity/PosMatch/MaxWordsChanged/NoRepeat
    meaning         MeaningFlagger          antonym / sense_mismatch / sentiment_flip flags (never block)
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
    "Transformation",
    "UntargetedClassification",
    "WordNetSwap",
    "attack_many",
    "driver_flip_rates",
    "driver_synonyms",
    "gradient_estimator",
    "reat_ranker",
]
