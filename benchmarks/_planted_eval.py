"""Evaluation stage of ``planted_shortcuts.py``: findings on one run x method, and its figures.

The findings tables come from the drivers library (:func:`audit.findings.analyze`)
fed with the method's token scores; for a baseline method the segment spans are
re-scored with that method's token scores (span sums), so its phrases and
clauses are ranked by it and not by REAT.

Figures per run x method (definitions used in the report):

* ``planted_rank``: 1-based position of the first *planted unit* among the
  confirmed drivers of scope "all" in rank order (None: not confirmed).  A
  planted unit is the word ``zeroa`` (st) or ``zeroa``/``onea`` (tic, op), or a
  phrase containing one of them.
* ``planted``: that unit's driver_stats row (status, support, lift, q-values,
  fix rate by removal / by ``<unk>``, the control's fix rate).
* ``n_confirmed``, ``n_confirmed_other`` (confirmed units that are not planted),
  and among those how many are punctuation / stopwords.
* per-example precision on the planted errors (texts carrying the
  construction, its shortcut label against gold, misclassified):
  ``precision_at_k`` -- Bastings et al.'s precision: share of the k top-scored
  tokens (toward the predicted class) that are planted, k = number of planted
  tokens in the text; ``random_precision`` -- its expectation for a random
  ranking (k / length); ``reason_precision`` -- share of the *verified* word
  reasons of ``failure_drivers`` (its top-k words by the method's score;
  verified = removing the word alone fixes the error or raises p(gold) by at
  least ``reason_min_delta``) that are planted tokens; ``reason_fix_precision`` -- the same over reasons whose
  removal alone fixes the error; ``reason_hit`` -- share of planted errors whose
  best-ranked verified word reason is a planted token.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from _planted_train import Run
from _planting import TOKEN_A, TOKEN_B

from audit.findings import ALL, FindingsConfig, analyze
from audit.models.base import AuditModel

__all__ = ["evaluate", "planted_tokens", "rescore_segments"]


def planted_tokens(kind: str) -> frozenset[str]:
    return {"st": frozenset({TOKEN_A}), "tic": frozenset({TOKEN_A, TOKEN_B}),
            "op": frozenset({TOKEN_A, TOKEN_B})}.get(kind, frozenset())


def _is_planted(unit: str, planted: frozenset[str]) -> bool:
    return any(w in planted for w in str(unit).split())


def rescore_segments(segments: pd.DataFrame, tokens: pd.DataFrame) -> pd.DataFrame:
    """``segments`` with ``score_pred`` = span sum of ``tokens``' ``score_pred`` (same texts, same spans)."""
    t = tokens.sort_values(["example_id", "position"], kind="mergesort")
    ids = t["example_id"].to_numpy()
    scores = t["score_pred"].to_numpy(dtype=np.float64)
    starts = np.searchsorted(ids, np.unique(ids))
    offset = dict(zip(np.unique(ids).tolist(), starts.tolist()))
    cum = np.concatenate([[0.0], np.cumsum(scores)])
    base = segments["example_id"].map(offset).to_numpy(dtype=np.int64)
    s, e = segments["start"].to_numpy(dtype=np.int64), segments["end"].to_numpy(dtype=np.int64)
    return segments.assign(score_pred=cum[base + e] - cum[base + s])


def _row(r: pd.Series | None) -> dict[str, Any] | None:
    if r is None:
        return None
    keys = ("kind", "unit", "status", "rank", "n_texts", "n_errors", "n_top_error", "lift", "q_lift", "q_contrast",
            "contrast_effect", "n_cf", "n_control", "fix_rate_remove", "fix_rate_unk", "control_fix_rate", "q_fix")
    out: dict[str, Any] = {}
    for k in keys:
        v = r[k]
        out[k] = None if v is None or (isinstance(v, float) and np.isnan(v)) else (
            v.item() if hasattr(v, "item") else v)
    return out


