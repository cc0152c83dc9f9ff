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
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.attack import AttackConfig
from audit._config import read_yaml_mapping, validate
from audit.data.spec import DatasetSpec, dataset_name  # the one dataset spec, re-exported
from audit.errors import ConfigError
from audit.findings.config import FindingsConfig  # the findings stage's options (owned by audit.findings)
from audit.gate import GateConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineAttackConfig(AttackConfig):
    """The attack library's settings plus the job's own knobs for the attack stage."""

    enabled: bool = Field(default=True, description="Run the adversarial stage at all")
    max_texts: int | None = Field(default=None, ge=0, description="Attack at most this many correct texts of each dataset (None: all)")
    flip_top_words: int = Field(default=10, ge=0, description="Driver words whose flip rate is measured")
    flip_max_texts: int | None = Field(
        default=100_000, ge=1,
        description="The driver-word flip probes visit at most the first this many texts of each dataset (table "
        "order; None: all): they hold those texts' tokens and POS tags, so a 1M-text run's probes stay bounded")
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


# ----------------------------------------------------------------------- executor (owner: ray, issue 14)
EXECUTION_KEYS = ("executor", "ray", "stream")
"""How the job is executed, not what it computes: left out of :meth:`NightlyConfig.config_hash` (and so of
the run key), because every executor writes the same tables.  A run started locally can be resumed on Ray
and vice versa; the manifest records the executor that ran (``executor``, ``ray``)."""
ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = get_args(ExecutorName)
"""The executor names ``executor:`` and ``audit run --executor`` accept."""


class RayConfig(_Strict):
    """The Ray executor's settings (used only with ``executor: ray``); see docs/scale-out.md."""

    address: str | None = Field(
        default=None, description="Ray cluster address ('auto', 'ray://host:10001'); None: start a local Ray "
        "with num_actors * cpus_per_actor CPUs (or join the Ray already initialised in this process)")
    num_actors: int = Field(default=2, ge=1, description="Actors in the pool (map_batches compute=ActorPoolStrategy(size=))")
    batch_size: int = Field(default=1, ge=1, description="Chunks handed to an actor per call; each chunk is "
                            "the job's batch_size texts, the unit of resume")
    cpus_per_actor: float = Field(default=1.0, gt=0, description="CPUs reserved per actor")
    gpus_per_actor: float = Field(default=0.0, ge=0, description="GPUs reserved per actor when the cluster "
                                  "has GPUs (0: none)")
    max_retries: int = Field(default=3, ge=0, description="Restarts of a dead actor and retries of its chunk "
                             "before the job fails (exit 8; rerun to resume)")


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
    executor: ExecutorName = Field(default="local", description="Where the chunks run: this process "
                                              "or a Ray actor pool (same tables)")
    ray: RayConfig = Field(default_factory=RayConfig)
    stream: bool = Field(default=False, description="Read the datasets block by block instead of whole "
                         "(bounded memory during prediction and attribution; same tables)")

    @model_validator(mode="after")
    def _unique_names(self) -> NightlyConfig:
        names = [dataset_name(d) for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique (set `name`): {', '.join(dupes)}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def job_dict(self) -> dict[str, Any]:
        """:meth:`as_dict` without the execution settings: what the manifest records as ``config``."""
        return {k: v for k, v in self.as_dict().items() if k not in EXECUTION_KEYS}

    def execution_dict(self) -> dict[str, Any]:
        """The execution settings for the manifest's ``execution`` entry (``ray`` only with ``executor: ray``)."""
        data = self.as_dict()
        return {"stream": data["stream"], "ray": data["ray"] if self.executor == "ray" else None}

    def config_hash(self) -> str:
        """sha256 of the canonical JSON form of the configuration, execution settings left out
        (:data:`EXECUTION_KEYS`: they change where the job runs, never its tables)."""
        text = json.dumps(self.job_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_config(data: object, *, source: str | Path = "<config>") -> NightlyConfig:
    """Validate an already-parsed mapping; errors name ``source`` and the field path."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping of keys to values", path=source)
    return validate(NightlyConfig, data, path=source)


def load_config(path: str | Path) -> NightlyConfig:
    """Read and validate a nightly YAML config."""
    data, _ = read_yaml_mapping(path)
    return parse_config(data, source=Path(path))
