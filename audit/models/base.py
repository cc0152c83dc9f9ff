"""The model interface every part of reat-audit works against.

:class:`RecurrentClassifier` is the torch module: ``embedding -> rnn -> head``
where the head reads the *final hidden state* (top layer's last state; for a
bidirectional net ``[forward state at the last real token ; backward state at
position 0]``).  That is exactly what REAT decomposes.

:class:`AuditModel` bundles such a module with its vocabulary, tokenizer and
label names.  The reference models (``audit.models.io.load_model``) and a
user's own model (``audit.models.adapter.load_adapter``) both produce one, so
attribution, the audit engine and the dashboard never care where a model came
from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from audit.data.vocab import Vocab
from audit.errors import IncompatibleModelError, InputError

Tokenizer = Callable[[str], list[str]]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``module`` in eval mode, then restore every submodule's previous ``training`` flag.

    Inference helpers use this so that they never leave a caller's model (for
    example one being trained) switched to eval mode.
    """
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training


def final_state(rnn: nn.GRU | nn.LSTM, embeddings: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run ``rnn`` on right-padded ``embeddings`` and return the head's input.

    Uses a packed sequence so padding never enters the recurrence.  Returns
    ``(B, H * num_directions)``: the top layer's last state, forward and
    backward concatenated for a bidirectional net.
    """
    packed = pack_padded_sequence(embeddings, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, hidden = rnn(packed)
    h_n = hidden[0] if isinstance(rnn, nn.LSTM) else hidden
    num_dirs = 2 if rnn.bidirectional else 1
    top = h_n.view(rnn.num_layers, num_dirs, h_n.shape[1], rnn.hidden_size)[-1]
    return torch.cat(list(top), dim=-1) if num_dirs == 2 else top[0]


def batch_first_view(rnn: nn.GRU | nn.LSTM) -> nn.GRU | nn.LSTM:
    """``rnn`` itself when it is ``batch_first``, else a ``batch_first=True`` clone sharing its parameters.

    Only the tensor layout of the input and output differs between the two (``h_n``/``c_n`` and the
    weights are the same), so the clone computes the same function on batch-first tensors.
    """
    if not isinstance(rnn, (nn.GRU, nn.LSTM)) or rnn.batch_first:
        return rnn  # not a GRU/LSTM: check_compatible says why
    kwargs: dict[str, object] = {}
    if isinstance(rnn, nn.LSTM):
        kwargs["proj_size"] = rnn.proj_size
    params = dict(rnn.named_parameters(recurse=False))
    ref = next(iter(params.values()))
    clone = type(rnn)(
        rnn.input_size,
        rnn.hidden_size,
        num_layers=rnn.num_layers,
        bias=rnn.bias,
        batch_first=True,
        dropout=rnn.dropout,
        bidirectional=rnn.bidirectional,
        device="meta",
        dtype=ref.dtype,
        **kwargs,  # type: ignore[arg-type]
    )
    for name, param in params.items():
        setattr(clone, name, param)  # the same Parameter objects: training or loading either updates both
    clone.train(rnn.training)
    return clone


class RecurrentClassifier(nn.Module):
    """``embedding -> GRU/LSTM -> linear head`` on the final hidden state.

    A ``batch_first=False`` RNN is converted once, here, to a ``batch_first=True`` clone sharing
    its weights (:func:`batch_first_view`), so every consumer (prediction, REAT, the attack) sees
    one layout.
    """

    def __init__(self, embedding: nn.Embedding, rnn: nn.GRU | nn.LSTM, head: nn.Linear) -> None:
        super().__init__()
        rnn = batch_first_view(rnn)
        check_compatible(rnn, head)
        self.embedding = embedding
        self.rnn = rnn
        self.head = head

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` for right-padded ``ids`` ``(B, T)`` of the given lengths."""
        return self.head(final_state(self.rnn, self.embedding(ids), lengths))


def check_compatible(rnn: nn.Module, head: nn.Module) -> None:
    """Raise :class:`IncompatibleModelError` unless REAT can decompose ``rnn``+``head``."""
    if not isinstance(rnn, (nn.GRU, nn.LSTM)):
        raise IncompatibleModelError(
            f"REAT needs a torch.nn.GRU or torch.nn.LSTM, got {type(rnn).__name__}",
            hint="expose the recurrent layer as `rnn` (vanilla RNN, attention and custom cells are not supported)",
        )
    if not rnn.batch_first:
        raise IncompatibleModelError(
            "the recurrent layer is time-major (batch_first=False) here",
            hint="pass it through batch_first_view() first; RecurrentClassifier and model adapters do this for you",
        )
    if isinstance(rnn, nn.LSTM) and rnn.proj_size:
        raise IncompatibleModelError("LSTM projections (proj_size>0) are not supported by REAT")
    if not isinstance(head, nn.Linear):
        raise IncompatibleModelError(f"the head must be a torch.nn.Linear, got {type(head).__name__}")
    expected = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    if head.in_features != expected:
        raise IncompatibleModelError(
            f"the head reads {head.in_features} features but the final hidden state has {expected}",
            hint="the head must read the final hidden state directly (not pooled or projected states)",
        )


@dataclass
class Encoded:
    """A right-padded batch of token ids."""

    ids: torch.Tensor  # (B, T) long
    lengths: torch.Tensor  # (B,) long, all >= 1
    tokens: list[list[str]]
    oov: list[list[bool]]


@dataclass
class AuditModel:
    """A classifier plus everything needed to go from raw text to logits."""

    module: RecurrentClassifier
    vocab: Vocab
    tokenizer: Tokenizer
    labels: tuple[str, ...]
    name: str = "model"
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def embedding(self) -> nn.Embedding:
        return self.module.embedding

    @property
    def rnn(self) -> nn.GRU | nn.LSTM:
        return self.module.rnn

    @property
    def head(self) -> nn.Linear:
        return self.module.head

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer(text)

    def encode_tokens(self, batch: Sequence[Sequence[str]]) -> Encoded:
        """Encode pre-tokenized texts. Raises :class:`InputError` on an empty one."""
        for i, toks in enumerate(batch):
            if len(toks) == 0:
                raise InputError(f"text #{i} has no tokens", hint="pass a non-empty text")
        lengths = torch.tensor([len(t) for t in batch], dtype=torch.long)
        ids = torch.full((len(batch), int(lengths.max()) if len(batch) else 0), self.vocab.pad_id, dtype=torch.long)
        oov: list[list[bool]] = []
        for i, toks in enumerate(batch):
            row = self.vocab.encode(toks)
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            oov.append([r == self.vocab.unk_id for r in row])
        return Encoded(ids=ids, lengths=lengths, tokens=[list(t) for t in batch], oov=oov)

    def encode(self, texts: Sequence[str]) -> Encoded:
        """Tokenize and encode raw texts."""
        return self.encode_tokens([self.tokenize(t) for t in texts])

    @torch.inference_mode()
    def logits_tokens(self, batch: Sequence[Sequence[str]]) -> torch.Tensor:
        enc = self.encode_tokens(batch)
        with eval_mode(self.module):
            return self.module(enc.ids, enc.lengths)

    def predict_proba_tokens(self, batch: Sequence[Sequence[str]]) -> torch.Tensor:
        """Class probabilities ``(B, C)`` for pre-tokenized texts."""
        return torch.softmax(self.logits_tokens(batch), dim=-1)

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """Class probabilities ``(B, C)`` for raw texts."""
        return self.predict_proba_tokens([self.tokenize(t) for t in texts])
