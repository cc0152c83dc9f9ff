"""Run-wide association statistics of ``driver_stats`` (steps 1-3 of :mod:`audit.findings.drivers`).

Owns the exact whole-run counts (:class:`WholeRun`, accumulated text block by text block) and, per scope,
the three statistics computed from them without the model:

* **support** -- ``n_texts`` texts contain the unit, ``n_errors`` of them are misclassified (document presence);
* **lift** -- ``error_rate_with / overall error rate``, one-sided Fisher exact test of the 2x2 table, BH -> ``q_lift``;
* **attribution contrast** -- the unit's score toward the predicted class in errors vs correct predictions,
  one-sided Mann-Whitney U (effect: rank-biserial correlation), BH -> ``q_contrast``.

The counterfactual steps (controls, fix rates, the paired test, confirmation) are in :mod:`audit.findings.drivers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.findings._inputs import Inputs, TagCounts
from audit.findings.config import FindingsConfig
from audit.findings.stats import bh_qvalues, fisher_greater, mann_whitney_greater
from audit.metrics import ALL_SCOPE as ALL

__all__ = ["CONTRAST_ROWS", "WholeRun"]


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
