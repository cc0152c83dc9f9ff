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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.findings._inputs import Inputs, TagCounts
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch
from audit.findings.stats import bh_qvalues, fisher_greater, mann_whitney_greater, sign_test_greater, wilson_interval
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


def _unit_rows(inp: Inputs, phrases: bool) -> pd.DataFrame:
    """One row per (text, unit) of ``inp``: _doc, unit, score (largest), top (any), best (rank), kind.
    Words first (texts in order, first occurrence), then phrase spans of two or more tokens."""
    t = inp.tokens
    words = t.groupby(["_doc", "token"], sort=False).agg(score=("score", "max"), top=("top", "any"),
                                                         best=("rank", "min")).reset_index()
    words = words.rename(columns={"token": "unit"})
    words["kind"] = "word"
    frames = [words]
    if phrases and len(inp.spans):
        ph = inp.spans[(inp.spans["level"] == "phrase") & (inp.spans["end"] - inp.spans["start"] > 1)]
        ph = ph.groupby(["_doc", "unit"], sort=False).agg(score=("score", "max"), top=("top", "any"),
                                                          best=("rank", "min")).reset_index()
        ph["kind"] = "phrase"
        frames.append(ph)
    return pd.concat(frames, ignore_index=True)


class WholeRun:
    """The whole-run part of ``driver_stats``, accumulated text block by text block (:meth:`add`).

    Everything the support, lift and attribution-contrast tests read: per text its dataset and whether
    it is an error; per (text, unit) the unit's largest score and whether it is a top contributor; per
    unit its kind, text and flags (most frequent POS tag, stopword / punctuation).  Units are numbered
    as one pass over the whole table would number them: words in order of first occurrence, then
    phrases, so a run added block by block gives the same tables as one added whole.  Memory: the unit
    registry (one entry per distinct word and phrase) plus 17 bytes per (text, distinct unit) and 3
    bytes per text -- no token, span or text string is kept.
    """

    def __init__(self, *, phrases: bool) -> None:
        self.phrases = phrases
        self._ids: dict[str, dict[str, int]] = {"word": {}, "phrase": {}}
        self._word_flags: dict[str, tuple[bool, bool]] = {}
        self._phrase_flags: dict[str, tuple[bool, bool]] = {}
        self.tags = TagCounts()
        self._datasets: dict[str, int] = {}
        self._parts: list[dict[str, np.ndarray]] = []
        self._docs: list[tuple[np.ndarray, np.ndarray]] = []
        self._presence: pd.DataFrame | None = None

    @property
    def datasets(self) -> list[str]:
        """Dataset names in order of first appearance."""
        return list(self._datasets)

    def _codes(self, names: pd.Series) -> np.ndarray:
        for name in pd.unique(names.astype(str)):
            self._datasets.setdefault(str(name), len(self._datasets))
        return names.astype(str).map(self._datasets).to_numpy(dtype=np.int16)

    def add(self, inp: Inputs) -> None:
        """Count one block of texts (any split of the run into whole texts, in table order)."""
        if self._presence is not None:
            raise RuntimeError("WholeRun.add after presence(): every block must be added first")
        rows = _unit_rows(inp, self.phrases)
        t = inp.tokens
        self.tags.add(t["token"], t["pos"])
        first = t.drop_duplicates("token")
        for tok, stop, punct in zip(first["token"], first["stop"], first["punct"], strict=True):
            self._word_flags.setdefault(str(tok), (bool(stop), bool(punct)))
        is_phrase = (rows["kind"] == "phrase").to_numpy()
        local = np.empty(len(rows), dtype=np.int32)
        for kind, mask in (("word", ~is_phrase), ("phrase", is_phrase)):
            ids = self._ids[kind]
            units = rows.loc[mask, "unit"].astype(str)
            for u in pd.unique(units):
                ids.setdefault(u, len(ids))
            local[mask] = units.map(ids).to_numpy(dtype=np.int32)
        if is_phrase.any():
            sp = inp.spans[inp.spans["level"] == "phrase"].drop_duplicates("unit")
            phrase_ids = self._ids["phrase"]
            for u, stop, punct in zip(sp["unit"], sp["all_stop"], sp["all_punct"], strict=True):
                if str(u) in phrase_ids:
                    self._phrase_flags.setdefault(str(u), (bool(stop), bool(punct)))
        docs = inp.docs
        codes = self._codes(docs["dataset"])
        error = docs["error"].to_numpy(dtype=bool)
        doc = rows["_doc"].to_numpy(dtype=np.int64)
        self._docs.append((codes, error))
        self._parts.append({"phrase": is_phrase, "id": local, "score": rows["score"].to_numpy(dtype=np.float64),
                            "top": rows["top"].to_numpy(dtype=bool), "error": error[doc], "dataset": codes[doc]})

    def _categorical(self, codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes.astype(np.int64), categories=self.datasets)

    def docs(self) -> pd.DataFrame:
        """dataset, error: one row per text."""
        codes = np.concatenate([c for c, _ in self._docs]) if self._docs else np.zeros(0, dtype=np.int16)
        error = np.concatenate([e for _, e in self._docs]) if self._docs else np.zeros(0, dtype=bool)
        return pd.DataFrame({"dataset": self._categorical(codes), "error": error})

    def presence(self) -> pd.DataFrame:
        """uid, score, top, error, dataset: one row per (text, distinct unit).  Built once, when every block
        is in (the blocks' arrays are then released: one copy is held, not two)."""
        if self._presence is not None:
            return self._presence
        n_words = len(self._ids["word"])
        parts, self._parts = self._parts, []

        def column(key: str, dtype: Any) -> np.ndarray:  # one column at a time, each block's array freed
            arrays = [p.pop(key) for p in parts]
            return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)

        phrase = column("phrase", bool)
        uid = column("id", np.int64)
        uid[phrase] += n_words
        del phrase
        frame = {"uid": uid, "score": column("score", np.float64), "top": column("top", bool),
                 "error": column("error", bool), "dataset": self._categorical(column("dataset", np.int64))}
        self._presence = pd.DataFrame(frame, copy=False)
        return self._presence

    def units(self) -> pd.DataFrame:
        """uid -> kind, unit, pos, is_stopword, is_punct."""
        words, phrases = list(self._ids["word"]), list(self._ids["phrase"])
        keys = pd.DataFrame({"kind": ["word"] * len(words) + ["phrase"] * len(phrases), "unit": words + phrases})
        keys["uid"] = np.arange(len(keys), dtype=np.int64)
        tag = self.tags.most_frequent()
        wflags = [self._word_flags.get(w, (False, False)) for w in words]
        pflags = [self._phrase_flags[u] for u in phrases]
        keys["pos"] = [str(tag.get(w, "")) for w in words] + [""] * len(phrases)
        keys["is_stopword"] = [f[0] for f in wflags] + [f[0] for f in pflags]
        keys["is_punct"] = [f[1] for f in wflags] + [f[1] for f in pflags]
        return keys.astype({"is_stopword": bool, "is_punct": bool})

    def uids_of(self, kinds: pd.Series, units: pd.Series) -> np.ndarray:
        """:meth:`uid_of` of each row (vectorised)."""
        out = np.full(len(units), -1, dtype=np.int64)
        is_phrase = (kinds == "phrase").to_numpy()
        for kind, mask, offset in (("word", ~is_phrase, 0), ("phrase", is_phrase, len(self._ids["word"]))):
            if mask.any():
                ids = units[mask].astype(str).map(self._ids[kind]).to_numpy(dtype=np.float64)
                out[mask] = np.where(np.isnan(ids), -1, ids + offset).astype(np.int64)
        return out

    def uid_of(self, kind: str, unit: str) -> int:
        """The unit's number (as in :meth:`units`), -1 when the run never saw it."""
        ids = self._ids[kind]
        uid = ids.get(unit, -1)
        return uid + len(self._ids["word"]) if kind == "phrase" and uid >= 0 else uid


