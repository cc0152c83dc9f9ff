"""Recipes as open lists of constraints: the built-in registry, config specs and their validation.

A recipe names a base list (``strict``: every built-in check below; ``loose``: none, so swaps
are only flagged, today's raw stress test).  ``attack.constraints`` then edits that list:

    attack:
      recipe: strict
      constraints:
        - {name: closeness, min_cosine: 0.6}         # a built-in: set its parameters (adds it if absent)
        - {name: names, enabled: false}              # drop a built-in
        - {name: sentence_meaning, min_cosine: 0.95} # an optional [meaning] check
        - {name: context_token, min_cosine: 0.8}     # the swapped word's contextual embedding (strict has 0.75)
        - {name: my_pkg.checks:MyConstraint, k: 3}   # a user Constraint subclass, built with the other keys

Parameters of built-ins are validated with pydantic (a wrong key or value is a ConfigError
naming ``attack.constraints.N``); a user constraint must be an importable
:class:`~audit.attack.constraints.Constraint` subclass taking its parameters as keywords.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from audit.attack.checks import Check, Resources
from audit.attack.constraints import Constraint
from audit.attack.grammar import FrameCheck, LicensingCheck
from audit.attack.sentence import ContextMeaningCheck, ContextTokenCheck, SentenceMeaningCheck, encoder_status
from audit.attack.strict import (
    ClosenessCheck,
    MorphologyCheck,
    MweCheck,
    NameCheck,
    NaturalnessCheck,
    ScopeCheck,
    PosKeptCheck,
    SenseCheck,
    SentimentCheck,
)
from audit.errors import ConfigError

Recipe = Literal["strict", "loose"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NoParams(_Params):
    pass


# Thresholds calibrated on the labelled validity set (benchmarks/calibrate_validity.py,
# reports/benchmarks/validity.md): all of the values below (min_zipf 0: the drop limit alone decides;
# objective: calibration precision >= 0.93, else the highest reachable target, then the best recall; round 2,
# with the context_meaning check, on all 450 round-1 pairs; held-out: round 2's fresh pairs).
class SenseParams(_Params):
    prior_weight: float = Field(default=0.1, ge=0.0, description="weight of log SemCor prior vs context cosine")
    window: int = Field(default=8, ge=1, description="context tokens on each side")
    min_substitute_share: float = Field(default=0.05, ge=0.0, le=1.0,
                                        description="the sense's share of the substitute's own SemCor use, at least")
    min_sense_prior: float = Field(default=0.4, ge=0.0, le=1.0,
                                   description="the sense's share of the original word's own SemCor use, at least")


class MorphologyParams(_Params):
    adjust_articles: bool = Field(default=True, description="fix a/an before the swapped word (else reject)")
    keep_ing_nouns: bool = Field(default=True, description="an -ing noun (offering) only becomes another -ing word")
    max_plural_gap: float = Field(default=2.0, ge=0.0,
                                  description="Zipf(noun) - Zipf(plural) above this: a mass noun, refused after a/an")


class NaturalnessParams(_Params):
    max_zipf_drop: float = Field(default=1.0, ge=0.0, description="Zipf(original) - Zipf(substitute) at most")
    min_zipf: float = Field(default=0.0, ge=0.0, le=8.0, description="Zipf(substitute) at least")


class ClosenessParams(_Params):
    min_cosine: float = Field(default=0.7, ge=-1.0, le=1.0, description="GloVe cosine at least")


class SentimentParams(_Params):
    max_shift: float = Field(default=0.15, ge=0.0, le=2.0, description="largest move along the GloVe sentiment axis")


class SentenceMeaningParams(_Params):
    min_cosine: float = Field(default=0.95, ge=-1.0, le=1.0, description="sentence-encoder cosine at least")
    cache_dir: str | None = Field(default=None, description="where the packaged weights are extracted")


class ContextMeaningParams(_Params):
    min_cosine: float = Field(default=0.9, ge=-1.0, le=1.0, description="encoder cosine of the words around the swap")
    window: int = Field(default=3, ge=1, description="tokens on each side of the swap")
    cache_dir: str | None = Field(default=None, description="where the packaged weights are extracted")


class ContextTokenParams(_Params):
    min_cosine: float = Field(default=0.75, ge=-1.0, le=1.0,
                              description="encoder cosine of the word in context: original vs substitute")
    cache_dir: str | None = Field(default=None, description="where the packaged weights are extracted")


BUILTINS: dict[str, tuple[type[Check], type[_Params]]] = {
    "mwe": (MweCheck, _NoParams),
    "names": (NameCheck, _NoParams),
    "scope": (ScopeCheck, _NoParams),
    "sense": (SenseCheck, SenseParams),
    "morphology": (MorphologyCheck, MorphologyParams),
    "frame": (FrameCheck, _NoParams),
    "licensing": (LicensingCheck, _NoParams),
    "naturalness": (NaturalnessCheck, NaturalnessParams),
    "closeness": (ClosenessCheck, ClosenessParams),
    "sentiment": (SentimentCheck, SentimentParams),
    "pos_kept": (PosKeptCheck, _NoParams),
    "sentence_meaning": (SentenceMeaningCheck, SentenceMeaningParams),
    "context_meaning": (ContextMeaningCheck, ContextMeaningParams),
    "context_token": (ContextTokenCheck, ContextTokenParams),
}
"""Built-in checks: name -> (class, parameter model).  Cheap position checks first."""

STRICT: tuple[str, ...] = ("mwe", "names", "scope", "sense", "morphology", "frame", "licensing", "naturalness", "closeness",
                           "sentiment", "pos_kept", "context_meaning", "context_token")
"""The strict recipe's checks (``context_token`` last: the most expensive; in the recipe since round 4;
``frame`` since round 6, ``licensing`` since round 7).
``context_meaning`` and ``context_token`` need the ``[meaning]`` extra: without it the recipe runs without
them and the manifest says so (what each adds: reports/benchmarks/validity.md, ablation).
``sentence_meaning`` is opt-in: add it to ``attack.constraints``."""
ENCODER_CHECKS: tuple[str, ...] = ("context_meaning", "sentence_meaning", "context_token")
"""Checks that need the sentence encoder (extra ``[meaning]``)."""
RECIPES: dict[str, tuple[str, ...]] = {"strict": STRICT, "loose": ()}


class ConstraintSpec(BaseModel):
    """One ``attack.constraints`` entry: ``name`` (built-in or ``module:Class``), ``enabled``, parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)
    enabled: bool = True

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _check(self) -> ConstraintSpec:
        if self.name in BUILTINS:
            model = BUILTINS[self.name][1]
            try:
                model.model_validate(self.params)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "?"
                raise ValueError(f"constraint {self.name!r}: {where}: {first['msg']}") from None
        elif ":" not in self.name:
            raise ValueError(f"unknown constraint {self.name!r}: use a built-in ({', '.join(BUILTINS)}) "
                             "or an import path module:Class")
        return self


