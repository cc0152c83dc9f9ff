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


from pathlib import Path

import numpy as np
import pandas as pd

from audit._lookup import lookup
from audit._spill import Spill
from audit.findings._inputs import Inputs, TagCounts
from audit.findings.config import FindingsConfig
from audit.findings.stats import bh_qvalues, fisher_greater, mann_whitney_greater
from audit.metrics import ALL_SCOPE as ALL

__all__ = ["CONTRAST_ROWS", "N_BUCKETS", "PRESENCE_ROW", "WholeRun"]


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


PRESENCE_ROW = np.dtype([("key", "<i8"), ("score", "<f8"), ("error", "?"), ("dataset", "<i2")])
"""One (text, distinct unit) row as :class:`WholeRun` keeps it for the Mann-Whitney test (19 bytes):
``key`` = 2 * the unit's number within its kind + (1 for a phrase), its largest score in the text,
whether the text is an error, the text's dataset code."""
N_BUCKETS = 64
"""Buckets of :class:`WholeRun`'s presence rows (by unit): a spilled run reads one at a time."""


class _Grown:
    """Per-key int64 counts, grown as new keys appear."""

    def __init__(self) -> None:
        self.values = np.zeros(0, dtype=np.int64)

    def add(self, keys: np.ndarray) -> None:
        if not len(keys):
            return
        counts = np.bincount(keys, minlength=len(self.values))
        if len(counts) > len(self.values):
            self.values = np.concatenate([self.values, np.zeros(len(counts) - len(self.values), dtype=np.int64)])
        self.values += counts


