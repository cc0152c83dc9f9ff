"""Train the reference classifiers (paper section 4.2): Adam, up to N epochs, best on dev.

Deterministic: the same config and data give bit-identical weights (seeded init,
seeded batch order and dropout, fixed thread count).  Batches are *bucketed*:
texts are sorted by length (random tie-break) and cut into batches, and the
batch order is shuffled every epoch, so little time is spent on padding; each
batch runs as a packed sequence.

Training-time dropout (``training.dropout``) is applied to the embeddings and
to the final state only inside the training step; the saved module is the plain
``embedding -> rnn -> head`` that REAT decomposes.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from audit.data.embeddings import load_vectors, vector_words
from audit.data.readers import Dataset
from audit.data.spec import read_spec
from audit.data.tokenize import tokenize
from audit.data.vocab import Vocab
from audit.errors import ConfigError
from audit.models.base import AuditModel, RecurrentClassifier, final_state
from audit.models.config import ModelConfig, TrainConfig, build_module, load_train_config
from audit.models.io import load_model, save_model
from audit.settings import resolve_data_path

__all__ = ["EpochStats", "TrainResult", "TrainingExtras", "accuracy", "ensure_reference_model", "train_model"]

log = logging.getLogger(__name__)


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    dev_accuracy: float
    seconds: float


LossTerm = Callable[[RecurrentClassifier, torch.Tensor, torch.Tensor], torch.Tensor]
"""``term(module, ids, lengths) -> scalar`` added to the cross-entropy of every training batch."""


@dataclass
class TrainingExtras:
    """What ``audit harden`` adds to a training run: more examples and an extra loss term.

    ``tokens``/``labels`` are appended to the training data (never to dev or test); ``loss_term``
    is added to each batch's loss.  ``record`` goes into the model's ``metrics.json``.
    """

    tokens: list[list[str]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    loss_term: LossTerm | None = None
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    model: AuditModel
    out_dir: Path | None
    metrics: dict[str, Any]
    history: list[EpochStats] = field(default_factory=list)

    @property
    def best_epoch(self) -> int:
        return int(self.metrics["best_epoch"])

    @property
    def dev_accuracy(self) -> float:
        return float(self.metrics["dev_accuracy"])


def _read(cfg: TrainConfig, split: str) -> Dataset:
    return read_spec(cfg.data.spec(split), name=split)


def _encode(vocab: Vocab, tokens: Sequence[Sequence[str]]) -> list[torch.Tensor]:
    return [torch.tensor(vocab.encode(t), dtype=torch.long) for t in tokens]


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random, *, bucket: bool) -> list[list[int]]:
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if bucket:
        order.sort(key=lambda i: lengths[i])  # stable: the shuffle breaks ties at random
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    return ids, lengths


@torch.no_grad()
def _predict(module: RecurrentClassifier, rows: Sequence[torch.Tensor], *, batch_size: int = 256) -> list[int]:
    module.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    preds = [0] * len(rows)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, lengths = _pad([rows[i] for i in idx])
        for i, p in zip(idx, module(ids, lengths).argmax(-1).tolist()):
            preds[i] = p
    return preds


def accuracy(model: AuditModel, dataset: Dataset) -> float:
    """Accuracy of ``model`` on ``dataset`` (texts tokenized with the model's tokenizer)."""
    rows = _encode(model.vocab, [model.tokenize(t) for t in dataset.texts])
    preds = _predict(model.module, rows)
    return sum(p == y for p, y in zip(preds, dataset.labels)) / len(dataset)


def _build_vocab(cfg: TrainConfig, train_tokens: list[list[str]], emb_path: Path | None) -> Vocab:
    m = cfg.model
    vocab = Vocab.build(train_tokens, min_freq=m.min_freq, max_size=m.max_vocab)
    if emb_path is None or not m.vocab_from_embeddings:
        return vocab
    extra = [w for w in dict.fromkeys(vector_words(emb_path)) if w not in vocab and w == w.lower()]
    log.info("vocabulary: %d words from training data + %d more that have pretrained vectors", len(vocab) - 2, len(extra))
    return Vocab(vocab.tokens + extra)


def _labels(cfg: TrainConfig, train: Dataset, dev: Dataset) -> tuple[str, ...]:
    names = train.label_names
    n = max(max(train.labels), max(dev.labels)) + 1
    if len(names) < n:
        names = tuple(str(i) for i in range(n))
    return tuple(names)


def train_model(config: TrainConfig, *, out_dir: Path | None = None, progress: bool | None = None,
                extras: TrainingExtras | None = None) -> TrainResult:
    """Train a reference model as ``config`` says; save it to ``out_dir`` when given.

    ``progress`` shows a tqdm bar (default: only when stderr is a terminal).  ``extras`` adds
    training examples and a loss term (see :class:`TrainingExtras`).
    """
    t = config.training
    threads_before = torch.get_num_threads()
    torch.set_num_threads(t.threads or os.cpu_count() or 1)
    try:
        return _train(config, out_dir=out_dir, progress=sys.stderr.isatty() if progress is None else progress,
                      extras=extras)
    finally:
        torch.set_num_threads(threads_before)


def _train(config: TrainConfig, *, out_dir: Path | None, progress: bool, extras: TrainingExtras | None) -> TrainResult:
    t, m = config.training, config.model
    train, dev = _read(config, "train"), _read(config, "dev")
    test = _read(config, "test") if config.data.test else None
    labels = _labels(config, train, dev)

    train_tokens = [tokenize(x) for x in train.texts]
    train_labels = list(train.labels)
    if extras is not None and extras.tokens:
        if len(extras.tokens) != len(extras.labels):
            raise ConfigError(f"{len(extras.tokens)} extra training texts but {len(extras.labels)} labels")
        train_tokens += [list(x) for x in extras.tokens]
        train_labels += [int(y) for y in extras.labels]
    truncated = 0
    if t.max_len is not None:
        truncated = sum(len(x) > t.max_len for x in train_tokens)
        train_tokens = [x[: t.max_len] for x in train_tokens]
        if truncated:
            log.warning("max_len=%d: truncated %d of %d training texts", t.max_len, truncated, len(train_tokens))

    emb_path = resolve_data_path(m.embeddings) if m.embeddings else None
    vocab = _build_vocab(config, train_tokens, emb_path)

    torch.manual_seed(t.seed)
    rng = random.Random(t.seed)
    model_cfg = ModelConfig(
        name=config.name,
        arch=config.arch,
        vocab_size=len(vocab),
        embedding_dim=m.embedding_dim,
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        labels=labels,
        training=config.model_dump(mode="json"),
    )
    module = build_module(model_cfg)
    found = 0
    if emb_path is not None:
        matrix, found = load_vectors(emb_path, vocab, seed=t.seed, unk_scale=m.unk_scale)
        if matrix.shape[1] != m.embedding_dim:
            raise ConfigError(
                f"model.embedding_dim is {m.embedding_dim} but {emb_path.name} has {matrix.shape[1]}-d vectors",
                hint=f"set model.embedding_dim: {matrix.shape[1]}",
            )
        with torch.no_grad():
            module.embedding.weight.copy_(matrix)
    module.embedding.weight.requires_grad_(not (m.freeze_embeddings and emb_path is not None))

    train_rows = _encode(vocab, train_tokens)
    dev_rows = _encode(vocab, [tokenize(x) for x in dev.texts])
    targets = torch.tensor(train_labels, dtype=torch.long)
    loss_term = extras.loss_term if extras is not None else None
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    lengths = [len(r) for r in train_rows]

    best_state: dict[str, torch.Tensor] | None = None
    best_acc, best_epoch, stale = -1.0, 0, 0
    history: list[EpochStats] = []
    for epoch in range(1, t.epochs + 1):
        started = time.perf_counter()
        module.train()
        batches = _batches(lengths, t.batch_size, rng, bucket=t.bucket)
        total_loss, correct = 0.0, 0
        bar = _progress(batches, progress, f"epoch {epoch}/{t.epochs}")
        for idx in bar:
            ids, lens = _pad([train_rows[i] for i in idx])
            emb = F.dropout(module.embedding(ids), t.dropout, training=True) if t.dropout else module.embedding(ids)
            state = final_state(module.rnn, emb, lens)
            if t.dropout:
                state = F.dropout(state, t.dropout, training=True)
            logits = module.head(state)
            y = targets[idx]
            loss = F.cross_entropy(logits, y)
            if loss_term is not None:
                loss = loss + loss_term(module, ids, lens)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t.grad_clip:
                nn.utils.clip_grad_norm_(params, t.grad_clip)
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(-1) == y).sum())
        preds = _predict(module, dev_rows)
        dev_acc = sum(p == y for p, y in zip(preds, dev.labels)) / len(dev)
        stats = EpochStats(epoch, total_loss / len(train_rows), correct / len(train_rows), dev_acc,
                           time.perf_counter() - started)
        history.append(stats)
        improved = dev_acc > best_acc
        if improved:
            best_acc, best_epoch, stale = dev_acc, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            stale += 1
        log.info(
            "%s epoch %d/%d: loss %.4f, train acc %.4f, dev acc %.4f%s (%.1f s)",
            config.name, epoch, t.epochs, stats.loss, stats.train_accuracy, dev_acc, " *best*" if improved else "",
            stats.seconds,
        )
        if t.patience is not None and stale >= t.patience:
            log.info("no dev gain for %d epochs: stopping", stale)
            break

    assert best_state is not None
    module.load_state_dict(best_state)
    module.eval()
    model = AuditModel(module=module, vocab=vocab, tokenizer=tokenize, labels=labels, name=config.name)
    metrics: dict[str, Any] = {
        "name": config.name,
        "arch": config.arch,
        "dev_accuracy": best_acc,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "train_size": len(train_rows),
        "dev_size": len(dev),
        "vocab_size": len(vocab),
        "embeddings_found": found,
        "truncated_train_texts": truncated,
        "max_len": t.max_len,
        "seconds_per_epoch": sum(h.seconds for h in history) / len(history),
        "threads": torch.get_num_threads(),
        "seed": t.seed,
        "torch": torch.__version__,
        "data_sha256": {"train": train.sha256, "dev": dev.sha256},
        "history": [vars(h) for h in history],
    }
    if extras is not None:
        metrics["extras"] = {"n_extra_texts": len(extras.tokens), "loss_term": extras.loss_term is not None,
                             **extras.record}
    if test is not None:
        metrics["test_accuracy"] = accuracy(model, test)
        metrics["test_size"] = len(test)
        metrics["data_sha256"]["test"] = test.sha256
    log.info("%s: best dev acc %.4f at epoch %d%s", config.name, best_acc, best_epoch,
             f", test acc {metrics['test_accuracy']:.4f}" if test is not None else "")
    saved = save_model(model, out_dir, config=model_cfg, metrics=metrics) if out_dir is not None else None
    if saved is not None:
        model.metadata["path"] = str(saved)
    return TrainResult(model=model, out_dir=saved, metrics=metrics, history=history)


def _progress(batches: list[list[int]], enabled: bool, desc: str) -> Any:
    if not enabled:
        return batches
    from tqdm import tqdm

    return tqdm(batches, desc=desc, leave=False, unit="batch")


def ensure_reference_model(config_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """Return a loadable model directory for ``config_path``, training it only when the folder is missing.

    An existing folder is loaded and never replaced: an invalid one (corrupt
    weights, vocab mismatch, ...) raises :class:`~audit.errors.ModelError`
    instead of being silently deleted and retrained over.
    """
    cfg = load_train_config(config_path)
    out = Path(out_dir) if out_dir is not None else cfg.out_dir()
    if out.exists():
        load_model(out)  # ModelError propagates; the folder is left as it is
        log.info("reference model %s is present at %s", cfg.name, out)
        return out
    log.info("training reference model %s into %s", cfg.name, out)
    result = train_model(cfg, out_dir=out)
    assert result.out_dir is not None
    return result.out_dir