def _presence(inp: Inputs, whole: WholeRun) -> pd.DataFrame:
    """``inp``'s (text, unit) rows with the run-wide ``uid`` of each unit and its text's dataset and error."""
    pres = _unit_rows(inp, whole.phrases)
    pres["uid"] = whole.uids_of(pres["kind"], pres["unit"])
    return pres.merge(inp.docs[["_doc", "dataset", "error"]], on="_doc", how="left")


def _scopes(whole: WholeRun) -> list[str]:
    names = whole.datasets
    return [ALL] + names if len(names) > 1 else [ALL]


def _in_scope(df: pd.DataFrame, scope: str) -> pd.DataFrame:
    return df if scope == ALL else df[df["dataset"] == scope]


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
    if whole is None:
        whole = WholeRun(phrases=config.phrases)
        whole.add(inp)
    units = whole.units()
    scopes = _scopes(whole)
    all_pres, all_docs = whole.presence(), whole.docs()
    association = {scope: _association(_in_scope(all_pres, scope), _in_scope(all_docs, scope), config)
                   for scope in scopes}
    del all_pres
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


def _association(pres: pd.DataFrame, docs: pd.DataFrame, cfg: FindingsConfig) -> pd.DataFrame:
    """Support, lift and attribution contrast of every kept unit of one scope (no model needed)."""
    n_all, e_all = len(docs), int(docs["error"].sum())
    # counts per unit by bincount over the (dense) unit numbers: no frame-sized temporaries
    uid_all = pres["uid"].to_numpy(dtype=np.int64)
    err_all, top_all = pres["error"].to_numpy(dtype=bool), pres["top"].to_numpy(dtype=bool)
    size = int(uid_all.max()) + 1 if len(uid_all) else 0
    counts = np.bincount(uid_all, minlength=size)
    present = np.flatnonzero(counts)
    index = pd.Index(present.astype(np.int64), name="uid")
    n_texts = pd.Series(counts[present].astype(np.int64), index=index)
    n_errors = pd.Series(np.bincount(uid_all[err_all], minlength=size)[present].astype(np.int64), index=index)
    n_top = pd.Series(np.bincount(uid_all[err_all & top_all], minlength=size)[present].astype(np.int64), index=index)
    supported = (n_texts >= cfg.min_texts) & (n_errors >= cfg.min_errors)
    keep = supported | (n_top > 0)
    uids = n_texts.index[keep.to_numpy()]
    a = n_errors.reindex(uids).to_numpy(dtype=np.int64)
    nt = n_texts.reindex(uids).to_numpy(dtype=np.int64)
    b, c = nt - a, e_all - a
    d = (n_all - e_all) - b
    sup = supported.reindex(uids).to_numpy(dtype=bool)
    out = pd.DataFrame({"uid": uids, "n_texts": nt, "n_errors": a,
                        "n_top_error": n_top.reindex(uids).to_numpy(dtype=np.int64), "supported": sup})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["error_rate_with"] = a / nt
        out["error_rate_without"] = np.where(c + d > 0, c / np.maximum(c + d, 1), np.nan)
        out["lift"] = out["error_rate_with"] / (e_all / n_all) if e_all else np.nan
    p_lift = np.full(len(uids), np.nan)
    if sup.any():
        p_lift[sup] = fisher_greater(a[sup], b[sup], c[sup], d[sup])
    out["p_lift"] = p_lift
    mw = _contrast(pres, uids[sup], nt[sup])
    out["contrast_effect"] = out["uid"].map(mw["effect"]).astype(np.float64)
    out["p_contrast"] = out["uid"].map(mw["p"]).astype(np.float64)
    out["q_lift"] = bh_qvalues(out["p_lift"].to_numpy())
    out["q_contrast"] = bh_qvalues(out["p_contrast"].to_numpy())
    return out