def _precision(preds: pd.DataFrame, toks: pd.DataFrame, reasons: pd.DataFrame, planted: frozenset[str]) -> dict[str, Any]:
    target = preds[(preds["planted"] == "construction") & preds["conflict"] & ~preds["correct"]]
    ids = set(target["example_id"].tolist())
    out: dict[str, Any] = {"n_planted_errors": len(ids)}
    if not ids:
        return out | {"precision_at_k": None, "random_precision": None, "reason_precision": None,
                      "reason_fix_precision": None, "reason_hit": None}
    t = toks[toks["example_id"].isin(ids)].copy()
    t["is_planted"] = t["token"].isin(planted)
    t = t.sort_values(["example_id", "score_pred", "position"], ascending=[True, False, True], kind="mergesort")
    t["r"] = t.groupby("example_id").cumcount() + 1
    k = t.groupby("example_id")["is_planted"].sum()
    length = t.groupby("example_id").size()
    hits = t[t["r"] <= t["example_id"].map(k)].groupby("example_id")["is_planted"].sum()
    valid = k > 0
    out["precision_at_k"] = float((hits.reindex(k.index, fill_value=0)[valid] / k[valid]).mean())
    out["random_precision"] = float((k[valid] / length[valid]).mean())
    w = reasons[(reasons["kind"] == "word") & reasons["example_id"].isin(ids)]
    ver = w[w["verified"].astype(bool)]
    fix = w[w["fixes_error"].astype(bool)]
    out["n_verified_reasons"] = len(ver)
    out["reason_precision"] = float(ver["text"].isin(planted).mean()) if len(ver) else None
    out["reason_fix_precision"] = float(fix["text"].isin(planted).mean()) if len(fix) else None
    best = ver.sort_values(["example_id", "rank"], kind="mergesort").drop_duplicates("example_id")
    out["reason_hit"] = float(best["text"].isin(planted).sum() / len(ids))
    return out


def evaluate(run: Run, method: str, model: AuditModel, preds: pd.DataFrame, toks: pd.DataFrame,
             segs: pd.DataFrame, *, config: FindingsConfig, stopwords: frozenset[str]) -> dict[str, Any]:
    """Findings for one run x method, reduced to the figures of the module docstring."""
    if method != "reat":
        segs = rescore_segments(segs, toks)
    t0 = time.process_time()
    found = analyze(preds, toks, segs, model=model, config=config, stopwords=stopwords)
    seconds = time.process_time() - t0
    planted = planted_tokens(run.kind)
    ds = found.driver_stats
    ds = ds[ds["scope"] == ALL].sort_values("rank", kind="mergesort")
    conf = ds[ds["confirmed"].astype(bool)]
    is_pl = conf["unit"].map(lambda u: _is_planted(u, planted)).to_numpy(dtype=bool) if len(conf) else np.zeros(0, bool)
    planted_rank = int(np.argmax(is_pl)) + 1 if is_pl.any() else None
    all_pl = ds[ds["unit"].map(lambda u: _is_planted(u, planted))] if len(ds) else ds
    other = conf[~is_pl]
    res: dict[str, Any] = {
        "run": run.name, "arch": run.arch, "plant": run.plant, "kind": run.kind, "seed": run.seed, "method": method,
        "n_texts": len(preds), "n_errors": int((~preds["correct"]).sum()),
        "accuracy": float(preds["correct"].mean()),
        "findings_cpu_s": seconds, "n_variants": found.n_variants,
        "n_confirmed": len(conf), "planted_rank": planted_rank,
        "planted": _row(all_pl.iloc[0]) if len(all_pl) else None,
        "n_confirmed_other": len(other),
        "n_confirmed_other_punct": int(other["is_punct"].sum()),
        "n_confirmed_other_stop": int(other["is_stopword"].sum()),
        "confirmed": [_row(r) for _, r in conf.head(10).iterrows()],
        "confirmed_punct_stop": [_row(r) for _, r in conf[conf["is_punct"] | conf["is_stopword"]].iterrows()],
    }
    res.update(_precision(preds, toks, found.failure_drivers, planted))
    return res
