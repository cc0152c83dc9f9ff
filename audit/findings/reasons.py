"""Failure reasons with evidence: the ``failure_drivers`` and ``minimal_fixes`` tables.

A failure's candidate reasons are its top-``k`` words, phrases and clauses by
score toward the (wrong) predicted class -- REAT's ranking, scores unchanged.
A phrase or clause spanning the whole text is left out (removing everything
explains nothing).  Each is then checked by removing that unit alone (its span)
and re-predicting:

- ``fixes_error``: the prediction becomes the gold class;
- ``delta_prob_gold``: the gold class's probability after removal minus before
  (both from the same forward pass, so no attribution noise enters);
- ``verified``: ``fixes_error`` or ``delta_prob_gold >= reason_min_delta``
  (default 0.05) -- removing the unit moves the model toward the right answer
  by more than noise, so the effect supports calling it a reason.  The
  report lists verified reasons as reasons and says which fix the error alone.

The **minimal fix** of a failure is the smallest REAT-ranked prefix of its
positively scored words (at most ``max_fix_words``) whose removal fixes the
error: "greedy in REAT order", each prefix re-predicted in the same batch.
``found`` is False when no prefix fixes it (then ``positions`` is the largest
prefix tried and ``prob_gold_after`` its effect).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.findings._inputs import KEY, Inputs
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch
from audit.store.schemas import FAILURE_DRIVERS, MINIMAL_FIXES, conform, empty_table

__all__ = ["LEVELS", "REASON_COLUMNS", "ReasonPlan", "failure_drivers", "finish_reasons", "plan_reasons"]

LEVELS = ("word", "phrase", "clause")
REASON_COLUMNS = ["example_id", "dataset", "rank", "kind", "text", "start", "end", "score"]
"""The REAT ranking's columns; :func:`finish_reasons` adds fixes_error, delta_prob_gold, verified."""


def _errors(predictions: pd.DataFrame) -> pd.DataFrame:
    keys = predictions[KEY].copy()
    keys["_order"] = np.arange(len(predictions))
    return keys[~predictions["correct"].to_numpy(dtype=bool)]


def _top_positive(rows: pd.DataFrame, errors: pd.DataFrame, *, top_k: int, tiebreak: str) -> pd.DataFrame:
    merged = rows.merge(errors, on=KEY, how="inner")
    merged = merged[merged["score_pred"] > 0]
    merged = merged.sort_values(["_order", "score_pred", tiebreak], ascending=[True, False, True], kind="mergesort")
    top = merged.groupby("_order", sort=False).head(top_k).copy()
    top["rank"] = top.groupby("_order", sort=False).cumcount() + 1
    return top


