"""Pydantic configs: the architecture stored in ``config.json`` and the training YAML.

* :class:`ModelConfig` describes a saved reference model (``config.json``); it
  is enough to rebuild the torch module before loading the weights.
* :class:`TrainConfig` is ``configs/train/<name>.yaml``.  :func:`load_train_config`
  reads it and turns validation errors into :class:`ConfigError` naming the file
  and the dotted path of the bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from audit._config import read_yaml_mapping, validate
from audit.data.spec import DatasetSpec, ReadOptions
from audit.errors import ConfigError
from audit.models.base import RecurrentClassifier

__all__ = [
    "ARCHS",
    "Arch",
    "DataSection",
    "ModelConfig",
    "ModelSection",
    "TrainConfig",
    "TrainingSection",
    "build_module",
    "load_train_config",
]

Arch = Literal["gru", "lstm", "bigru", "bilstm"]
ARCHS: tuple[str, ...] = ("gru", "lstm", "bigru", "bilstm")
MODEL_FORMAT: Final = "reat-audit.model"
TOKENIZERS = ("treebank-sst-v1",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """What ``config.json`` of a model directory holds (plus the training config, for the record)."""

    format: Literal["reat-audit.model"] = MODEL_FORMAT
    version: Literal[1] = 1
    name: str
    arch: Arch
    vocab_size: int = Field(ge=2)
    embedding_dim: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_layers: int = Field(default=1, ge=1)
    labels: tuple[str, ...] = Field(min_length=2)
    tokenizer: Literal["treebank-sst-v1"] = "treebank-sst-v1"
    training: dict[str, Any] | None = None

    @property
    def bidirectional(self) -> bool:
        return self.arch.startswith("bi")

    @property
    def cell(self) -> str:
        return self.arch.removeprefix("bi")


def build_module(cfg: ModelConfig) -> RecurrentClassifier:
    """A freshly initialised module of the shape ``cfg`` describes (weights are not loaded)."""
    rnn_cls = nn.GRU if cfg.cell == "gru" else nn.LSTM
    rnn = rnn_cls(
        cfg.embedding_dim,
        cfg.hidden_size,
        num_layers=cfg.num_layers,
        batch_first=True,
        bidirectional=cfg.bidirectional,
    )
    embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
    head = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), len(cfg.labels))
    return RecurrentClassifier(embedding, rnn, head)


class DataSection(ReadOptions):
    """Where the training data is and how to read it (the reading options of :class:`~audit.data.spec.DatasetSpec`)."""

    train: str
    dev: str
    test: str | None = None

    def spec(self, split: str) -> DatasetSpec:
        """The :class:`DatasetSpec` of one split (``train``, ``dev`` or ``test``)."""
        path = getattr(self, split)
        if not isinstance(path, str):
            raise ConfigError(f"data.{split} is not set")
        return DatasetSpec(path=path, name=split, **self.model_dump(exclude={"train", "dev", "test"}))

    @property
    def labels(self) -> tuple[str, ...] | None:
        """Former name of ``label_names``."""
        return self.label_names


class ModelSection(_Strict):
    """Architecture hyper-parameters."""

    embedding_dim: int = Field(default=50, ge=1)
    hidden_size: int = Field(default=150, ge=1, description="per direction")
    num_layers: int = Field(default=1, ge=1)
    embeddings: str | None = Field(default=None, description="GloVe/word2vec text file (gz ok); data: paths allowed")
    freeze_embeddings: bool = True
    vocab_from_embeddings: bool = Field(
        default=True, description="also give every (lowercase) word of the vector file a vocab entry"
    )
    min_freq: int = Field(default=1, ge=1)
    max_vocab: int | None = Field(default=None, ge=2)
    unk_scale: float = Field(default=0.1, ge=0.0)


class TrainingSection(_Strict):
    """Optimisation settings (paper recipe: Adam 1e-3, 20 epochs, best on dev)."""

    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    dropout: float = Field(default=0.0, ge=0, lt=1, description="training-only dropout on embeddings and final state")
    grad_clip: float | None = Field(default=5.0, gt=0)
    seed: int = 0
    max_len: int | None = Field(default=None, ge=1, description="truncate longer training texts (counted, reported)")
    patience: int | None = Field(default=None, ge=1, description="stop after this many epochs without dev gain")
    bucket: bool = Field(default=True, description="batch texts of similar length together")
    threads: int | None = Field(
        default=None,
        ge=1,
        description="torch threads; default: the CPU count. Results depend on it (float summation order), "
        "so pin it for bit-identical reruns across machines",
    )


class TrainConfig(_Strict):
    """``configs/train/<name>.yaml``."""

    name: str
    arch: Arch = "gru"
    data: DataSection
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    out: str | None = Field(default=None, description="model directory; default artifacts/models/<name>")

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("artifacts") / "models" / self.name


def load_train_config(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training YAML file.

    ``overrides`` maps dotted paths (``"training.epochs"``, ``"arch"``) to values
    and is applied before validation (the CLI's ``--epochs`` etc.).
    """
    p = Path(path)
    raw, _ = read_yaml_mapping(p)
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot override {dotted}: {key} is not a mapping", path=p)
        node[leaf] = value
    return validate(TrainConfig, raw, path=p, hint="see configs/train/gru.yaml for the fields")
