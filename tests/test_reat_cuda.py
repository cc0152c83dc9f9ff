"""REAT on CUDA: exactness and agreement with the CPU result.

Skipped where no CUDA device exists (CI and the development machines have none); run on a GPU
machine with ``python -m pytest tests/test_reat_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audit.attribution import get_method, reat_scores
from audit.data.vocab import PAD, UNK, Vocab
from audit.models.base import AuditModel, RecurrentClassifier, final_state

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bi", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_scores_are_exact_and_match_cpu(cls: type, layers: int, bi: bool, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    rnn = cls(12, 9, num_layers=layers, bidirectional=bi, batch_first=True).to(dtype).eval()
    head = nn.Linear(9 * (2 if bi else 1), 3).to(dtype)
    emb = torch.randn(7, 11, 12, dtype=dtype)
    lengths = torch.tensor([11, 1, 5, 9, 3, 11, 2])
    cpu = reat_scores(rnn, head, emb, lengths)
    rnn_g, head_g = rnn.cuda(), head.cuda()
    # TF32 would make the fused GPU forward differ from the CPU beyond float32 rounding.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    gpu = reat_scores(rnn_g, head_g, emb.cuda(), lengths)
    assert gpu.device.type == "cuda"
    logits = head_g(final_state(rnn_g, emb.cuda(), lengths))
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(gpu.sum(1) + head_g.bias, logits, atol=tol, rtol=0)
    mask = torch.arange(11)[None, :] >= lengths[:, None]
    assert torch.count_nonzero(gpu.cpu()[mask]) == 0
    torch.testing.assert_close(gpu.cpu(), cpu, atol=tol * 10, rtol=0)


def test_long_lstm_stays_finite_on_cuda() -> None:
    torch.manual_seed(1)
    rnn = nn.LSTM(8, 6, batch_first=True).cuda().eval()
    head = nn.Linear(6, 2).cuda()
    emb = torch.randn(2, 3000, 8, device="cuda")
    lengths = torch.tensor([3000, 1700])
    scores = reat_scores(rnn, head, emb, lengths)
    assert torch.isfinite(scores).all()
    logits = head(final_state(rnn, emb, lengths))
    torch.testing.assert_close(scores.sum(1) + head.bias, logits, atol=1e-3, rtol=0)


def test_every_method_runs_on_a_cuda_model() -> None:
    pytest.importorskip("captum", reason="the baselines need captum")
    torch.manual_seed(2)
    words = ["the", "movie", "is", "great", "a", "dull", "plot"]
    vocab = Vocab([PAD, UNK, *words])
    module = RecurrentClassifier(nn.Embedding(len(vocab), 8), nn.GRU(8, 5, batch_first=True), nn.Linear(5, 2))
    model = AuditModel(module=module.cuda(), vocab=vocab, tokenizer=str.split, labels=("negative", "positive"))
    tokens = [["the", "movie", "is", "great"], ["a", "dull", "plot"]]
    for name in ("reat", "naive_reat", "vanilla_grad", "integrated_gradients", "grad_input", "lime"):
        result = get_method(name).attribute(model, tokens)
        assert len(result) == 2 and all(len(r.scores) == len(t) for r, t in zip(result, tokens)), name
        assert all(np.isfinite(r.scores).all() for r in result), name
        if name == "reat":
            assert max(float(r.completeness_delta or 0.0) for r in result) < 1e-4
