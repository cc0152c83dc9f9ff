"""The ``driver_stats`` table: which words and REAT phrases really drive errors.

For every candidate unit (a word type, or the text of a phrase span from the
``segments`` table) and every scope (each dataset, and ``"all"`` pooled):

1. **Support** (document presence): ``n_texts`` texts contain it, ``n_errors`` of
   them are misclassified.  Units below ``min_texts`` / ``min_errors`` are kept
   only when they are a top contributor of some error (``status="below_support"``,
   no p-values).
2. **Lift**: ``error_rate_with / overall error rate``; one-sided Fisher exact
   test of the 2x2 table (errors/correct x with/without), BH over every
   supported candidate of the scope (words and phrases together) -> ``q_lift``.
3. **Attribution contrast**: the unit's score toward the *predicted* class
   (its largest occurrence in the text) in errors against correct predictions
   containing it; one-sided Mann-Whitney U, effect = rank-biserial
   correlation (Cliff's delta); BH -> ``q_contrast``.  A token with large scores
   everywhere (the final ".") has no contrast.
4. **Counterfactual fix rate**: for each error where the unit is a top-``k``
   contributor, remove every occurrence of it (``fix_rate_remove``) and,
   separately, replace them with ``<unk>`` (``fix_rate_unk``); the rate is the
   share of those errors predicted correctly afterwards.
5. **Matched control**: in the same text, the content word (not a stopword,
   not punctuation, not the unit) whose REAT rank is closest to the unit's best
   rank -- ties go to the better-ranked word, the stronger control -- is
   removed the same way (every occurrence).  For a phrase the control is
   another phrase span of the text, not overlapping the unit and with at least
   one content word, closest in phrase rank.  Rank rather than frequency:
   REAT's rank is what put the unit under test, so a control of equal rank
   asks "is it this unit, or any highly-credited word?".  A control is never a
   *suspect*: a word whose lift or contrast test passes at ``fdr_q`` in scope
   ``"all"`` (nor, for phrases, a span containing one).  Otherwise the control
   of one half of a two-token shortcut is the other half, and the question
   becomes "is this driver stronger than that driver?".  ``control_fix_rate``
   is over the errors that have a control (``n_control``).
6. **Paired test**: on those errors, exact one-sided sign test (McNemar on the
   discordant pairs): unit fixes and control does not vs the reverse ->
   ``p_fix``; BH over every candidate tested counterfactually in the scope ->
   ``q_fix``.  Testing counterfactually every supported candidate (not only
   those passing lift/contrast) keeps the family fixed in advance.
7. **Confirmed** = ``(q_lift <= fdr_q or q_contrast <= fdr_q)`` and
   ``q_fix <= fdr_q`` and, on the errors that have a control, the unit fixes
   more of them than the control does (wins > losses: the paired comparison;
   ``fix_rate_remove`` itself is over every tested error, with or without a
   control).
   Multiplicity: each family (lift, contrast, fix-vs-control) is BH-controlled
   at ``fdr_q`` over its candidates in the scope.  Accepting either
   association test admits up to ``2 * fdr_q`` false associations.  The
   confirmed set is a subset of the fix-rate family's BH rejections (FDR <=
   ``fdr_q`` for that family, under BH's independence / positive-dependence
   assumption); the association test is an extra filter on top, not part of a
   formal combined bound.

``rank`` (within a scope): confirmed first (most errors fixed, then ``q_fix``),
then candidates (smallest of q_lift/q_contrast, then top-contributor count),
then units below support.  Scope ``"all"`` pools every text; a run with more
than one dataset also gets one scope per dataset (with a single dataset the two
would be identical, so only ``"all"`` is written).  Phrase candidates are spans
of two or more tokens (a one-token phrase is the word itself).

The statistics take any attribution method's per-token scores (see
:mod:`audit.findings._inputs`); only the counterfactual step needs the model.
Steps 1-3 (the run-wide counts and association tests) are in :mod:`audit.findings.association`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.findings._inputs import Inputs
from audit.findings.association import WholeRun, _in_scope, _presence, _scopes
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch
from audit.findings.stats import bh_qvalues, sign_test_greater, wilson_interval
from audit.metrics import ALL_SCOPE

ALL = ALL_SCOPE
STATUS_CONFIRMED, STATUS_CANDIDATE, STATUS_BELOW = "confirmed", "candidate", "below_support"

__all__ = ["ALL", "DriverPlan", "WholeRun", "confirmed_drivers", "finish_driver_stats", "plan_driver_variants"]


@dataclass
class DriverPlan:
    """Presence rows, counterfactual pairs and their variant rows (before prediction)."""

    inputs: Inputs
    presence: pd.DataFrame  # _doc, uid, score, top, error, dataset
    units: pd.DataFrame  # uid -> kind, unit, pos, is_stopword, is_punct
    pairs: pd.DataFrame  # _doc, uid, row_remove, row_unk, row_control (-1: none), dataset, gold
    scopes: list[str]
    config: FindingsConfig
    association: dict[str, pd.DataFrame]  # scope -> support, lift and contrast of its kept units


def _positions(rows: pd.DataFrame, unit: str, start: str, end: str) -> dict[tuple[int, str], tuple[int, ...]]:
    """``(doc, unit) -> sorted positions covered by the rows' [start, end) spans`` (one pass, no groupby-apply)."""
    acc: dict[tuple[int, str], set[int]] = {}
    for d, u, a, b in zip(rows["_doc"].to_numpy(), rows[unit].to_numpy(), rows[start].to_numpy(),
                          rows[end].to_numpy(), strict=True):
        acc.setdefault((int(d), str(u)), set()).update(range(int(a), int(b)))
    return {k: tuple(sorted(v)) for k, v in acc.items()}


