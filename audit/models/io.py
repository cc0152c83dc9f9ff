"""Model directories: ``config.json`` + ``vocab.json`` + ``model.safetensors`` + ``metrics.json``.

Loading never unpickles: weights come from safetensors, everything else from
JSON.  Any problem (missing or truncated file, unknown architecture, a tensor
whose shape does not match the config, vocab size mismatch) raises
:class:`~audit.errors.ModelError` naming the offending file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from audit.data.tokenize import tokenize
from audit.data.vocab import Vocab
from audit.errors import ModelError
from audit.models.base import AuditModel
from audit._config import validation_message
from audit.models.config import ModelConfig, build_module

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "VOCAB_FILE",
    "WEIGHTS_FILE",
    "config_from_model",
    "fingerprint_model",
    "is_model_dir",
    "load_model",
    "load_model_ref",
    "model_fingerprint",
    "read_metrics",
    "save_model",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
_FINGERPRINT_FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE)


def config_from_model(model: AuditModel, *, training: dict[str, Any] | None = None) -> ModelConfig:
    """The :class:`ModelConfig` describing ``model``'s module."""
    rnn = model.rnn
    cell = "lstm" if isinstance(rnn, torch.nn.LSTM) else "gru"
    return ModelConfig(
        name=model.name,
        arch=("bi" + cell) if rnn.bidirectional else cell,  # type: ignore[arg-type]
        vocab_size=model.embedding.num_embeddings,
        embedding_dim=model.embedding.embedding_dim,
        hidden_size=rnn.hidden_size,
        num_layers=rnn.num_layers,
        labels=tuple(model.labels),
        training=training,
    )


def save_model(
    model: AuditModel,
    out_dir: str | Path,
    *,
    config: ModelConfig | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``out_dir`` (replaced as a whole; written to a temp dir first)."""
    out = Path(out_dir)
    cfg = config or config_from_model(model)
    if cfg.vocab_size != len(model.vocab) or cfg.vocab_size != model.embedding.num_embeddings:
        raise ModelError(
            f"config vocab_size {cfg.vocab_size} != vocab {len(model.vocab)} / embedding rows "
            f"{model.embedding.num_embeddings}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.module.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})  # one key: safetensors orders metadata at random
    (tmp / CONFIG_FILE).write_text(json.dumps(cfg.model_dump(mode="json"), indent=2, sort_keys=True), encoding="utf-8")
    model.vocab.save(tmp / VOCAB_FILE)
    (tmp / METRICS_FILE).write_text(json.dumps(dict(metrics or {}), indent=2, sort_keys=True), encoding="utf-8")
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    log.info("saved model %s to %s", cfg.name, out)
    return out


def _check_readable(path: Path, what: str) -> None:
    """Raise a ModelError naming a permission problem (safetensors reports it as a missing file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError as exc:
        raise ModelError(f"{what} is not readable: permission denied", path=path,
                         hint="make it readable by this user (e.g. chmod u+r)") from exc
    except OSError as exc:
        raise ModelError(f"cannot open the {what} ({exc.strerror or exc})", path=path) from exc
    os.close(fd)


def _read_config(path: Path) -> ModelConfig:
    if not path.is_file():
        raise ModelError("model config is missing", path=path, hint="a model directory needs config.json")
    _check_readable(path, "model config")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model config is not valid JSON ({exc})", path=path, hint="re-export the model") from exc
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(f"invalid model config: {validation_message(exc)}", path=path) from exc


def read_model_config(model_dir: str | Path) -> ModelConfig:
    """The validated ``config.json`` of a model directory (:class:`ModelError` naming the file otherwise)."""
    return _read_config(Path(model_dir) / CONFIG_FILE)


def load_model(model_dir: str | Path) -> AuditModel:
    """Load a model directory written by :func:`save_model` (no unpickling)."""
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelError("model directory does not exist", path=d, hint="train one with `audit train`")
    cfg = _read_config(d / CONFIG_FILE)
    if (d / VOCAB_FILE).is_file():
        _check_readable(d / VOCAB_FILE, "vocab file")
    vocab = Vocab.load(d / VOCAB_FILE)
    if len(vocab) != cfg.vocab_size:
        raise ModelError(f"vocab has {len(vocab)} tokens but config.json says {cfg.vocab_size}", path=d / VOCAB_FILE)
    weights = d / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError("weights file is missing", path=weights)
    _check_readable(weights, "weights file")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"weights file is truncated or corrupt ({exc})", path=weights, hint="re-export the model") from exc
    module = build_module(cfg)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"weights do not match a {cfg.arch} model: missing {missing[:4]}, unexpected {unexpected[:4]}",
            path=weights,
            hint="config.json and model.safetensors come from different models",
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ModelError(
                f"tensor {key} has shape {tuple(tensor.shape)} but a {cfg.arch} model with this config needs "
                f"{tuple(expected[key].shape)}",
                path=weights,
                hint="config.json and model.safetensors come from different models",
            )
        if not torch.isfinite(tensor).all():
            raise ModelError(f"tensor {key} holds NaN or infinite values", path=weights)
    module.load_state_dict(state)
    module.eval()
    metadata: dict[str, object] = {"path": str(d), "arch": cfg.arch, "config": cfg.model_dump(mode="json")}
    return AuditModel(module=module, vocab=vocab, tokenizer=tokenize, labels=tuple(cfg.labels), name=cfg.name, metadata=metadata)


def is_model_dir(model_dir: str | Path) -> bool:
    """True when ``model_dir`` loads cleanly."""
    try:
        load_model(model_dir)
    except ModelError:
        return False
    return True


def read_metrics(model_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a model directory ({} when absent)."""
    path = Path(model_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"metrics file is not valid JSON ({exc})", path=path) from exc
    return data if isinstance(data, dict) else {}


def model_fingerprint(ref: str | Path) -> str:
    """sha256 identifying a model.

    For a directory: over the names and bytes of config.json, vocab.json and
    model.safetensors (metrics.json is left out so re-scoring a model keeps its
    identity).  For a ``module:function`` reference: :func:`fingerprint_model`
    of the loaded model.
    """
    d = Path(ref)
    if d.is_dir():
        h = hashlib.sha256()
        for name in _FINGERPRINT_FILES:
            path = d / name
            if not path.is_file():
                raise ModelError("model file is missing", path=path)
            h.update(name.encode() + b"\0")
            _check_readable(path, "model file")
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")
        return h.hexdigest()
    return fingerprint_model(load_model_ref(str(ref)))


def fingerprint_model(model: AuditModel) -> str:
    """sha256 over a loaded model's weights, vocabulary and labels."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(model.vocab.tokens, ensure_ascii=False).encode())
    h.update(json.dumps(list(model.labels)).encode())
    return h.hexdigest()


def load_model_ref(ref: str | Path) -> AuditModel:
    """Load a model from a directory or a ``module:function`` / ``path/file.py:function`` reference."""
    text = str(ref)
    if Path(text).is_dir():
        return load_model(text)
    if ":" in text:
        from audit.models.adapter import load_adapter  # lazy: imports user code

        return load_adapter(text)
    raise ModelError(
        "not a model directory nor a module:function reference",
        path=text,
        hint="train one with `audit train` or pass e.g. mypkg.models:build_for_audit",
    )
