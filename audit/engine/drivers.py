"""Raw driver words: how often each word is REAT's top contributor to an error.

Pure functions over the run tables (``predictions``, ``token_attributions``,
``failure_drivers``; see docs/ARCHITECTURE.md).  Scores are REAT contributions
toward the *predicted* class, so for an error a positive score pushes the text
toward the wrong answer (the paper's section 4.8.1: "terribly" driving a
negative prediction of a positive review).

These counts are untested: the driver statistics that decide which words are
*confirmed* drivers live in :mod:`audit.findings` (``driver_stats``), which also
owns :func:`failure_drivers` (re-exported here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit._lookup import lookup
from audit._spill import Spill
from audit.data.tokenize import is_punct
from audit.findings._inputs import TagCounts
from audit.findings.reasons import REASON_COLUMNS, failure_drivers
from audit.store.schemas import driver_words_schema, train_count_column

FAILURE_DRIVER_COLUMNS = REASON_COLUMNS
_KEY = ["dataset", "example_id"]
_OCCURRENCE = np.dtype([("code", "<i4"), ("score", "<f8")])
_BUCKETS = 64

__all__ = ["FAILURE_DRIVER_COLUMNS", "DriverWordCounts", "driver_word_columns", "driver_words", "failure_drivers", "train_count_column",
           "train_label_counts"]


def driver_word_columns(label_names: Sequence[str]) -> list[str]:
    """``driver_words``' columns (the schema in :mod:`audit.store.schemas`)."""
    return list(driver_words_schema(label_names).names)


def _errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """The misclassified rows' keys plus their order in ``predictions``."""
    keys = predictions[_KEY].copy()
    keys["_order"] = np.arange(len(predictions))
    return keys[~predictions["correct"].to_numpy(dtype=bool)]


def train_label_counts(
    token_lists: Sequence[Sequence[str]], labels: Sequence[int], label_names: Sequence[str]
) -> pd.DataFrame:
    """Per word, the number of training texts of each label that contain it (index: word)."""
    counts = [Counter[str]() for _ in label_names]
    for toks, lab in zip(token_lists, labels, strict=True):
        counts[int(lab)].update(set(toks))
    words = sorted(set().union(*counts)) if counts else []
    data = {train_count_column(name): [c.get(w, 0) for w in words] for name, c in zip(label_names, counts, strict=True)}
    return pd.DataFrame(data, index=pd.Index(words, name="word"), dtype="int64")