def _word_positions(tokens: pd.DataFrame) -> dict[tuple[int, str], tuple[int, ...]]:
    rows = tokens[["_doc", "token", "position"]].assign(stop=tokens["position"] + 1)
    return _positions(rows, "token", "position", "stop")


def _controls(inp: Inputs, pairs: pd.DataFrame, suspects: frozenset[str]) -> pd.Series:
    """For each pair (row of ``pairs``), the control's positions as a tuple (empty: no control)."""
    out = pd.Series([()] * len(pairs), index=pairs.index, dtype=object)
    t = inp.tokens
    words = pairs[pairs["kind"] == "word"]
    if len(words):
        content = t[t["content"] & t["_doc"].isin(words["_doc"]) & ~t["token"].isin(suspects)]
        ctl = content.groupby(["_doc", "token"], sort=False)["rank"].min().rename("c_best").reset_index()
        m = words[["_doc", "unit", "best"]].reset_index(names="pair").merge(ctl, on="_doc", how="inner")
        m = m[m["token"] != m["unit"]]
        m["dist"] = (m["c_best"] - m["best"]).abs()
        m = m.sort_values(["pair", "dist", "c_best"], kind="mergesort").drop_duplicates("pair")
        pos = _word_positions(content)
        for pair, doc, tok in zip(m["pair"], m["_doc"], m["token"], strict=True):
            out.at[pair] = pos[(int(doc), str(tok))]
    phrases = pairs[pairs["kind"] == "phrase"]
    if len(phrases):
        sp = inp.spans[(inp.spans["level"] == "phrase") & (inp.spans["n_content"] > 0)
                       & inp.spans["_doc"].isin(phrases["_doc"])]
        if suspects:  # no span that is, or contains, a suspected driver word
            sp = sp[[not (set(str(u).split()) & suspects) for u in sp["unit"]]]
        sp = sp[["_doc", "unit", "start", "end", "rank"]].rename(columns={"unit": "c_unit", "start": "c_start",
                                                                           "end": "c_end", "rank": "c_rank"})
        m = phrases[["_doc", "unit", "best", "u_start", "u_end"]].reset_index(names="pair").merge(sp, on="_doc")
        overlap = (m["c_start"] < m["u_end"]) & (m["u_start"] < m["c_end"])
        m = m[(m["c_unit"] != m["unit"]) & ~overlap]
        m["dist"] = (m["c_rank"] - m["best"]).abs()
        m = m.sort_values(["pair", "dist", "c_rank"], kind="mergesort").drop_duplicates("pair")
        for pair, s, e in zip(m["pair"], m["c_start"], m["c_end"], strict=True):
            out.at[pair] = tuple(range(int(s), int(e)))
    return out


