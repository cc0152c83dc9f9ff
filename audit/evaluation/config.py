"""Configuration of ``audit evaluate`` (the paper's section 4), validated with pydantic.

A config names one labelled test set, the models to evaluate (loaded from a
model directory, or trained there first from a training config), the
attribution methods with their cost knobs, and the options of each section.
Unknown keys are errors (``extra="forbid"``), so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit._config import read_yaml_mapping, validate
from audit.data.spec import DatasetSpec, resolve_spec_path

PAPER_METHODS: tuple[str, ...] = ("vanilla_grad", "integrated_gradients", "grad_input", "lime", "naive_reat", "reat")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DatasetConfig = DatasetSpec
"""The labelled texts the evaluation runs on: the one dataset spec (:class:`audit.data.spec.DatasetSpec`)."""


class ModelEntry(_Strict):
    """One model: ``dir`` is loaded; when it holds no model it is trained there first, from the
    training YAML ``train_config`` or the inline training config ``train`` (``configs/train`` schema)."""

    name: str
    dir: str
    train_config: str | None = None
    train: dict[str, Any] | None = None
    train_data: DatasetConfig | None = Field(
        default=None, description="with `train`: read the training set like the test set (e.g. a headerless CSV)"
    )
    dev_data: DatasetConfig | None = None
    paper_column: str | None = Field(default=None, description="the paper's column for this model (GRU, LSTM, BiGRU)")

    @model_validator(mode="after")
    def _one_training_source(self) -> ModelEntry:
        if self.train_config is not None and self.train is not None:
            raise ValueError(f"model {self.name!r}: give train_config or train, not both")
        if (self.train_data is None) != (self.dev_data is None):
            raise ValueError(f"model {self.name!r}: train_data and dev_data go together")
        if self.train_data is not None and self.train is None:
            raise ValueError(f"model {self.name!r}: train_data needs an inline `train` config")
        return self


class MethodEntry(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class FaithfulnessConfig(_Strict):
    """Eq. 23: texts of two clauses joined by a conjunction; delete the higher-scored clause."""

    enabled: bool = True
    conjunction: str = "but"
    min_clause_tokens: int = Field(
        default=3, ge=1, description="non-punctuation tokens on each side of the conjunction"
    )
    conjunction_goes_with: Literal["second", "neither"] = Field(
        default="second",
        description="'second': the conjunction belongs to (is scored and deleted with) the clause it introduces; "
        "'neither': it is never scored and always kept",
    )
    max_texts: int | None = Field(default=None, ge=1)
    sensitivity: bool = Field(
        default=True,
        description="also report the scores with min_clause_tokens=1 and with the other conjunction placement "
        "(same attributions, different clauses)",
    )


class InterpretabilityConfig(_Strict):
    """Eq. 24: texts holding both a positive and a negative lexicon word."""

    enabled: bool = True
    positive_lexicon: str = "data:opinion_lexicon/positive-words.txt"
    negative_lexicon: str = "data:opinion_lexicon/negative-words.txt"
    adjectives_only: bool = Field(default=True, description="count only lexicon words tagged JJ, JJR or JJS")
    aggregation: Literal["mean", "sum", "all_pairs"] = "mean"
    max_texts: int | None = Field(default=None, ge=1)
    sensitivity: bool = Field(
        default=True, description="also report the scores under the other adjectives_only setting"
    )
    sensitivity_methods: tuple[str, ...] | None = Field(
        default=None,
        description="methods scored under the sensitivity rule (None: all); the costly ones can be left out",
    )


class PatternsConfig(_Strict):
    """Section 4.7: REAT score distribution per PTB POS tag (verb forms always merged into VB, as in the paper)."""

    enabled: bool = True
    min_count: int = Field(default=20, ge=1, description="tags with fewer tokens are tabled but not plotted or ranked")
    exclude_tags: tuple[str, ...] = Field(
        default=(), description="tags left out of the chart and rankings (e.g. punctuation)"
    )


class Substitution(_Strict):
    source: str
    replacement: str


class CaseConfig(_Strict):
    text: str
    substitutions: tuple[Substitution, ...]


class SearchCaseConfig(_Strict):
    """Dataset texts containing ``word`` and predicted ``predicted_label`` get ``word`` -> ``replacement``."""

    word: str
    replacement: str
    predicted_label: int


class MisbehaviourConfig(_Strict):
    """Section 4.8: word score distributions, failure walk-through, substitution cases."""

    enabled: bool = True
    words: tuple[str, ...] = ("terrible", "terribly")
    words_target: int = Field(
        default=1, ge=0, description="class index the word scores are taken toward (Fig. 8: positive)"
    )
    top_k: int = Field(default=3, ge=1)
    sample_size: int = Field(default=10, ge=0, description="failures shown in the Markdown report (all go to JSON)")
    case_model: str | None = Field(default="lstm", description="model name the substitution cases run on")
    cases: tuple[CaseConfig, ...] = ()
    searches: tuple[SearchCaseConfig, ...] = ()


class HierarchicalConfig(_Strict):
    enabled: bool = True
    text: str = "the story may be new , but the movie does n't serve up lots of laughs ."
    png: bool = True


class EvalConfig(_Strict):
    """Top level of ``configs/paper/*.yaml``."""

    name: str
    note: str | None = Field(default=None, description="printed at the top of report.md (caveats, pointers)")
    seed: int = 0
    batch_size: int = Field(default=64, ge=1)
    threads: int | None = Field(
        default=1,
        ge=1,
        description="torch threads while evaluating (small RNNs run fastest on one; None: torch default)",
    )
    paper_reference: Literal["sst2", "yelp"] | None = Field(
        default=None, description="which of the paper's columns our figures are set against"
    )
    positive_class: int = Field(default=1, ge=0, description="class index of the positive label")
    dataset: DatasetConfig
    models: tuple[ModelEntry, ...]
    methods: tuple[MethodEntry, ...] = tuple(MethodEntry(name=m) for m in PAPER_METHODS)
    faithfulness: FaithfulnessConfig = FaithfulnessConfig()
    interpretability: InterpretabilityConfig = InterpretabilityConfig()
    patterns: PatternsConfig = PatternsConfig()
    misbehaviour: MisbehaviourConfig = MisbehaviourConfig()
    hierarchical: HierarchicalConfig = HierarchicalConfig()
    charts: Literal["png", "html", "both"] = "both"

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: tuple[ModelEntry, ...]) -> tuple[ModelEntry, ...]:
        names = [m.name for m in value]
        if not names:
            raise ValueError("at least one model is needed")
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        return value

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, value: tuple[MethodEntry, ...]) -> tuple[MethodEntry, ...]:
        names = [m.name for m in value]
        if len(set(names)) != len(names):
            raise ValueError(f"method names must be unique, got {names}")
        return value

    @model_validator(mode="after")
    def _case_model_known(self) -> EvalConfig:
        cm = self.misbehaviour.case_model
        if cm is not None and cm not in {m.name for m in self.models}:
            raise ValueError(f"misbehaviour.case_model {cm!r} is not one of the models {[m.name for m in self.models]}")
        return self


def config_hash(text: str) -> str:
    """sha256 of the config file's bytes (what the report cites)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_config(path: str | Path) -> tuple[EvalConfig, str]:
    """Read and validate a YAML config. Returns ``(config, sha256 of the file)``."""
    raw, text = read_yaml_mapping(path)
    return validate(EvalConfig, raw, path=Path(path)), config_hash(text)


def resolve_path(value: str, *, base: Path) -> Path:
    """Resolve a config path: ``data:``/``${AUDIT_DATA_DIR}`` via settings, relative ones against ``base``."""
    return resolve_spec_path(value, base=base)