def _import(path: str) -> type[Constraint]:
    module_name, _, attr = path.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"attack.constraints: cannot import {path!r} ({exc})",
                          hint="give module:Class of an importable Constraint subclass") from exc
    if not (isinstance(obj, type) and issubclass(obj, Constraint)):
        raise ConfigError(f"attack.constraints: {path!r} is not a Constraint subclass",
                          hint="subclass audit.attack.constraints.Constraint")
    return obj


def resolve(recipe: str, specs: Sequence[ConstraintSpec]) -> list[tuple[str, dict[str, Any]]]:
    """The recipe's ``(name, params)`` list after applying ``specs`` in order."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown attack.recipe {recipe!r}", hint=f"use one of {', '.join(RECIPES)}")
    items: dict[str, dict[str, Any]] = {name: {} for name in RECIPES[recipe]}
    for spec in specs:
        if not spec.enabled:
            items.pop(spec.name, None)
        else:
            items[spec.name] = {**items.get(spec.name, {}), **spec.params}
    return list(items.items())


def build(
    items: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    resources: Resources,
    declared: Mapping[str, Sequence[str]] | None = None,
) -> list[Constraint]:
    """Instantiate resolved items.  The encoder checks (:data:`ENCODER_CHECKS`) are left out (and said so
    by :func:`describe`) when the ``[meaning]`` extra is not installed."""
    out: list[Constraint] = []
    sense: SenseCheck | None = None
    for name, params in items:
        if name in BUILTINS:
            cls, model = BUILTINS[name]
            if name in ENCODER_CHECKS and encoder_status() != "available":
                continue
            kwargs = model.model_validate(dict(params)).model_dump()
            if cls is SentimentCheck:
                kwargs["sense"] = sense
            check = cls(resources=resources, declared=declared, **kwargs)
            if isinstance(check, SenseCheck):
                sense = check
            out.append(check)
        else:
            out.append(_import(name)(**dict(params)))
    return out


def describe(recipe: str, items: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The manifest's record of a recipe: its constraints with thresholds, and the encoder status."""
    constraints = []
    for name, params in items:
        if name in BUILTINS:
            full = BUILTINS[name][1].model_validate(dict(params)).model_dump()
        else:
            full = dict(params)
        constraints.append({"name": name, **full})
    names = [n for n, _ in items]
    status = encoder_status()
    def state(check: str) -> str:
        if check in names:
            return "used" if status == "available" else f"skipped ({status})"
        return f"not in the recipe (encoder {status})"

    return {"recipe": recipe, "blocking": recipe != "loose", "constraints": constraints,
            "sentence_meaning": state("sentence_meaning"), "context_meaning": state("context_meaning"),
            "context_token": state("context_token")}