def plan_driver_variants(inp: Inputs, config: FindingsConfig, batch: VariantBatch, *,
                         whole: WholeRun | None = None) -> DriverPlan:
    """Candidate presence per text, and the counterfactual variants of the pairs to test (added to ``batch``).

    ``whole`` holds the run-wide counts (default: ``inp`` alone); ``inp`` then holds only the texts whose
    counterfactuals are tested (every error, or the sample :func:`~audit.findings.analyze.analyze` drew)."""
    own = whole is None
    if whole is None:
        whole = WholeRun(phrases=config.phrases)
        whole.add(inp)
    units = whole.units()
    scopes = _scopes(whole)
    association = whole.association(config)
    if own:
        whole.close()
    pres = _presence(inp, whole)
    supported_any = pd.Series(False, index=units["uid"])
    for scope in scopes:
        ok = association[scope]
        supported_any.loc[ok.loc[ok["supported"], "uid"].to_numpy()] = True
    cand = pres[pres["error"] & pres["top"] & pres["uid"].map(supported_any).to_numpy(dtype=bool)].copy()
    cand = cand.reset_index(drop=True)
    # unit positions: every occurrence of the word / of the phrase's spans in the text
    t = inp.tokens
    word_pos = _word_positions(t[t["_doc"].isin(cand["_doc"])])
    sp = inp.spans[(inp.spans["level"] == "phrase") & inp.spans["_doc"].isin(cand.loc[cand["kind"] == "phrase", "_doc"])]
    span_pos = _positions(sp, "unit", "start", "end")
    best_span = sp.sort_values("rank", kind="mergesort").drop_duplicates(["_doc", "unit"]).set_index(
        ["_doc", "unit"])[["start", "end"]] if len(sp) else pd.DataFrame(columns=["start", "end"])
    cand["u_start"] = -1
    cand["u_end"] = -1
    is_ph = (cand["kind"] == "phrase").to_numpy()
    if is_ph.any():
        idx = pd.MultiIndex.from_frame(cand.loc[is_ph, ["_doc", "unit"]])
        cand.loc[is_ph, "u_start"] = best_span["start"].reindex(idx).to_numpy(dtype=np.int64)
        cand.loc[is_ph, "u_end"] = best_span["end"].reindex(idx).to_numpy(dtype=np.int64)
    controls = _controls(inp, cand, _suspects(association[ALL], units, config.fdr_q))
    rows_remove, rows_unk, rows_ctl = [], [], []
    cache: dict[int, list[str]] = {}
    for i, (doc, unit, kind) in enumerate(zip(cand["_doc"], cand["unit"], cand["kind"], strict=True)):
        toks = cache.get(doc)
        if toks is None:
            toks = cache[doc] = inp.token_list(int(doc))
        positions = (word_pos if kind == "word" else span_pos)[(int(doc), str(unit))]
        rows_remove.append(batch.add_variant(toks, positions, mode="remove"))
        rows_unk.append(batch.add_variant(toks, positions, mode="unk"))
        ctl = controls.iat[i]
        rows_ctl.append(batch.add_variant(toks, ctl, mode="remove") if ctl else -1)
    gold = inp.docs["gold"].to_numpy(dtype=np.int64)
    pairs = pd.DataFrame({"_doc": cand["_doc"].to_numpy(dtype=np.int64), "uid": cand["uid"].to_numpy(dtype=np.int64),
                          "dataset": cand["dataset"].to_numpy(), "row_remove": np.asarray(rows_remove, dtype=np.int64),
                          "row_unk": np.asarray(rows_unk, dtype=np.int64),
                          "row_control": np.asarray(rows_ctl, dtype=np.int64)})
    pairs["gold"] = gold[pairs["_doc"].to_numpy()] if len(pairs) else np.zeros(0, dtype=np.int64)
    return DriverPlan(inputs=inp, presence=pres, units=units, pairs=pairs, scopes=scopes, config=config,
                      association=association)


