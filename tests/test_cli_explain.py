"""`audit explain`, `audit data check` and the HTML rendering, in process."""

from __future__ import annotations

import json
from pathlib import Path

import nltk
import numpy as np
import pytest
import torch
from torch import nn

from audit.attribution.render import heatmap_html, heatmap_rich, page_html
from audit.cli import main
from audit.data.vocab import Vocab
from audit.models.base import AuditModel, RecurrentClassifier

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audit.models.io import save_model

    torch.manual_seed(0)
    words = ["<pad>", "<unk>", "the", "movie", "is", "great", "bad", ",", "but"]
    module = RecurrentClassifier(nn.Embedding(len(words), 6, padding_idx=0), nn.LSTM(6, 5, batch_first=True), nn.Linear(5, 2))
    model = AuditModel(module=module, vocab=Vocab(words), tokenizer=str.split, labels=("negative", "positive"))
    return save_model(model, tmp_path_factory.mktemp("m") / "model")


def test_explain_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", "--model", str(model_dir), "--text", "the movie is great , but bad", "--json", "--level", "all", "--target", "positive"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == ["the", "movie", "is", "great", ",", "but", "bad"]
    assert data["target"] == 1 and data["target_label"] == "positive"
    assert sum(data["scores"]) + data["bias"] == pytest.approx(data["logit"], abs=1e-5)
    assert data["completeness_delta"] < 1e-5
    assert set(data["levels"]) == {"word", "phrase", "clause"}


def test_explain_terminal_and_html(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--model", str(model_dir), "--text", "the movie is bad", "--level", "clause"]) == 0
    out = capsys.readouterr().out
    assert "prediction:" in out and "clause level" in out
    page = tmp_path / "out" / "x.html"
    assert main(["explain", "--model", str(model_dir), "--text", f"great {XSS}", "--html", str(page), "--method", "grad_input"]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<img" not in text and "onerror=alert" in text and ">&lt;</span>" in text  # tokenizer splits off "<"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--text", "  "], 6),
        (["--text", "great", "--target", "9"], 6),
        (["--text", "great", "--method", "nope"], 6),
        (["--text", "great", "--level", "sentence"], 6),
    ],
)
def test_explain_errors(model_dir: Path, args: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--model", str(model_dir), *args]) == code
    assert "error:" in capsys.readouterr().err


def test_explain_missing_model(tmp_path: Path) -> None:
    assert main(["explain", "--model", str(tmp_path / "nope"), "--text", "great"]) == 5


def test_data_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [])
    assert main(["data", "check"]) == 4
    captured = capsys.readouterr()
    assert "MISSING" in captured.out and "audit data fetch" in captured.err


def test_heatmap_html_escapes_and_centres_colours() -> None:
    frag = heatmap_html([XSS, "ok", "neg"], np.array([0.5, 0.0, -1.0]), title="<b>t</b>")
    assert "<img" not in frag and "&lt;img src=x onerror=alert(1)&gt;" in frag and "&lt;b&gt;" in frag
    assert "rgba(22,163,74,0.500)" in frag  # positive -> green, half of max |score|
    assert "rgba(220,38,38,1.000)" in frag  # negative -> red, full intensity
    assert "rgba(22,163,74,0.000)" in frag  # zero -> transparent
    assert "&lt;script&gt;" in page_html(["<script>"], [1.0], title="<script>")
    with pytest.raises(ValueError):
        heatmap_html(["a"], [1.0, 2.0])
    assert heatmap_rich(["a", "b"], [0.0, 0.0]).plain == "a b"