class DriverWordCounts:
    """:func:`driver_words` accumulated block by block, in two passes: :meth:`add` every block (counts:
    one entry per distinct token), then :meth:`add_scores` every block (the scores of the driver words
    only, a float64 and an int32 code per occurrence, kept in table order so ``mean_score`` / ``std_score``
    are computed exactly as :func:`driver_words` computes them on the assembled table), then
    :meth:`finish`.  Any split of the run into whole texts gives the identical table.  The occurrences
    go to a :class:`~audit._spill.Spill` bucketed by word (on disk past ``memory_rows`` rows), and
    :meth:`finish` reads one bucket of words at a time."""

    def __init__(self, *, words_only: bool = False, memory_rows: int | None = None,
                 spill_dir: Path | None = None) -> None:
        self.words_only = words_only
        self.tags = TagCounts()
        self._drivers: dict[str, int] = {}  # driver word -> errors where it is the top contributor
        self._in_errors: Counter[str] = Counter()
        self._occurrences = Spill(_OCCURRENCE, memory_rows=memory_rows, directory=spill_dir,
                                  name="driver-word-scores")
        self._code_of: dict[str, int] | None = None

    def add(self, predictions: pd.DataFrame, token_attributions: pd.DataFrame, drivers: pd.DataFrame) -> None:
        """Pass 1, one block of whole texts: its predictions, tokens and failure drivers (any columns of
        :data:`FAILURE_DRIVER_COLUMNS`; only rows of kind ``word`` are read)."""
        word_drivers = drivers[drivers["kind"] == "word"]
        if self.words_only and len(word_drivers):
            word_drivers = word_drivers[word_drivers["text"].map(lambda t: not is_punct(t)).astype(bool)]
        for w in pd.unique(word_drivers["text"].astype(str)):
            self._drivers.setdefault(str(w), 0)
        first = word_drivers.sort_values("rank", kind="mergesort").drop_duplicates(_KEY)  # best driver per error
        for w, n in first.groupby("text").size().items():
            self._drivers[str(w)] += int(n)
        errors = _errors(predictions)
        in_err = token_attributions.merge(errors, on=_KEY, how="inner").drop_duplicates(_KEY + ["token"])
        self._in_errors.update({str(k): int(v) for k, v in in_err.groupby("token").size().items()})
        if "pos" in token_attributions:
            self.tags.add(token_attributions["token"], token_attributions["pos"])

    def add_scores(self, token_attributions: pd.DataFrame) -> None:
        """Pass 2, the same blocks in the same order: keep the scores of the driver words' occurrences."""
        if token_attributions.empty or not self._drivers:
            return
        code_of = self._word_codes()
        codes = lookup(token_attributions["token"].astype(str), lambda w: code_of.get(w, np.nan), dtype=np.float64)
        keep = ~np.isnan(codes)
        rows = np.empty(int(keep.sum()), dtype=_OCCURRENCE)
        rows["code"] = codes[keep].astype(np.int32)
        rows["score"] = token_attributions["score_pred"].to_numpy(dtype=np.float64)[keep]
        self._occurrences.append(rows["code"] % _BUCKETS, rows)

    def _word_codes(self) -> dict[str, int]:
        if self._code_of is None or len(self._code_of) != len(self._drivers):
            self._code_of = {w: i for i, w in enumerate(self._drivers)}
        return self._code_of

    def _score_stats(self) -> pd.DataFrame:
        """n, mean, std of each driver word's scores (index: its code), one bucket of words at a time: a
        word's scores are all in one bucket, in table order, so each is the whole table's statistic."""
        parts = []
        for _, rows in self._occurrences.buckets():
            occ = pd.DataFrame({"code": rows["code"].astype(np.int64), "score_pred": rows["score"]})
            parts.append(occ.groupby("code")["score_pred"].agg(
                n="size", mean="mean", std=lambda s: float(np.std(s.to_numpy(dtype=np.float64)))))
        self._occurrences.close()
        if not parts:
            return pd.DataFrame({"n": pd.Series(dtype="int64"), "mean": pd.Series(dtype="float64"),
                                 "std": pd.Series(dtype="float64")})
        return pd.concat(parts).sort_index()

    def finish(self, *, label_names: Sequence[str], train_counts: pd.DataFrame | None = None) -> pd.DataFrame:
        """The ``driver_words`` table (see :func:`driver_words`)."""
        columns = driver_word_columns(label_names)
        if not self._drivers:
            empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
            return empty.astype({"word": "object", "pos": "object", "rank": "int64", "n_top_error": "int64",
                                 "n_in_errors": "int64", "n_occurrences": "int64",
                                 **{train_count_column(lab): "int64" for lab in label_names}})
        words = pd.Index(list(self._drivers), name="word")
        stats = self._score_stats().reindex(np.arange(len(words)))
        tag = self.tags.most_frequent()
        out = pd.DataFrame(
            {
                "word": words,
                "pos": tag.reindex(words).to_numpy(),
                "n_top_error": np.array([self._drivers[w] for w in words], dtype=np.int64),
                "n_in_errors": np.array([self._in_errors.get(w, 0) for w in words], dtype=np.int64),
                "n_occurrences": stats["n"].to_numpy(),
                "mean_score": stats["mean"].to_numpy(dtype=np.float64),
                "std_score": stats["std"].to_numpy(dtype=np.float64),
            }
        )
        count_cols = [train_count_column(lab) for lab in label_names]
        if train_counts is not None and not train_counts.empty:
            counts = train_counts.reindex(words, fill_value=0)[count_cols].to_numpy(dtype=np.int64)
        else:
            counts = np.zeros((len(words), len(count_cols)), dtype=np.int64)
        for j, col in enumerate(count_cols):
            out[col] = counts[:, j]
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["train_label_skew"] = np.where(total > 0, counts.max(axis=1, initial=0) / np.maximum(total, 1), np.nan)
        out = out.sort_values(
            ["n_top_error", "n_in_errors", "mean_score", "word"], ascending=[False, False, False, True], kind="mergesort"
        ).reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
        return out[columns].astype({"n_top_error": "int64", "n_in_errors": "int64", "n_occurrences": "int64"})


def driver_words(
    predictions: pd.DataFrame,
    token_attributions: pd.DataFrame,
    drivers: pd.DataFrame,
    *,
    label_names: Sequence[str],
    train_counts: pd.DataFrame | None = None,
    words_only: bool = False,
) -> pd.DataFrame:
    """Rank the words that drive errors (words in ``drivers`` of kind ``word``).

    With ``words_only`` tokens without a letter or digit (punctuation) are left
    out, and the top contributor of an error is its best remaining driver.

    - ``n_top_error``: errors where the word is the top contributor (rank 1);
    - ``n_in_errors``: misclassified texts containing the word;
    - ``n_occurrences``, ``mean_score``, ``std_score`` (population std): over every
      occurrence in every text, score toward the predicted class;
    - ``pos``: most frequent PTB tag (ties alphabetical);
    - ``train_count_<label>``: training texts of that label containing the word,
      ``train_label_skew``: the largest label share among them (NaN if unseen in training).

    Ranked by ``n_top_error``, then ``n_in_errors``, then ``mean_score`` (all descending), then the word.
    Block by block: :class:`DriverWordCounts`.
    """
    counts = DriverWordCounts(words_only=words_only)
    counts.add(predictions, token_attributions, drivers)
    counts.add_scores(token_attributions)
    return counts.finish(label_names=label_names, train_counts=train_counts)