class WholeRun:
    """The whole-run part of ``driver_stats``, accumulated text block by text block (:meth:`add`).

    Everything the support, lift and attribution-contrast tests read, in memory that grows with the
    distinct units, not with the texts: per dataset the number of texts and errors, and per (dataset,
    unit) the texts containing the unit, the errors among them and the errors where it is a top
    contributor (exact counts); per unit its kind, text and flags (most frequent POS tag, stopword /
    punctuation).  The contrast test ranks
    every score of a unit, so the (text, unit) rows it needs -- 19 bytes each, :data:`PRESENCE_ROW` --
    are kept in a :class:`~audit._spill.Spill` bucketed by unit: in memory up to ``memory_rows`` rows
    (default :data:`~audit._spill.SPILL_ROWS`), then on disk (under ``spill_dir``, default ``TMPDIR``),
    then on disk, read one bucket at a time (peak: the largest bucket, not the run).  Units are numbered
    as one pass over the whole table would number them: words in order of first occurrence, then
    phrases, so a run added block by block gives the same tables as one added whole, spilled or not.
    """

    def __init__(self, *, phrases: bool, memory_rows: int | None = None, spill_dir: Path | None = None) -> None:
        self.phrases = phrases
        self._ids: dict[str, dict[str, int]] = {"word": {}, "phrase": {}}
        self._word_flags: dict[str, tuple[bool, bool]] = {}
        self._phrase_flags: dict[str, tuple[bool, bool]] = {}
        self.tags = TagCounts()
        self._datasets: dict[str, int] = {}
        self._n_docs: list[int] = []
        self._n_error_docs: list[int] = []
        self._counts: list[tuple[_Grown, _Grown, _Grown]] = []  # per dataset code: texts, errors, top errors
        self._rows = Spill(PRESENCE_ROW, memory_rows=memory_rows, directory=spill_dir, name="presence")
        self._done = False

    @property
    def datasets(self) -> list[str]:
        """Dataset names in order of first appearance."""
        return list(self._datasets)

    @property
    def spilled(self) -> bool:
        """Whether the presence rows went to disk."""
        return self._rows.spilled

    def _codes(self, names: pd.Series) -> np.ndarray:
        for name in pd.unique(names.astype(str)):
            if str(name) not in self._datasets:
                self._datasets[str(name)] = len(self._datasets)
                self._n_docs.append(0)
                self._n_error_docs.append(0)
                self._counts.append((_Grown(), _Grown(), _Grown()))
        return lookup(names.astype(str), self._datasets, dtype=np.int16)

    def add(self, inp: Inputs) -> None:
        """Count one block of texts (any split of the run into whole texts, in table order)."""
        if self._done:
            raise RuntimeError("WholeRun.add after association(): every block must be added first")
        rows = _unit_rows(inp, self.phrases)
        t = inp.tokens
        self.tags.add(t["token"], t["pos"])
        first = t.drop_duplicates("token")
        for tok, stop, punct in zip(first["token"], first["stop"], first["punct"], strict=True):
            self._word_flags.setdefault(str(tok), (bool(stop), bool(punct)))
        is_phrase = (rows["kind"] == "phrase").to_numpy()
        local = np.empty(len(rows), dtype=np.int64)
        for kind, mask in (("word", ~is_phrase), ("phrase", is_phrase)):
            ids = self._ids[kind]
            units = rows.loc[mask, "unit"].astype(str)
            local[mask] = lookup(units, lambda u, ids=ids: ids.setdefault(u, len(ids)), dtype=np.int64)  # type: ignore[misc]
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
        key = local * 2 + is_phrase
        row_error, row_code, top = error[doc], codes[doc], rows["top"].to_numpy(dtype=bool)
        for code in np.unique(codes):
            in_ds = row_code == code
            texts, errors, top_errors = self._counts[int(code)]
            texts.add(key[in_ds])
            errors.add(key[in_ds & row_error])
            top_errors.add(key[in_ds & row_error & top])
            self._n_docs[int(code)] += int((codes == code).sum())
            self._n_error_docs[int(code)] += int(error[codes == code].sum())
        out = np.empty(len(rows), dtype=PRESENCE_ROW)
        out["key"], out["score"], out["error"], out["dataset"] = key, rows["score"].to_numpy(np.float64), \
            row_error, row_code
        self._rows.append(key % N_BUCKETS, out)

    def n_texts(self, scope: str = ALL) -> int:
        """Texts added (of ``scope``: a dataset, or :data:`ALL`)."""
        return sum(self._n_docs) if scope == ALL else self._n_docs[self._datasets[scope]]

    def n_errors(self, scope: str = ALL) -> int:
        """Misclassified texts added (of ``scope``)."""
        return sum(self._n_error_docs) if scope == ALL else self._n_error_docs[self._datasets[scope]]

    def _uids(self, keys: np.ndarray) -> np.ndarray:
        return (keys >> 1) + (keys & 1) * len(self._ids["word"])

    def _unit_counts(self, scope: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(texts, errors, top errors) per uid (dense, every unit of the run) in ``scope``."""
        n_units = len(self._ids["word"]) + len(self._ids["phrase"])
        codes = range(len(self._datasets)) if scope == ALL else [self._datasets[scope]]
        out = []
        for j in range(3):
            total = np.zeros(n_units, dtype=np.int64)
            for code in codes:
                values = self._counts[code][j].values
                keys = np.flatnonzero(values)
                total[self._uids(keys)] += values[keys]
            out.append(total)
        return out[0], out[1], out[2]

    def association(self, config: FindingsConfig) -> dict[str, pd.DataFrame]:
        """Support, lift and attribution contrast of every kept unit, per scope (:func:`scopes`), from one
        pass over the presence rows; no block can be added afterwards."""
        self._done = True
        scopes = _scopes(self)
        support = {scope: _support(*self._unit_counts(scope), n_all=self.n_texts(scope),
                                   e_all=self.n_errors(scope), cfg=config) for scope in scopes}
        n_units = len(self._ids["word"]) + len(self._ids["phrase"])
        tested = {}
        for scope, sup in support.items():
            mask = np.zeros(n_units, dtype=bool)
            mask[sup.loc[sup["supported"], "uid"].to_numpy(dtype=np.int64)] = True
            tested[scope] = mask
        parts: dict[str, list[pd.DataFrame]] = {scope: [] for scope in scopes}
        for _, rows in self._rows.buckets():
            uid = self._uids(rows["key"])
            for scope in scopes:
                keep = tested[scope][uid]
                if scope != ALL:
                    keep &= rows["dataset"] == self._datasets[scope]
                if keep.any():
                    parts[scope].append(_contrast(uid[keep], rows["score"][keep], rows["error"][keep]))
        return {scope: _with_contrast(support[scope], parts[scope]) for scope in scopes}

    def close(self) -> None:
        """Release the presence rows (and their temporary files)."""
        self._rows.close()

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


def _support(n_texts: np.ndarray, n_errors: np.ndarray, n_top: np.ndarray, *, n_all: int, e_all: int,
             cfg: FindingsConfig) -> pd.DataFrame:
    """Support and lift of every kept unit of one scope (uid-indexed counts; no model, no scores):
    a unit is kept when it is supported (``min_texts`` / ``min_errors``) or a top contributor of an error."""
    present = np.flatnonzero(n_texts)
    supported = (n_texts[present] >= cfg.min_texts) & (n_errors[present] >= cfg.min_errors)
    keep = supported | (n_top[present] > 0)
    uids = present[keep].astype(np.int64)
    a, nt = n_errors[uids], n_texts[uids]
    b, c = nt - a, e_all - a
    d = (n_all - e_all) - b
    sup = supported[keep]
    out = pd.DataFrame({"uid": uids, "n_texts": nt, "n_errors": a, "n_top_error": n_top[uids], "supported": sup})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["error_rate_with"] = a / nt
        out["error_rate_without"] = np.where(c + d > 0, c / np.maximum(c + d, 1), np.nan)
        out["lift"] = out["error_rate_with"] / (e_all / n_all) if e_all else np.nan
    p_lift = np.full(len(uids), np.nan)
    if sup.any():
        p_lift[sup] = fisher_greater(a[sup], b[sup], c[sup], d[sup])
    out["p_lift"] = p_lift
    return out


def _with_contrast(support: pd.DataFrame, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """``support`` plus the contrast test's effect and p (``parts``: :func:`_contrast` results), and the
    BH q-values of both tests."""
    out = support.copy()
    if parts:
        mw = pd.concat(parts) if len(parts) > 1 else parts[0]
    else:
        mw = mann_whitney_greater(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64))
    out["contrast_effect"] = out["uid"].map(mw["effect"]).astype(np.float64)
    out["p_contrast"] = out["uid"].map(mw["p"]).astype(np.float64)
    out["q_lift"] = bh_qvalues(out["p_lift"].to_numpy())
    out["q_contrast"] = bh_qvalues(out["p_contrast"].to_numpy())
    return out


CONTRAST_ROWS = 250_000
"""Presence rows per Mann-Whitney call: the units are tested in runs of consecutive units holding at
most this many rows (one unit's rows are never split), so the test's temporary frames (~125 bytes a
row) stay ~30 MB however many texts the run has; the results do not depend on the split."""


def _contrast(uid: np.ndarray, score: np.ndarray, error: np.ndarray) -> pd.DataFrame:
    """:func:`mann_whitney_greater` of every unit's scores (errors vs correct) among these rows (each
    unit's rows all here), in runs of units of at most :data:`CONTRAST_ROWS` rows."""
    units, sizes = np.unique(uid, return_counts=True)
    cum = np.cumsum(sizes)
    parts, start = [], 0
    while start < len(units):
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + CONTRAST_ROWS, side="right")))
        lo, hi = units[start], units[stop - 1]
        mask = (uid >= lo) & (uid <= hi)
        parts.append(mann_whitney_greater(score[mask], error[mask], uid[mask]))
        start = stop
    return pd.concat(parts) if len(parts) > 1 else parts[0]
