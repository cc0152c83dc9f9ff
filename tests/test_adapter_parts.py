"""Adapters returning ModelParts (issue 10 item 4.8): forward= is verified on a probe batch; without it the
run says the model was rebuilt from its parts (manifest and report)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from audit.engine.config import load_config
from audit.engine.job import run_job
from audit.errors import IncompatibleModelError
from audit.models.adapter import ModelParts, to_audit_model
from tests.test_engine_job import make_setup


class MeanPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(6, 4)
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.emb(ids))
        return self.fc(out.mean(1))  # same width as the final state: only the probe can tell


VOCAB = ["<pad>", "<unk>", "a", "b", "c", "d"]


def test_parts_with_a_mean_pooling_forward_are_refused() -> None:
    m = MeanPool()
    parts = ModelParts(embedding=m.emb, rnn=m.gru, head=m.fc, labels=("neg", "pos"), vocab=VOCAB, forward=m.forward)
    with pytest.raises(IncompatibleModelError) as info:
        to_audit_model(parts, source="tests:MeanPool")
    msg = str(info.value)
    assert "logits differ from embedding -> rnn -> final hidden state -> head" in msg and "mean" in msg


def test_parts_with_a_matching_forward_are_verified_and_without_one_marked_rebuilt() -> None:
    m = MeanPool()

    def last_state(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, h = m.gru(m.emb(ids))
        return m.fc(h[-1])

    checked = to_audit_model(ModelParts(embedding=m.emb, rnn=m.gru, head=m.fc, labels=("neg", "pos"), vocab=VOCAB,
                                        forward=last_state))
    assert checked.metadata["rebuilt_from_parts"] is False and checked.metadata["forward_verified"] is True
    rebuilt = to_audit_model(ModelParts(embedding=m.emb, rnn=m.gru, head=m.fc, labels=("neg", "pos"), vocab=VOCAB))
    assert rebuilt.metadata["rebuilt_from_parts"] is True and rebuilt.metadata["forward_verified"] is False


ADAPTER = '''
from audit.models.adapter import ModelParts
from audit.models.io import load_model


def build():
    m = load_model({model_dir!r})
    return ModelParts(embedding=m.embedding, rnn=m.rnn, head=m.head, labels=m.labels, vocab=m.vocab)
'''


def test_run_of_a_rebuilt_model_says_so_in_manifest_and_report(tmp_path: Path) -> None:
    config = make_setup(tmp_path, attack={"enabled": False, "flip_top_words": 0})
    adapter = tmp_path / "my_adapter.py"
    adapter.write_text(ADAPTER.format(model_dir=str(tmp_path / "model")), encoding="utf-8")
    cfg = load_config(config)
    rebuilt = run_job(cfg.model_copy(update={"model": f"{adapter}:build"}), progress=False)
    assert rebuilt.record.manifest["model_rebuilt_from_parts"] is True
    for name in ("report.md", "report.html"):
        assert "rebuilt from its parts" in (rebuilt.record.path / name).read_text(encoding="utf-8")
    plain = run_job(cfg, progress=False)  # a model directory: nothing rebuilt, no note
    assert plain.record.manifest["model_rebuilt_from_parts"] is False
    assert "rebuilt from its parts" not in (plain.record.path / "report.md").read_text(encoding="utf-8")
