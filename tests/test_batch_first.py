"""``batch_first=False`` RNNs are handled, not refused (issue 10 item 4.9): prediction, REAT and the
attack give the same results as the batch_first=True copy of the same weights."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from audit.attack import AttackConfig, ReatWordNetAttack
from audit.attribution._reat import reat_scores
from audit.models.adapter import ModelParts, to_audit_model
from audit.models.base import AuditModel, RecurrentClassifier

TEXTS = [["the", "movie", "is", "great"], ["a", "dull", "and", "boring", "plot", "."], ["fun"]]


class TimeMajor(nn.Module):
    """A user's model whose RNN is time-major (``batch_first=False``)."""

    def __init__(self, model: AuditModel) -> None:
        super().__init__()
        rnn = model.rnn
        self.embedding = model.embedding
        self.rnn = type(rnn)(rnn.input_size, rnn.hidden_size, num_layers=rnn.num_layers,
                             bidirectional=rnn.bidirectional)  # batch_first=False
        self.rnn.load_state_dict(rnn.state_dict())
        self.head = model.head

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids).transpose(0, 1)  # (T, B, D)
        _, hidden = self.rnn(pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False))
        h = hidden[0] if isinstance(self.rnn, nn.LSTM) else hidden
        top = torch.cat([h[-2], h[-1]], -1) if self.rnn.bidirectional else h[-1]
        return self.head(top)


@pytest.fixture(params=["gru", "lstm", "bigru", "bilstm"])
def pair(request: pytest.FixtureRequest, tiny_model_factory: Callable[..., AuditModel]) -> tuple[AuditModel, AuditModel]:
    ref = tiny_model_factory(request.param)
    user = TimeMajor(ref).eval()
    assert not user.rnn.batch_first
    parts = ModelParts(embedding=user.embedding, rnn=user.rnn, head=user.head, labels=ref.labels,
                       vocab=ref.vocab, forward=user.forward)  # the probe checks the conversion too
    return ref, to_audit_model(parts, source=f"tests:{request.param}")


def test_prediction_and_reat_match_the_batch_first_copy(pair: tuple[AuditModel, AuditModel]) -> None:
    ref, model = pair
    assert model.rnn.batch_first
    assert torch.allclose(model.predict_proba_tokens(TEXTS), ref.predict_proba_tokens(TEXTS), atol=1e-6)
    enc = ref.encode_tokens(TEXTS)
    with torch.no_grad():
        want = reat_scores(ref.rnn, ref.head, ref.embedding(enc.ids), enc.lengths)
        got = reat_scores(model.rnn, model.head, model.embedding(enc.ids), enc.lengths)
    assert torch.allclose(got, want, atol=1e-6)


def test_attack_matches_the_batch_first_copy(pair: tuple[AuditModel, AuditModel]) -> None:
    ref, model = pair
    cfg = AttackConfig(query_budget=40, max_candidates=4)
    for toks in TEXTS[:2]:
        gold = int(ref.predict_proba_tokens([toks]).argmax())
        a = ReatWordNetAttack(cfg).attack(ref, toks, gold=gold).to_row()
        b = ReatWordNetAttack(cfg).attack(model, toks, gold=gold).to_row()
        assert a["variant"] == b["variant"] and a["flipped"] == b["flipped"] and a["queries"] == b["queries"]
        assert a["probs_after"] == pytest.approx(b["probs_after"], abs=1e-6)


def test_clone_shares_weights_and_a_classifier_can_be_built_directly() -> None:
    torch.manual_seed(0)
    rnn = nn.LSTM(4, 3, num_layers=2, bidirectional=True)
    module = RecurrentClassifier(nn.Embedding(5, 4), rnn, nn.Linear(6, 2))
    assert module.rnn.batch_first and module.rnn.weight_hh_l1_reverse is rnn.weight_hh_l1_reverse
    with torch.no_grad():
        rnn.weight_ih_l0.add_(1.0)  # the clone sees the change: one set of parameters
    assert torch.equal(module.rnn.weight_ih_l0, rnn.weight_ih_l0)
    assert sorted(module.state_dict()) == sorted(RecurrentClassifier(nn.Embedding(5, 4), nn.LSTM(
        4, 3, num_layers=2, bidirectional=True, batch_first=True), nn.Linear(6, 2)).state_dict())
