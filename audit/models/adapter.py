"""Audit a model you built yourself: ``module:function`` -> :class:`AuditModel`.

The referenced function takes no arguments and returns a :class:`ModelParts`
(or any object with the same attributes, see :class:`ExposesParts`): the
embedding, the ``torch.nn.GRU``/``LSTM``, the linear head
that reads the final hidden state, a tokenizer, the vocabulary and the label
names.  Optionally ``forward(ids, lengths) -> logits`` (the model's own
forward, in the model's own token ids): it is run on a seeded probe batch and
must agree with ``embedding -> rnn -> final state -> head``; when it does not
(the head reads mean-pooled or attended states, extra layers...),
:class:`~audit.errors.IncompatibleModelError` says so.  Without a forward the
model is *rebuilt from its parts*: that function is audited, unchecked, and the
model's ``metadata["rebuilt_from_parts"]`` (the run manifest's
``model_rebuilt_from_parts``, the report) says so.  A ``batch_first=False`` RNN
is accepted (see :class:`~audit.models.base.RecurrentClassifier`).

The reference may name a module (``mypkg.models:build``) or a file
(``examples/own_model.py:build``).  See docs/own-model.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from audit.data.tokenize import tokenize as default_tokenize
from audit.data.vocab import PAD, UNK, Vocab
from audit.errors import AuditError, IncompatibleModelError, ModelError
from audit.models.base import AuditModel, RecurrentClassifier, batch_first_view, check_compatible

__all__ = ["PROBE_ATOL", "ExposesParts", "ModelParts", "load_adapter", "resolve_function", "to_audit_model"]

log = logging.getLogger(__name__)

PROBE_ATOL = 1e-4
VocabLike = Vocab | Mapping[str, int] | Sequence[str]


@dataclass
class ModelParts:
    """What a ``module:function`` returns for auditing.

    ``vocab`` is a :class:`Vocab`, a ``{token: id}`` mapping or a list of tokens in
    id order; ids index ``embedding``.  ``pad_token`` / ``unk_token`` name the
    padding and unknown-word entries of that vocabulary.  ``forward`` is the
    model's own ``(ids (B,T) long, lengths (B,) long) -> logits (B,C)`` and is
    used only for the compatibility probe.
    """

    embedding: nn.Embedding
    rnn: nn.GRU | nn.LSTM
    head: nn.Linear
    labels: Sequence[str]
    vocab: VocabLike
    tokenizer: Callable[[str], list[str]] | None = None
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    name: str | None = None
    pad_token: str = PAD
    unk_token: str = UNK


@runtime_checkable
class ExposesParts(Protocol):
    """Duck-typed alternative to :class:`ModelParts` (e.g. your nn.Module itself)."""

    embedding: nn.Module
    rnn: nn.Module
    head: nn.Module
    labels: Sequence[str]
    vocab: VocabLike


def resolve_function(ref: str) -> Callable[[], object]:
    """Import ``module:function`` or ``path/to/file.py:function``."""
    target, sep, func_name = ref.rpartition(":")
    if not sep or not target or not func_name.isidentifier():
        raise ModelError("expected module:function", path=ref, hint="e.g. mypkg.models:build_for_audit")
    try:
        if target.endswith(".py") or "/" in target or "\\" in target:
            path = Path(target)
            if not path.is_file():
                raise ModelError("model file does not exist", path=path)
            mod_name = f"_audit_user_{path.stem}_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ModelError("cannot import this file", path=path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except AuditError:
        raise
    except Exception as exc:  # user code may raise anything while importing
        raise ModelError(f"cannot import {target!r}: {type(exc).__name__}: {exc}", path=ref) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelError(f"{target!r} has no function {func_name!r}", path=ref)
    return func


def load_adapter(ref: str) -> AuditModel:
    """Call the function ``ref`` names and convert what it returns."""
    func = resolve_function(ref)
    try:
        parts = func()
    except AuditError:
        raise
    except Exception as exc:
        raise ModelError(f"{ref} raised {type(exc).__name__}: {exc}", path=ref) from exc
    model = to_audit_model(parts, name=ref.rpartition(":")[2], source=ref)
    model.metadata.setdefault("ref", ref)
    return model


def _vocab_order(vocab: VocabLike, pad: str, unk: str, rows: int, where: str) -> tuple[Vocab, list[int] | None]:
    """Our :class:`Vocab` plus the embedding-row permutation (None when ids already line up)."""
    if isinstance(vocab, Vocab):
        if len(vocab) != rows:
            raise ModelError(f"vocabulary has {len(vocab)} tokens but the embedding has {rows} rows", path=where)
        return vocab, None
    stoi = {t: i for i, t in enumerate(vocab)} if not isinstance(vocab, Mapping) else dict(vocab)
    ids = sorted(stoi.values())
    if len(set(ids)) != len(ids) or (ids and (ids[0] < 0 or ids[-1] >= rows)):
        raise ModelError(f"vocabulary ids must be unique and within the {rows} embedding rows", path=where)
    for tok in (pad, unk):
        if tok not in stoi:
            raise ModelError(f"vocabulary has no {tok!r} entry", path=where, hint="set pad_token / unk_token")
    order = [stoi[pad], stoi[unk]] + sorted(i for t, i in stoi.items() if t not in (pad, unk))
    itos = {i: t for t, i in stoi.items()}
    tokens = [PAD, UNK] + [itos[i] for i in order[2:]]
    if len(set(tokens)) != len(tokens):
        raise ModelError("vocabulary uses '<pad>'/'<unk>' for ordinary words", path=where)
    return Vocab(tokens), (None if order == list(range(rows)) else order)


def _probe(ours: RecurrentClassifier, forward: Callable[..., torch.Tensor], order: list[int] | None, where: str) -> None:
    """Compare the model's own forward with ours on seeded single-text batches (no padding)."""
    gen = torch.Generator().manual_seed(1234)
    rows = ours.embedding.num_embeddings
    lookup = torch.arange(rows) if order is None else torch.tensor(order)  # our id -> user's id
    worst = 0.0
    with torch.no_grad():
        for length in (1, 3, 7, 12):
            our_ids = torch.randint(2, max(rows, 3), (1, length), generator=gen).clamp_max(rows - 1)
            try:
                try:
                    theirs = forward(lookup[our_ids], torch.tensor([length]))
                except TypeError:
                    theirs = forward(lookup[our_ids])  # a forward(ids) without lengths
            except Exception as exc:
                raise IncompatibleModelError(
                    f"the model's forward(ids, lengths) failed on a probe batch: {type(exc).__name__}: {exc}",
                    path=where,
                    hint="forward must take right-padded ids (B,T) and lengths (B,) and return logits (B,C)",
                ) from exc
            mine = ours(our_ids, torch.tensor([length]))
            if not isinstance(theirs, torch.Tensor) or theirs.shape != mine.shape:
                raise IncompatibleModelError(
                    f"the model's forward returned {getattr(theirs, 'shape', type(theirs))}, expected logits {tuple(mine.shape)}",
                    path=where,
                )
            worst = max(worst, float((theirs - mine).abs().max()))
    if worst > PROBE_ATOL:
        raise IncompatibleModelError(
            f"the model's own logits differ from embedding -> rnn -> final hidden state -> head by up to {worst:.3g}",
            path=where,
            hint="REAT decomposes a head that reads the final hidden state; a head on mean/max-pooled or attended "
            "states, or extra layers between rnn and head, cannot be audited",
        )