CONTRAST_ROWS = 250_000
"""Presence rows per Mann-Whitney call: the supported units are tested in runs of consecutive units
holding at most this many rows (one unit's rows are never split), so the test's temporary frames
(~125 bytes a row) stay ~30 MB however many texts the run has; the results do not depend on the split."""


def _contrast(pres: pd.DataFrame, sup_uids: np.ndarray, sup_rows: np.ndarray) -> pd.DataFrame:
    """:func:`mann_whitney_greater` of every supported unit's scores (errors vs correct), in unit runs."""
    order = np.argsort(sup_uids, kind="mergesort")
    sup_uids, sup_rows = sup_uids[order], sup_rows[order]
    uid = pres["uid"].to_numpy()
    score, error = pres["score"].to_numpy(), pres["error"].to_numpy()
    supported = np.zeros(int(uid.max()) + 1 if len(uid) else 0, dtype=bool)
    supported[sup_uids] = True
    parts, start = [], 0
    cum = np.cumsum(sup_rows)
    while start < len(sup_uids):
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + CONTRAST_ROWS, side="right")))
        lo, hi = sup_uids[start], sup_uids[stop - 1]
        mask = (uid >= lo) & (uid <= hi)
        mask &= supported[uid]
        parts.append(mann_whitney_greater(score[mask], error[mask], uid[mask]))
        start = stop
    if not parts:
        return mann_whitney_greater(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64))
    return pd.concat(parts) if len(parts) > 1 else parts[0]


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
