"""The nightly audit job's configuration (``configs/nightly.yaml``).

Validated declaratively with pydantic (``extra="forbid"`` everywhere, so a
misspelt key is an error, not a silently ignored option).  Any validation
problem becomes a :class:`~audit.errors.ConfigError` naming the file and the
dotted path of the offending field, e.g.
``configs/nightly.yaml: attack.max_words_changed: Input should be a valid integer``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.attack import AttackConfig
from audit._config import read_yaml_mapping, validate
from audit.errors import ConfigError
from audit.findings.config import FindingsConfig  # the findings stage's options (owned by audit.findings)
from audit.gate import GateConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """One labelled dataset: where it is and how to read it."""

    path: str = Field(description="File path, or data:sst2/test.tsv relative to AUDIT_DATA_DIR")
    name: str | None = Field(default=None, description="Name used in the run tables (default: file stem)")
    text_column: str = "text"
    label_column: str = "label"
    label_map: dict[str, int] | None = Field(default=None, description="Raw label value -> class index")
    fmt: str | None = Field(default=None, description="tsv|csv|jsonl|parquet (default: from the suffix)")


class EngineAttackConfig(AttackConfig):
    """The attack library's settings plus the job's own knobs for the attack stage."""

    enabled: bool = Field(default=True, description="Run the adversarial stage at all")
    max_texts: int | None = Field(default=None, ge=0, description="Attack at most this many correct texts (None: all)")
    flip_top_words: int = Field(default=10, ge=0, description="Driver words whose flip rate is measured")
    flip_words: list[str] = Field(
        default_factory=list,
        description="Words whose flip rate is always measured, besides the top driver words (e.g. the paper's "
        "terribly / extremely; declare such pairs in extra_synonyms when WordNet does not link them)",
    )

    def library_config(self) -> AttackConfig:
        """The plain :class:`AttackConfig` for the attack library (job-only fields dropped)."""
        fields = AttackConfig.model_fields
        data = {k: v for k, v in self.model_dump().items() if k in fields}
        return AttackConfig.model_validate(data)


class NightlyConfig(_Strict):
    """Everything ``audit run`` needs."""

    model: str = Field(description="Model directory or module:function adapter")
    train_config: str | None = Field(default=None, description="Training config used when the model dir is missing")
    datasets: list[DatasetSpec] = Field(min_length=1)
    train_data: DatasetSpec | None = Field(default=None, description="Training data, for driver words' label counts")
    attack: EngineAttackConfig = Field(default_factory=EngineAttackConfig)
    findings: FindingsConfig = Field(default_factory=FindingsConfig)
    max_len: int | None = Field(default=None, ge=1, description="Tokens kept per text; longer texts are counted")
    batch_size: int = Field(default=64, ge=1)
    seed: int = 0
    threads: int = Field(default=1, ge=1, description="torch CPU threads (fixed so reruns are bit-identical)")
    store: str = "reports/runs"
    gate: GateConfig = Field(default_factory=GateConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> NightlyConfig:
        names = [dataset_name(d) for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique (set `name`): {', '.join(dupes)}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        """sha256 of the canonical JSON form of the configuration."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dataset_name(spec: DatasetSpec) -> str:
    """The dataset's name in run tables: ``name`` or the file stem (``data:sst2/test.tsv`` -> ``sst2/test``)."""
    if spec.name:
        return spec.name
    text = spec.path[len("data:") :] if spec.path.startswith("data:") else Path(spec.path).name
    return str(Path(text).with_suffix("")).replace("\\", "/")


def parse_config(data: object, *, source: str | Path = "<config>") -> NightlyConfig:
    """Validate an already-parsed mapping; errors name ``source`` and the field path."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys to values", path=source)
    return validate(NightlyConfig, data, path=source)


def load_config(path: str | Path) -> NightlyConfig:
    """Read and validate a nightly YAML config."""
    data, _ = read_yaml_mapping(path)
    return parse_config(data, source=Path(path))