def to_audit_model(parts: object, *, name: str | None = None, source: str = "<model>") -> AuditModel:
    """Convert a :class:`ModelParts` (or an :class:`ExposesParts` object) to an :class:`AuditModel`."""
    for attr in ("embedding", "rnn", "head", "labels", "vocab"):
        if not hasattr(parts, attr):
            raise ModelError(
                f"the returned {type(parts).__name__} has no attribute {attr!r}",
                path=source,
                hint="return audit.models.adapter.ModelParts(embedding=..., rnn=..., head=..., labels=..., vocab=...)",
            )
    embedding, rnn, head = parts.embedding, parts.rnn, parts.head  # type: ignore[attr-defined]
    rnn = batch_first_view(rnn)  # a time-major RNN: a batch-first clone sharing its weights
    if not isinstance(embedding, nn.Embedding):
        raise IncompatibleModelError(f"embedding must be a torch.nn.Embedding, got {type(embedding).__name__}", path=source)
    check_compatible(rnn, head)
    if embedding.embedding_dim != rnn.input_size:
        raise IncompatibleModelError(
            f"embedding dim {embedding.embedding_dim} != rnn input_size {rnn.input_size}",
            path=source,
            hint="the rnn must read the embeddings directly",
        )
    labels = tuple(str(x) for x in parts.labels)  # type: ignore[attr-defined]
    if len(labels) != head.out_features:
        raise ModelError(f"{len(labels)} labels but the head has {head.out_features} outputs", path=source)
    vocab, order = _vocab_order(
        parts.vocab,  # type: ignore[attr-defined]
        getattr(parts, "pad_token", PAD),
        getattr(parts, "unk_token", UNK),
        embedding.num_embeddings,
        source,
    )
    if order is not None:
        embedding = nn.Embedding.from_pretrained(embedding.weight.detach()[order].clone(), freeze=False, padding_idx=0)
    module = RecurrentClassifier(embedding, rnn, head).eval()
    forward = getattr(parts, "forward", None)
    probed = True
    if callable(forward) and not isinstance(parts, nn.Module):
        _probe(module, forward, order, source)
    elif isinstance(parts, nn.Module):
        parts.eval()
        _probe(module, parts, order, source)
    else:
        probed = False
        log.warning(
            "%s gives no forward=: the model is rebuilt from its parts (embedding -> rnn -> head on the final hidden "
            "state) and that function is audited, unchecked against the model's own forward (see docs/own-model.md)",
            source,
        )
    tokenizer = getattr(parts, "tokenizer", None) or default_tokenize
    log.info("adapted %s: %s, %d words, labels %s", source, type(rnn).__name__, len(vocab), labels)
    return AuditModel(
        module=module,
        vocab=vocab,
        tokenizer=tokenizer,
        labels=labels,
        name=getattr(parts, "name", None) or name or "model",
        metadata={"source": source, "adapter": True, "rebuilt_from_parts": not probed, "forward_verified": probed},
    )
