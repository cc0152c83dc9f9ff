"""Model directories: round trip, fingerprint, and clear ModelErrors for damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audit.errors import ModelError
from audit.models.base import AuditModel
from audit.models.io import (
    CONFIG_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    load_model,
    load_model_ref,
    model_fingerprint,
    read_metrics,
    save_model,
)

TEXTS = ["the movie is great", "a dull , boring plot .", "unknownword film"]


@pytest.mark.parametrize("arch", ["gru", "lstm", "bigru", "bilstm"])
def test_round_trip_is_bit_identical(tmp_path: Path, tiny_model_factory, arch: str) -> None:
    model: AuditModel = tiny_model_factory(arch, trained=False)
    out = save_model(model, tmp_path / "m", metrics={"dev_accuracy": 0.5})
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, "metrics.json"])
    loaded = load_model(out)
    assert loaded.labels == model.labels and loaded.vocab.tokens == model.vocab.tokens
    assert torch.equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))
    assert json.loads((out / CONFIG_FILE).read_text())["arch"] == arch
    assert read_metrics(out) == {"dev_accuracy": 0.5}
    assert load_model_ref(str(out)).labels == model.labels


def test_fingerprint_changes_with_weights(tmp_path: Path, tiny_model: AuditModel) -> None:
    a = save_model(tiny_model, tmp_path / "a")
    b = save_model(tiny_model, tmp_path / "b", metrics={"other": 1})
    assert model_fingerprint(a) == model_fingerprint(b)  # metrics.json does not count
    with torch.no_grad():
        tiny_model.head.bias.add_(1e-3)
    c = save_model(tiny_model, tmp_path / "c")
    assert model_fingerprint(c) != model_fingerprint(a)


def test_truncated_weights(tmp_path: Path, tiny_model: AuditModel) -> None:
    out = save_model(tiny_model, tmp_path / "m")
    weights = out / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelError) as info:
        load_model(out)
    assert info.value.path == str(weights) and "truncated" in str(info.value)


def test_wrong_arch_in_config(tmp_path: Path, tiny_model: AuditModel) -> None:
    out = save_model(tiny_model, tmp_path / "m")  # a GRU
    cfg = json.loads((out / CONFIG_FILE).read_text())
    cfg["arch"] = "lstm"
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as info:
        load_model(out)
    assert info.value.path == str(out / WEIGHTS_FILE) and "lstm" in str(info.value)
    cfg["arch"] = "transformer"
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as info:
        load_model(out)
    assert info.value.path == str(out / CONFIG_FILE) and "arch" in str(info.value)


def test_shape_mismatch_and_missing_files(tmp_path: Path, tiny_model: AuditModel) -> None:
    out = save_model(tiny_model, tmp_path / "m")
    cfg = json.loads((out / CONFIG_FILE).read_text())
    cfg["hidden_size"] += 1
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="shape"):
        load_model(out)
    (out / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        load_model(out)
    (out / CONFIG_FILE).unlink()
    with pytest.raises(ModelError, match="config.json"):
        load_model(out)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="module:function"):
        load_model_ref(str(tmp_path / "nowhere"))


def test_loading_never_unpickles(tmp_path: Path, tiny_model: AuditModel) -> None:
    out = save_model(tiny_model, tmp_path / "m")
    (out / WEIGHTS_FILE).write_bytes(b"\x80\x04\x95" + b"\x00" * 64)  # a pickle header, not safetensors
    with pytest.raises(ModelError, match="model.safetensors"):
        load_model(out)
