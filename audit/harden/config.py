"""``configs/harden.yaml``: which strategies ``audit harden`` combines, and their settings.

Validated like every other config (pydantic, ``extra="forbid"``): a misspelt key or a bad value
is a :class:`~audit.errors.ConfigError` naming the file and the dotted field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit._config import read_yaml_mapping, validate
from audit.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CounterfactualStrategy(_Strict):
    """Counterfactual augmentation for confirmed spurious drivers.

    Every training text that contains a driver is added again with the driver removed (``remove``)
    or replaced by ``<unk>`` (``unk``), keeping its label.  With ``balance`` the driver is also
    inserted, at a seeded random position, into as many training texts of every *other* label, so
    that in the augmented data the driver says nothing about the label.
    """

    enabled: bool = True
    mode: Literal["remove", "unk"] = "remove"
    balance: bool = Field(default=True, description="Also insert the driver into texts of the other labels")
    max_copies: int | None = Field(default=None, ge=1, description="Cap on added texts per driver (None: no cap)")


class AdversarialStrategy(_Strict):
    """A2T-style adversarial augmentation: strict-valid variants of *training* texts, original label.

    Correctly classified training texts are attacked with the nightly config's attack settings and
    the variant is added with the original's label.  ``keep: successful`` adds only variants that
    flipped the prediction (verified); ``keep: best`` (A2T, Yoo & Qi 2021) also adds the attack's
    final variant of a text it did *not* flip, when every swap passed the strict checks and the
    swaps lowered the original label's probability: such a variant is still label-preserving and
    adversarial in direction, and on a model the strict attack rarely breaks (a few % of texts) it
    is what gives the augmentation its size.  Texts containing words that the run's own successful
    attacks swapped are attacked first.  Variants are generated once, against the audited model,
    before training (A2T regenerates them each epoch; once is cheaper and reproducible).
    """

    enabled: bool = False
    fraction: float = Field(default=0.5, gt=0.0, le=1.0, description="Share of the training texts attacked")
    max_texts: int | None = Field(default=None, ge=1, description="Cap on attacked training texts")
    keep: Literal["successful", "best"] = Field(
        default="best", description="successful: flipped variants only; best: also unflipped strict-valid ones "
        "that lowered the original label's probability (A2T-style)")
    min_drop: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="keep: best: an unflipped variant must lower the original label's probability by more than this")


class RegulariseStrategy(_Strict):
    """REAT-mass regularisation ("right for the right reasons" with an exact decomposition).

    Adds ``weight * mean over the batch of sum_{driver positions} sum_c S(x_t)_c^2`` to the loss.
    With several ``weights`` one model is trained per weight; among the models whose dev accuracy
    is within ``dev_tolerance`` of the best, the one that relies least on the drivers in the *dev*
    set is kept: each driver is inserted into every dev text (seeded positions) and reliance is the
    share of dev predictions that insertion changes (ties: the drivers' REAT mass there).  The
    weight is tuned on dev only.  (A driver that is absent from dev -- a planted token -- gave the
    old criterion, REAT mass on dev texts that contain a driver, nothing to measure.)
    """

    enabled: bool = False
    weights: list[float] = Field(default_factory=lambda: [1.0, 10.0, 100.0], min_length=1)
    dev_tolerance: float = Field(default=0.005, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _positive(self) -> RegulariseStrategy:
        if any(w <= 0 for w in self.weights):
            raise ValueError("regularise.weights must all be > 0")
        return self


class Strategies(_Strict):
    counterfactual: CounterfactualStrategy = Field(default_factory=CounterfactualStrategy)
    adversarial: AdversarialStrategy = Field(default_factory=AdversarialStrategy)
    regularise: RegulariseStrategy = Field(default_factory=RegulariseStrategy)


class DriverSelection(_Strict):
    """Which confirmed drivers count as *spurious* (the ones the strategies act on)."""

    exclude_sentiment_words: bool = Field(
        default=True, description="Leave out words of the opinion lexicon: they are evidence, not shortcuts")
    exclude: list[str] = Field(default_factory=list, description="Never treat these words as spurious")
    include: list[str] = Field(default_factory=list, description="Treat these words as spurious drivers too")
    max_drivers: int = Field(default=20, ge=1)


class HardenConfig(_Strict):
    strategies: Strategies = Field(default_factory=Strategies)
    drivers: DriverSelection = Field(default_factory=DriverSelection)
    seed: int | None = Field(
        default=None, description="Training and augmentation seed (default: the model's training seed)")
    epochs: int | None = Field(default=None, ge=1, description="Override the training config's epochs")
    train_config: str | None = Field(
        default=None, description="Training YAML to retrain with (default: the one recorded in the model's "
        "config.json); use it when the training data has moved")


def parse_harden_config(data: object, *, source: str | Path = "<harden config>") -> HardenConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the harden config must be a mapping of keys to values", path=source)
    return validate(HardenConfig, data, path=source)


def load_harden_config(path: str | Path | None) -> HardenConfig:
    """Read ``path`` (``None``: the defaults)."""
    if path is None:
        return HardenConfig()
    data, _ = read_yaml_mapping(path)
    return parse_harden_config(data, source=Path(path))
