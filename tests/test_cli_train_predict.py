"""`audit train` and `audit predict`, run in process through audit.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.errors import EXIT_CODES
from audit.models.io import load_model



def write_synthetic(path: Path, n: int, seed: int) -> Path:
    """Sentiment word at a random position among filler words (as in test_train.py)."""
    import random

    rng = random.Random(seed)
    pos, neg, filler = ["good", "great", "superb"], ["bad", "awful", "dull"], [f"w{i}" for i in range(20)]
    lines = ["label\ttext"]
    for _ in range(n):
        label = rng.randrange(2)
        words = [rng.choice(filler) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(pos if label else neg))
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    write_synthetic(tmp / "train.tsv", 240, 1)
    write_synthetic(tmp / "dev.tsv", 40, 2)
    cfg = tmp / "tiny.yaml"
    cfg.write_text(
        "name: tiny\narch: lstm\n"
        "data: {train: unused.tsv, dev: unused.tsv, labels: [negative, positive]}\n"
        "model: {embedding_dim: 8, hidden_size: 8}\n"
        "training: {epochs: 5, batch_size: 16, lr: 0.02, seed: 3, threads: 1}\n",
        encoding="utf-8",
    )
    out = tmp / "model"
    code = main(
        ["train", "--config", str(cfg), "--arch", "gru", "--epochs", "3",
         "--train", str(tmp / "train.tsv"), "--dev", str(tmp / "dev.tsv"), "--out", str(out)]
    )
    assert code == 0
    return out


def test_train_writes_model_with_overrides(trained: Path) -> None:
    model = load_model(trained)
    assert model.metadata["arch"] == "gru"  # --arch overrode the config's lstm
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["train_size"] == 240


def test_predict_json(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["predict", "--model", str(trained), "--text", "w1 superb w2 w3", "--text", "w4 awful w5", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert all(abs(sum(r["probs"].values()) - 1) < 1e-5 for r in rows)
    assert rows[0]["text"] == "w1 superb w2 w3" and rows[0]["label_id"] == 1


def test_predict_input_file_plain(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "texts.txt"
    f.write_text("w1 great w2\nw3 dull\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", "--model", str(trained), "--input", str(f)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("positive\t") and out[1].startswith("negative\t") and out[1].endswith("w3 dull")


def test_predict_errors(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", "--model", str(trained), "--text", "   "]) == EXIT_CODES["input"]
    f = tmp_path / "texts.txt"
    f.write_text("w1 great\n\nw2\n", encoding="utf-8")
    assert main(["predict", "--model", str(trained), "--input", str(f)]) == EXIT_CODES["input"]
    assert f"{f}:2" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "missing"), "--text", "x"]) == EXIT_CODES["model"]


def test_train_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\narch: gru\ndata: {train: a.tsv, dev: b.tsv}\ntraining: {epochs: -1}\n", encoding="utf-8")
    assert main(["train", "--config", str(cfg)]) == EXIT_CODES["config"]
    assert "training.epochs" in capsys.readouterr().err
    bad = tmp_path / "train.tsv"
    bad.write_text("label\ttext\n1\tgood\n7x\tbad\n", encoding="utf-8")
    cfg.write_text(f"name: x\narch: gru\ndata: {{train: {bad}, dev: {bad}}}\n", encoding="utf-8")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "m")]) == EXIT_CODES["data"]
    assert f"{bad}:3" in capsys.readouterr().err


def test_predict_input_file_is_chunked(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More lines than one chunk: every line predicted once, in input order, in batches of at most 256."""
    from audit.cli import predict as predict_cli
    from audit.models.base import AuditModel

    texts = [f"w{i % 20} {'superb' if i % 3 else 'awful'} w{(i * 7) % 20}" for i in range(600)]
    f = tmp_path / "many.txt"
    f.write_text("\n".join(texts) + "\n", encoding="utf-8")
    sizes: list[int] = []
    real = AuditModel.predict_proba

    def spy(self: AuditModel, batch: list[str]):  # type: ignore[no-untyped-def]
        sizes.append(len(batch))
        return real(self, batch)

    monkeypatch.setattr(AuditModel, "predict_proba", spy)
    capsys.readouterr()
    assert main(["predict", "--model", str(trained), "--input", str(f), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sizes == [predict_cli.PREDICT_CHUNK, predict_cli.PREDICT_CHUNK, 600 - 2 * predict_cli.PREDICT_CHUNK]
    assert [r["text"] for r in rows] == texts
    expected = real(load_model(trained), texts)
    assert [r["label_id"] for r in rows] == expected.argmax(dim=-1).tolist()
