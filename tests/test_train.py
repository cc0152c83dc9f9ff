"""Training: a tiny GRU learns a synthetic task; reruns are bit-identical; ensure_reference_model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from audit.errors import ConfigError, ModelError
from audit.models.config import TrainConfig, load_train_config
from audit.models.io import load_model, model_fingerprint
from audit.models.train import ensure_reference_model, train_model

POS = ["good", "great", "superb", "lovely", "fun"]
NEG = ["bad", "awful", "dull", "boring", "poor"]
FILLER = [f"w{i}" for i in range(30)]


def write_synthetic(path: Path, n: int, seed: int) -> Path:
    """One sentiment word at a random position among filler words; label = its polarity."""
    rng = random.Random(seed)
    lines = ["label\ttext"]
    for _ in range(n):
        label = rng.randrange(2)
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(POS if label else NEG))
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(tmp_path: Path, **training: object) -> TrainConfig:
    data = {
        "train": str(write_synthetic(tmp_path / "train.tsv", 320, 1)),
        "dev": str(write_synthetic(tmp_path / "dev.tsv", 60, 2)),
        "test": str(write_synthetic(tmp_path / "test.tsv", 150, 3)),
        "labels": ["negative", "positive"],
    }
    return TrainConfig.model_validate(
        {
            "name": "tiny",
            "arch": "gru",
            "data": data,
            "model": {"embedding_dim": 12, "hidden_size": 12},
            "training": {"epochs": 4, "batch_size": 16, "lr": 0.02, "seed": 7, "threads": 1} | training,
        }
    )


def test_tiny_gru_learns_synthetic_sentiment(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    result = train_model(cfg, out_dir=tmp_path / "model", progress=False)
    assert result.metrics["test_accuracy"] >= 0.9  # chance is 0.5; held-out texts
    assert result.metrics["dev_accuracy"] == max(h.dev_accuracy for h in result.history)
    assert result.model.labels == ("negative", "positive")
    loaded = load_model(tmp_path / "model")
    assert loaded.predict_proba(["w1 w2 superb w3 w4"]).argmax().item() == 1
    assert loaded.predict_proba(["awful w5 w6 w7 w8 w9"]).argmax().item() == 0


def test_rerun_gives_bit_identical_weights(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, epochs=1, dropout=0.2)
    a = train_model(cfg, out_dir=tmp_path / "a", progress=False)
    b = train_model(cfg, out_dir=tmp_path / "b", progress=False)
    for (ka, va), (kb, vb) in zip(a.model.module.state_dict().items(), b.model.module.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert model_fingerprint(tmp_path / "a") == model_fingerprint(tmp_path / "b")
    c = train_model(tiny_config(tmp_path, epochs=1, dropout=0.2, seed=8), out_dir=None, progress=False)
    assert not torch.equal(c.model.head.weight, a.model.head.weight)


def test_max_len_is_counted(tmp_path: Path) -> None:
    result = train_model(tiny_config(tmp_path, epochs=1, max_len=5), out_dir=None, progress=False)
    lines = (tmp_path / "train.tsv").read_text().splitlines()[1:]
    expected = sum(len(line.split("\t")[1].split()) > 5 for line in lines)
    assert expected > 0 and result.metrics["truncated_train_texts"] == expected
    assert result.metrics["train_size"] == 320  # truncated, never dropped


def test_ensure_reference_model_trains_once(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, epochs=1)
    cfg_path = tmp_path / "tiny.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
    out = ensure_reference_model(cfg_path, tmp_path / "ref")
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert ensure_reference_model(cfg_path, tmp_path / "ref") == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp  # not retrained
    assert load_model(out).labels == ("negative", "positive")


def test_ensure_reference_model_refuses_invalid_dir(tmp_path: Path) -> None:
    """An existing but invalid model folder raises ModelError and is left untouched (never retrained over)."""
    cfg = tiny_config(tmp_path, epochs=1)
    cfg_path = tmp_path / "tiny.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
    out = ensure_reference_model(cfg_path, tmp_path / "ref")
    (out / "model.safetensors").write_bytes(b"broken")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ModelError, match="corrupt"):
        ensure_reference_model(cfg_path, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_config_errors_name_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\narch: gru\ndata: {train: a.tsv, dev: b.tsv}\ntraining: {epochs: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_train_config(p)
    assert info.value.path == str(p) and "training.epochs" in str(info.value)
    p.write_text("name: x\narch: gru\ndata: {train: a.tsv, dev: b.tsv}\nmodel: {hiden_size: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="model.hiden_size"):
        load_train_config(p)
    with pytest.raises(ConfigError, match="arch"):
        load_train_config(_write(tmp_path / "arch.yaml", "name: x\narch: rnn\ndata: {train: a.tsv, dev: b.tsv}\n"))
    p.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML"):
        load_train_config(p)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "configs" / "train"
    for arch in ("gru", "lstm", "bigru", "bilstm"):
        cfg = load_train_config(root / f"{arch}.yaml")
        assert cfg.arch == arch and cfg.data.train.startswith("data:")