def failure_drivers(predictions: pd.DataFrame, token_attributions: pd.DataFrame, segments: pd.DataFrame, *,
                    top_k: int = 3, levels: Sequence[str] = ("word", "phrase"),
                    exclude_whole_text: bool = False) -> pd.DataFrame:
    """For each misclassified text, its top-``top_k`` units of each level with a positive score toward the prediction.

    Ranks start at 1 within (text, kind); ties are broken by position.  Texts
    appear in ``predictions`` order, then words, phrases, clauses.  Columns:
    :data:`REASON_COLUMNS`.  With ``exclude_whole_text`` a phrase or clause
    spanning the whole text is left out before ranking: removing everything
    says nothing about why the text failed (the findings stage verifies by removal).
    """
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown reason levels {unknown} (expected some of {', '.join(LEVELS)})")
    errors = _errors(predictions)
    parts = []
    for order, level in enumerate(LEVELS):
        if level not in levels:
            continue
        if level == "word":
            top = _top_positive(token_attributions, errors, top_k=top_k, tiebreak="position")
            text, start, end = top["token"], top["position"], top["position"] + 1
        else:
            spans = segments[segments["level"] == level]
            if exclude_whole_text and len(spans):
                n_tok = token_attributions.groupby(KEY, sort=False).size().rename("_n").reset_index()
                spans = spans.merge(n_tok, on=KEY, how="left")
                spans = spans[(spans["end"] - spans["start"]) < spans["_n"]]
            top = _top_positive(spans, errors, top_k=top_k, tiebreak="start")
            text, start, end = top["text"], top["start"], top["end"]
        parts.append(pd.DataFrame({"example_id": top["example_id"], "dataset": top["dataset"], "rank": top["rank"],
                                   "kind": level, "text": text, "start": start, "end": end,
                                   "score": top["score_pred"], "_order": top["_order"], "_kind": order}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REASON_COLUMNS + ["_order", "_kind"])
    out = out.sort_values(["_order", "_kind", "rank"], kind="mergesort")
    out = out[REASON_COLUMNS].reset_index(drop=True)
    return out.astype({"example_id": "int64", "rank": "int64", "start": "int64", "end": "int64", "score": "float64"})


@dataclass
class ReasonPlan:
    """The reasons to verify and the minimal-fix prefixes, with their rows in the variant batch."""

    reasons: pd.DataFrame  # REASON_COLUMNS + _doc, _row
    base_rows: dict[int, int]  # _doc -> row of the unchanged text
    prefixes: pd.DataFrame  # _doc, size, positions, words, _row
    error_docs: list[int]
    inputs: Inputs


def plan_reasons(inp: Inputs, reasons: pd.DataFrame, config: FindingsConfig, batch: VariantBatch) -> ReasonPlan:
    """Add every reason's removal, every minimal-fix prefix and each failure's original text to ``batch``."""
    docs = inp.docs
    error_docs = [int(d) for d in docs.loc[docs["error"].to_numpy(dtype=bool), "_doc"]]
    cache = {d: inp.token_list(d) for d in error_docs}
    base_rows = {d: batch.add(cache[d]) for d in error_docs}
    r = reasons.merge(docs[KEY + ["_doc"]], on=KEY, how="left")
    r["_row"] = [batch.add_variant(cache[int(d)], range(int(s), int(e)))
                 for d, s, e in zip(r["_doc"], r["start"], r["end"], strict=True)]
    t = inp.tokens
    pos_t = t[t["_doc"].isin(error_docs) & (t["score"] > 0)]
    pos_t = pos_t.sort_values(["_doc", "rank"], kind="mergesort")
    pos_t = pos_t.groupby("_doc", sort=False).head(config.max_fix_words)
    ranked = pos_t.groupby("_doc", sort=False).agg(positions=("position", list), words=("token", list))
    rows = []
    for d in error_docs:
        if d not in ranked.index:
            continue
        positions, words = ranked.at[d, "positions"], ranked.at[d, "words"]
        for size in range(1, len(positions) + 1):
            rows.append({"_doc": d, "size": size, "positions": [int(p) for p in positions[:size]],
                         "words": [str(w) for w in words[:size]],
                         "_row": batch.add_variant(cache[d], positions[:size])})
    prefixes = pd.DataFrame(rows, columns=["_doc", "size", "positions", "words", "_row"])
    return ReasonPlan(reasons=r, base_rows=base_rows, prefixes=prefixes, error_docs=error_docs, inputs=inp)


def finish_reasons(plan: ReasonPlan, probs: np.ndarray, *, min_delta: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(failure_drivers, minimal_fixes)`` from a plan and the batch's predicted probabilities."""
    docs = plan.inputs.docs
    gold = docs["gold"].to_numpy(dtype=np.int64)
    r = plan.reasons
    if len(r):
        d = r["_doc"].to_numpy(dtype=np.int64)
        rows = r["_row"].to_numpy(dtype=np.int64)
        base = np.array([plan.base_rows[int(x)] for x in d], dtype=np.int64)
        after = probs[rows]
        r = r.assign(fixes_error=after.argmax(axis=1) == gold[d],
                     delta_prob_gold=after[np.arange(len(d)), gold[d]] - probs[base, gold[d]])
        r["verified"] = r["fixes_error"] | (r["delta_prob_gold"] >= min_delta)
        drivers = conform(r, FAILURE_DRIVERS)
    else:
        drivers = empty_table(FAILURE_DRIVERS)
    # minimal fix per error: the first (smallest) prefix that fixes it, else the largest one tried
    errs = pd.DataFrame({"_doc": np.asarray(plan.error_docs, dtype=np.int64)})
    errs["example_id"] = docs["example_id"].to_numpy()[errs["_doc"].to_numpy()]
    errs["dataset"] = docs["dataset"].to_numpy()[errs["_doc"].to_numpy()]
    pre = plan.prefixes
    if len(pre):
        d = pre["_doc"].to_numpy(dtype=np.int64)
        after = probs[pre["_row"].to_numpy(dtype=np.int64)]
        pre = pre.assign(found=after.argmax(axis=1) == gold[d], prob_gold_after=after[np.arange(len(pre)), gold[d]])
        hits = pre[pre["found"]].drop_duplicates("_doc", keep="first")  # prefixes are in size order
        misses = pre[~pre["_doc"].isin(hits["_doc"])].drop_duplicates("_doc", keep="last")
        chosen = pd.concat([hits, misses], ignore_index=True)[["_doc", "positions", "words", "size", "found",
                                                                "prob_gold_after"]]
    else:
        chosen = pd.DataFrame(columns=["_doc", "positions", "words", "size", "found", "prob_gold_after"])
    out = errs.merge(chosen, on="_doc", how="left")
    none = out["size"].isna().to_numpy()
    if none.any():  # no positively scored word: nothing to remove
        base = np.array([plan.base_rows[int(x)] for x in out.loc[none, "_doc"]], dtype=np.int64)
        out.loc[none, "prob_gold_after"] = probs[base, gold[out.loc[none, "_doc"].to_numpy(dtype=np.int64)]]
        out.loc[none, "size"] = 0
        out.loc[none, "found"] = False
        out["positions"] = [p if isinstance(p, list) else [] for p in out["positions"]]
        out["words"] = [w if isinstance(w, list) else [] for w in out["words"]]
    out = out.astype({"found": bool})
    minimal = conform(out, MINIMAL_FIXES) if len(out) else empty_table(MINIMAL_FIXES)
    return drivers, minimal
