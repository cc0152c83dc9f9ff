"""Scoring stage of ``planted_shortcuts.py``: the audit set, and each method's token scores on it.

For a run (model) the audit set is a fixed subset of the SST-2 test set (the same
texts for every run: ``max_texts`` drawn with seed 0, in file order), planted by
:func:`_planting.plant_test` with the run's seed.  REAT's tables come from the
nightly job's own :func:`audit.engine.attribute.attribute_batch` (predictions,
token scores with POS tags, phrase/clause segments), so REAT is audited exactly as
in ``audit run``; every other method replaces only ``score_pred`` (its score of
each token toward the predicted class) and keeps the same texts, predictions and
segment spans (the findings stage re-sums span scores from the token scores).

Scores are cached as Parquet under ``artifacts/planted/scores/<run>/`` so the
(slow) Captum methods run once per model.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from _planted_train import ROOT, Run, read_split
from _planting import PlantedSet, plant_test

from audit.attribution.methods import get_method
from audit.engine.attribute import BatchInput, attribute_batch
from audit.models.base import AuditModel
from audit.models.io import load_model

log = logging.getLogger("planted.scores")

SCORES = ROOT / "artifacts" / "planted" / "scores"
DATASET = "planted"
#: method name -> options (costs kept bounded: IG 20 steps, LIME 100 samples)
METHODS: dict[str, dict[str, Any]] = {
    "reat": {},
    "integrated_gradients": {"n_steps": 20},
    "grad_input": {},
    "lime": {"n_samples": 100, "seed": 0},
}


@dataclass
class AuditSet:
    planted: PlantedSet
    index: list[int]  # rows of the SST-2 test file


def audit_set(run: Run, *, max_texts: int) -> AuditSet:
    texts, labels = read_split("test")
    idx = list(range(len(texts)))
    if max_texts < len(texts):
        idx = sorted(random.Random(0).sample(idx, max_texts))
    sub_t, sub_y = [texts[i] for i in idx], [labels[i] for i in idx]
    return AuditSet(plant_test(run.kind, sub_t, sub_y, seed=run.seed), idx)


def _engine_tables(model: AuditModel, aset: AuditSet, *, batch_size: int = 256) -> tuple[pd.DataFrame, ...]:
    p = aset.planted
    tokens = [model.tokenize(t) for t in p.texts]
    parts = []
    for start in range(0, len(tokens), batch_size):
        sl = slice(start, start + batch_size)
        parts.append(attribute_batch(model, BatchInput(
            dataset=DATASET, example_ids=list(range(len(tokens)))[sl], lines=[i + 2 for i in aset.index[sl]],
            texts=p.texts[sl], golds=p.labels[sl], tokens=tokens[sl])))
    preds = pd.concat([b.predictions for b in parts], ignore_index=True)
    toks = pd.concat([b.tokens for b in parts], ignore_index=True)
    segs = pd.concat([b.segments for b in parts], ignore_index=True)
    return preds, toks, segs


def _method_scores(model: AuditModel, tokens: pd.DataFrame, preds: pd.DataFrame, name: str) -> np.ndarray:
    method = get_method(name, **METHODS[name])
    by_doc = tokens.groupby("example_id", sort=True)["token"].agg(list)
    lists = [by_doc[i] for i in preds["example_id"]]
    attrs = method.attribute(model, lists, targets=[int(x) for x in preds["pred"]])
    return np.concatenate([np.asarray(a.scores, dtype=np.float64) for a in attrs])


def ensure_scores(run: Run, *, max_texts: int, methods: tuple[str, ...]) -> dict[str, float]:
    """Cache the audit tables and each method's scores for ``run``; returns seconds per method computed now."""
    out = SCORES / run.name
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if meta.get("max_texts") != max_texts:
        meta = {"max_texts": max_texts, "seconds": {}}
    model: AuditModel | None = None
    spent: dict[str, float] = {}
    torch.set_num_threads(1)
    if not (out / "tokens.parquet").exists() or "reat" not in meta["seconds"]:
        model = load_model(run.model_dir)
        aset = audit_set(run, max_texts=max_texts)
        t0 = time.process_time()
        preds, toks, segs = _engine_tables(model, aset)
        spent["reat"] = time.process_time() - t0
        p = aset.planted
        preds["planted"] = p.planted
        preds["shortcut_label"] = p.shortcut_label
        preds["conflict"] = p.conflict
        preds["planted_words"] = [json.dumps(x) for x in p.positions]  # whitespace-word positions
        preds.drop(columns=["probs"]).to_parquet(out / "predictions.parquet")
        toks.to_parquet(out / "tokens.parquet")
        segs.to_parquet(out / "segments.parquet")
        meta["seconds"]["reat"] = spent["reat"]
        meta_path.write_text(json.dumps(meta, indent=1))
    toks = pd.read_parquet(out / "tokens.parquet")
    preds = pd.read_parquet(out / "predictions.parquet")
    for name in methods:
        if name == "reat" or name in meta["seconds"]:
            continue
        model = model or load_model(run.model_dir)
        t0 = time.process_time()
        scores = _method_scores(model, toks, preds, name)
        spent[name] = time.process_time() - t0
        pd.DataFrame({"score_pred": scores}).to_parquet(out / f"scores_{name}.parquet")
        meta["seconds"][name] = spent[name]
        meta_path.write_text(json.dumps(meta, indent=1))
        log.info("%s %s: %.1f CPU s", run.name, name, spent[name])
    return spent


def load_tables(run: Run, method: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(predictions, token scores of ``method`` as ``score_pred``, segments) for ``run``."""
    out = SCORES / run.name
    preds = pd.read_parquet(out / "predictions.parquet")
    toks = pd.read_parquet(out / "tokens.parquet")
    if method != "reat":
        toks = toks.assign(score_pred=pd.read_parquet(out / f"scores_{method}.parquet")["score_pred"].to_numpy())
    return preds, toks, pd.read_parquet(out / "segments.parquet")


def score_seconds(run: Run) -> dict[str, float]:
    path = SCORES / run.name / "meta.json"
    return dict(json.loads(path.read_text())["seconds"]) if path.exists() else {}


__all__ = ["DATASET", "METHODS", "SCORES", "audit_set", "ensure_scores", "load_tables", "score_seconds"]