def _fixed(probs: np.ndarray, rows: np.ndarray, gold: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(probs[rows].argmax(axis=1) == gold, dtype=bool)


def _suspects(assoc: pd.DataFrame, units: pd.DataFrame, alpha: float) -> frozenset[str]:
    """Words whose lift or contrast test passes at ``alpha``: never used as another unit's control."""
    with np.errstate(invalid="ignore"):
        hit = ((assoc["q_lift"] <= alpha) | (assoc["q_contrast"] <= alpha)).to_numpy(dtype=bool)
    u = units.set_index("uid").loc[assoc["uid"].to_numpy()[hit]]
    return frozenset(u.loc[u["kind"] == "word", "unit"].astype(str).tolist())


def _scope_table(plan: DriverPlan, scope: str, probs: np.ndarray) -> pd.DataFrame:
    cfg = plan.config
    out = plan.association[scope].drop(columns=["supported"])
    sup = plan.association[scope]["supported"].to_numpy(dtype=bool)
    sup_uids = set(out["uid"].to_numpy()[sup].tolist())
    # counterfactual pairs of supported units
    pairs = _in_scope(plan.pairs, scope)
    pairs = pairs[pairs["uid"].isin(sup_uids)]
    gold = pairs["gold"].to_numpy(dtype=np.int64)
    fix_rm = _fixed(probs, pairs["row_remove"].to_numpy(), gold)
    fix_unk = _fixed(probs, pairs["row_unk"].to_numpy(), gold)
    has_ctl = pairs["row_control"].to_numpy() >= 0
    ctl_rows = np.where(has_ctl, pairs["row_control"].to_numpy(), 0)
    fix_ctl = _fixed(probs, ctl_rows, gold) & has_ctl
    f = pd.DataFrame({"uid": pairs["uid"].to_numpy(), "rm": fix_rm, "unk": fix_unk, "has": has_ctl,
                      "ctl": fix_ctl, "win": fix_rm & ~fix_ctl & has_ctl, "loss": fix_ctl & ~fix_rm})
    f["rm_c"] = f["rm"] & f["has"]
    agg = f.groupby("uid").agg(n_cf=("rm", "size"), n_fixed=("rm", "sum"), n_unk=("unk", "sum"),
                               n_control=("has", "sum"), n_ctl=("ctl", "sum"), wins=("win", "sum"),
                               losses=("loss", "sum"))
    agg = agg.reindex(out["uid"], fill_value=0)
    out["n_cf"] = agg["n_cf"].to_numpy(dtype=np.int64)
    out["n_control"] = agg["n_control"].to_numpy(dtype=np.int64)
    out["n_fixed"] = agg["n_fixed"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_cf = out["n_cf"].to_numpy(dtype=np.float64)
        out["fix_rate_remove"] = np.where(n_cf > 0, agg["n_fixed"].to_numpy() / n_cf, np.nan)
        out["fix_rate_unk"] = np.where(n_cf > 0, agg["n_unk"].to_numpy() / n_cf, np.nan)
        n_ctl = out["n_control"].to_numpy(dtype=np.float64)
        out["control_fix_rate"] = np.where(n_ctl > 0, agg["n_ctl"].to_numpy() / n_ctl, np.nan)
    low, high = wilson_interval(out["n_fixed"].to_numpy(), out["n_cf"].to_numpy())
    out["fix_rate_low"], out["fix_rate_high"] = low, high
    tested = sup & (out["n_control"].to_numpy() > 0)
    p_fix = np.full(len(out), np.nan)
    if tested.any():
        p_fix[tested] = sign_test_greater(agg["wins"].to_numpy()[tested], agg["losses"].to_numpy()[tested])
    out["p_fix"] = p_fix
    out["q_fix"] = bh_qvalues(p_fix)
    alpha = cfg.fdr_q
    with np.errstate(invalid="ignore"):
        assoc = (out["q_lift"] <= alpha) | (out["q_contrast"] <= alpha)
        # paired: on the errors that have a control, the unit fixes more of them than the control does
        # (wins > losses is exactly "unit's fix rate > control's fix rate" over those errors)
        beats = (out["q_fix"] <= alpha) & (agg["wins"].to_numpy() > agg["losses"].to_numpy())
    out["confirmed"] = (assoc & beats).astype(bool)
    out["status"] = np.where(out["confirmed"], STATUS_CONFIRMED, np.where(sup, STATUS_CANDIDATE, STATUS_BELOW))
    out["scope"] = scope
    return out


def _order(df: pd.DataFrame) -> pd.DataFrame:
    status_key = df["status"].map({STATUS_CONFIRMED: 0, STATUS_CANDIDATE: 1, STATUS_BELOW: 2})
    min_q = df[["q_lift", "q_contrast"]].min(axis=1).fillna(2.0)
    conf = df["confirmed"].to_numpy(dtype=bool)
    k1 = np.where(conf, -df["n_fixed"].to_numpy(dtype=np.float64), min_q.to_numpy())
    k2 = np.where(conf, df["q_fix"].fillna(2.0).to_numpy(), -df["n_top_error"].to_numpy(dtype=np.float64))
    keyed = df.assign(_s=status_key.to_numpy(), _k1=k1, _k2=k2, _k3=-df["n_errors"].to_numpy(dtype=np.float64))
    keyed = keyed.sort_values(["_s", "_k1", "_k2", "_k3", "kind", "unit"], kind="mergesort")
    keyed["rank"] = np.arange(1, len(keyed) + 1, dtype=np.int64)
    return keyed.drop(columns=["_s", "_k1", "_k2", "_k3"])


def finish_driver_stats(plan: DriverPlan, probs: np.ndarray) -> pd.DataFrame:
    """Assemble ``driver_stats`` from a plan and the batch's predicted probabilities."""
    from audit.store.schemas import DRIVER_STATS, empty_table

    parts = []
    for scope in plan.scopes:
        part = _scope_table(plan, scope, probs)
        if part.empty:
            continue
        part = part.merge(plan.units, on="uid", how="left")
        parts.append(_order(part))
    if not parts:
        return empty_table(DRIVER_STATS)
    out = pd.concat(parts, ignore_index=True)
    return out[DRIVER_STATS.names].reset_index(drop=True)


def confirmed_drivers(driver_stats: pd.DataFrame, *, scope: str = ALL) -> list[dict[str, Any]]:
    """The confirmed drivers of ``scope`` in rank order, as the JSON objects of ``audit runs show --json``.

    Each has ``word`` (the unit's text), ``kind``, ``n_texts``, ``n_errors``, ``lift``, ``q_value``
    (the smaller of ``q_lift`` and ``q_contrast``: the association test that qualified it),
    ``q_lift``, ``q_contrast``, ``contrast_effect``, ``n_cf``, ``fix_rate`` (removal),
    ``fix_rate_unk``, ``control_fix_rate``, ``p_fix``, ``q_fix``, ``rank``.
    """
    from audit.metrics import confirmed_rows

    out = []
    for r in confirmed_rows(driver_stats, scope=scope).to_dict(orient="records"):
        q = [x for x in (r.get("q_lift"), r.get("q_contrast")) if x is not None and not pd.isna(x)]
        out.append({
            "word": str(r["unit"]), "kind": str(r["kind"]), "rank": int(r["rank"]), "n_texts": int(r["n_texts"]),
            "n_errors": int(r["n_errors"]), "lift": _num(r["lift"]), "q_value": min(q) if q else None,
            "q_lift": _num(r["q_lift"]), "q_contrast": _num(r["q_contrast"]),
            "contrast_effect": _num(r["contrast_effect"]), "n_cf": int(r["n_cf"]),
            "fix_rate": _num(r["fix_rate_remove"]), "fix_rate_unk": _num(r["fix_rate_unk"]),
            "control_fix_rate": _num(r["control_fix_rate"]), "p_fix": _num(r["p_fix"]), "q_fix": _num(r["q_fix"]),
        })
    return out


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)
