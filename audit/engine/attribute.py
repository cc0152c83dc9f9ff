"""One batch of the nightly job: predict, REAT word scores, POS tags, phrase/clause scores.

:func:`attribute_batch` turns a batch of tokenized texts into the three
per-example tables of the run store (``predictions``, ``token_attributions``,
``segments``; see docs/ARCHITECTURE.md).  Segment scores are span sums of the
word scores toward the predicted class (Eq. 14 of the paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.attribution import hierarchy
from audit.attribution._reat import completeness_gap, reat_scores
from audit.models.base import AuditModel
from audit.nlp import pos as pos_tags
from audit.store.schemas import columns

# column order: the run-table schemas (audit/store/schemas.py own the names)
PREDICTION_COLUMNS = columns("predictions")
TOKEN_COLUMNS = columns("token_attributions")
SEGMENT_COLUMNS = columns("segments")


@dataclass(frozen=True)
class BatchInput:
    """A batch of one dataset's examples, already tokenized (and truncated to ``max_len``)."""

    dataset: str
    example_ids: Sequence[int]
    lines: Sequence[int]
    texts: Sequence[str]
    golds: Sequence[int]
    tokens: Sequence[Sequence[str]]


@dataclass(frozen=True)
class BatchTables:
    predictions: pd.DataFrame
    tokens: pd.DataFrame
    segments: pd.DataFrame


def model_outputs(model: AuditModel, tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[bool]]]:
    """``(logits (B,C), REAT scores (B,T,C), completeness gap (B,), oov)`` as float64 arrays."""
    enc = model.encode_tokens(tokens)
    module = model.module
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            logits = module(enc.ids, enc.lengths)
            scores = reat_scores(model.rnn, model.head, model.embedding(enc.ids), enc.lengths)
            gap = completeness_gap(scores, logits, model.head.bias).amax(dim=1)
    finally:
        module.train(was_training)
    return (
        logits.double().numpy(),
        scores.double().numpy(),
        gap.double().numpy(),
        enc.oov,
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _span_rows(
    rows: list[dict[str, object]], *, example_id: int, dataset: str, level: str, spans: Sequence[tuple[int, int]],
    tokens: Sequence[str], cumulative: np.ndarray,
) -> None:
    for start, end in spans:
        rows.append(
            {
                "example_id": example_id,
                "dataset": dataset,
                "level": level,
                "start": int(start),
                "end": int(end),
                "text": " ".join(tokens[start:end]),
                "score_pred": float(cumulative[end] - cumulative[start]),
            }
        )


def attribute_batch(model: AuditModel, batch: BatchInput) -> BatchTables:
    """Predictions, word attributions and phrase/clause scores for one batch."""
    logits, scores, gap, oov = model_outputs(model, batch.tokens)
    probs = _softmax(logits)
    preds = probs.argmax(axis=1)
    pred_rows: list[dict[str, object]] = []
    tok_cols: dict[str, list[object]] = {c: [] for c in TOKEN_COLUMNS}
    seg_rows: list[dict[str, object]] = []
    for i, toks in enumerate(batch.tokens):
        ex, gold, pred = int(batch.example_ids[i]), int(batch.golds[i]), int(preds[i])
        n = len(toks)
        pred_rows.append(
            {
                "example_id": ex,
                "dataset": batch.dataset,
                "line": int(batch.lines[i]),
                "text": batch.texts[i],
                "gold": gold,
                "pred": pred,
                "prob_pred": float(probs[i, pred]),
                "prob_gold": float(probs[i, gold]) if 0 <= gold < probs.shape[1] else float("nan"),
                "probs": [float(p) for p in probs[i]],
                "correct": bool(gold == pred),
                "n_tokens": n,
                "completeness_delta": float(gap[i]),
            }
        )
        word = scores[i, :n]
        tags = pos_tags.tag(list(toks))
        tok_cols["example_id"].extend([ex] * n)
        tok_cols["dataset"].extend([batch.dataset] * n)
        tok_cols["position"].extend(range(n))
        tok_cols["token"].extend(toks)
        tok_cols["pos"].extend(tags)
        upos = [pos_tags.universal(t) for t in tags]
        tok_cols["upos"].extend(upos)
        tok_cols["score_pred"].extend(word[:, pred].tolist())
        tok_cols["score_gold"].extend(word[:, gold].tolist() if 0 <= gold < word.shape[1] else [float("nan")] * n)
        tok_cols["oov"].extend(oov[i])
        cumulative = np.concatenate([[0.0], np.cumsum(word[:, pred])])
        for level, spans in (("phrase", hierarchy.phrase_spans(list(toks), upos=upos)), ("clause", hierarchy.clause_spans(list(toks)))):
            _span_rows(seg_rows, example_id=ex, dataset=batch.dataset, level=level, spans=spans, tokens=toks, cumulative=cumulative)
    predictions = pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS)
    tokens = pd.DataFrame(tok_cols, columns=TOKEN_COLUMNS).astype(
        {"example_id": "int64", "position": "int64", "score_pred": "float64", "score_gold": "float64", "oov": "bool"}
    )
    segments = pd.DataFrame(seg_rows, columns=SEGMENT_COLUMNS).astype({"example_id": "int64", "start": "int64", "end": "int64", "score_pred": "float64"})
    return BatchTables(predictions=predictions, tokens=tokens, segments=segments)
