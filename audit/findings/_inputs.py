"""The per-text views the findings stage works on, built once from the run tables.

Inputs are the contract tables (docs/ARCHITECTURE.md): ``predictions`` (dataset,
example_id, gold, pred, correct), a token-score table shaped like
``token_attributions`` (dataset, example_id, position, token, score_pred; ``pos``
optional) from ANY attribution method, and optionally ``segments`` for phrase
and clause spans.  Span scores are recomputed here as sums of the token scores,
so a baseline method's phrases are scored by that method, not by REAT.

Every text gets an integer ``_doc`` (its row in ``predictions``); token ranks are
within a text by score toward the predicted class (descending, ties by
position); a unit is a *top contributor* when its rank is ``<= top_k`` and its
score is positive.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from audit._lookup import lookup
from audit.data.tokenize import is_punct
from audit.errors import InputError

KEY = ["dataset", "example_id"]
PRED_NEEDS = ("dataset", "example_id", "gold", "pred", "correct")
TOKEN_NEEDS = ("dataset", "example_id", "position", "token", "score_pred")
SEGMENT_NEEDS = ("dataset", "example_id", "level", "start", "end", "text")


def _require(df: pd.DataFrame, needs: tuple[str, ...], what: str) -> None:
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise InputError(f"the {what} table lacks columns {', '.join(missing)}",
                         hint=f"pass a table with columns {', '.join(needs)} (see docs/ARCHITECTURE.md)")


@dataclass(frozen=True)
class Inputs:
    """Texts, their tokens and spans, with ranks and flags (see the module docstring)."""

    docs: pd.DataFrame  # _doc (== row), dataset, example_id, gold, pred, error
    tokens: pd.DataFrame  # _doc, position, token, pos, score, rank, top, stop, punct, content
    spans: pd.DataFrame  # _doc, level, start, end, unit, score, rank, top, n_content, all_stop, all_punct
    offsets: npt.NDArray[np.int64]  # first row of each _doc in ``tokens``
    lengths: npt.NDArray[np.int64]
    top_k: int
    words: npt.NDArray[np.object_]  # tokens["token"] as a plain array (fast slicing)

    def token_list(self, doc: int) -> list[str]:
        start = int(self.offsets[doc])
        return [str(t) for t in self.words[start:start + int(self.lengths[doc])]]


def _rank(df: pd.DataFrame, tiebreak: str) -> pd.Series:
    order = df.sort_values(["_doc", "score", tiebreak], ascending=[True, False, True], kind="mergesort")
    ranks = order.groupby("_doc", sort=False).cumcount() + 1
    return ranks.reindex(df.index)


def build_inputs(predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None, *,
                 top_k: int, stopwords: Collection[str]) -> Inputs:
    """Validate the tables and derive :class:`Inputs` (vectorised; no loop over texts)."""
    _require(predictions, PRED_NEEDS, "predictions")
    _require(token_scores, TOKEN_NEEDS, "token-score")
    docs = predictions[list(PRED_NEEDS)].reset_index(drop=True).copy()
    if docs.duplicated(KEY).any():
        raise InputError("predictions has duplicate (dataset, example_id) rows", hint="pass one row per text")
    docs["_doc"] = np.arange(len(docs), dtype=np.int64)
    docs["error"] = ~docs["correct"].astype(bool).to_numpy()
    cols = list(TOKEN_NEEDS) + (["pos"] if "pos" in token_scores.columns else [])
    toks = token_scores[cols].merge(docs[KEY + ["_doc"]], on=KEY, how="inner")
    if "pos" not in toks:
        toks["pos"] = ""
    toks = toks.rename(columns={"score_pred": "score"}).sort_values(["_doc", "position"], kind="mergesort")
    toks = toks.reset_index(drop=True)
    toks["score"] = toks["score"].astype(np.float64)
    lengths = np.bincount(toks["_doc"].to_numpy(), minlength=len(docs)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(docs) else lengths
    expected = np.arange(len(toks)) - np.repeat(offsets, lengths)
    if (lengths == 0).any() or not np.array_equal(toks["position"].to_numpy(dtype=np.int64), expected):
        raise InputError("token scores must cover every text of predictions with positions 0..n-1",
                         hint="pass the token_attributions table of the same run (or one row per token per text)")
    toks["rank"] = _rank(toks, "position").to_numpy(dtype=np.int64)
    toks["top"] = (toks["rank"] <= top_k).to_numpy() & (toks["score"] > 0).to_numpy()
    stop = {str(w).lower() for w in stopwords}
    words = toks["token"].astype(str)
    toks["punct"] = lookup(words, is_punct, dtype=bool)
    toks["stop"] = lookup(words, lambda w: w.lower() in stop, dtype=bool)
    toks["content"] = ~(toks["punct"] | toks["stop"])
    spans = _spans(docs, toks, segments, offsets=offsets, lengths=lengths, top_k=top_k)
    return Inputs(docs=docs, tokens=toks, spans=spans, offsets=offsets, lengths=lengths, top_k=top_k,
                  words=toks["token"].to_numpy(dtype=object))


def _spans(docs: pd.DataFrame, toks: pd.DataFrame, segments: pd.DataFrame | None, *,
           offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], top_k: int) -> pd.DataFrame:
    cols = ["_doc", "level", "start", "end", "unit", "score", "rank", "top", "n_content", "all_stop", "all_punct"]
    if segments is None or segments.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    _require(segments, SEGMENT_NEEDS, "segments")
    seg = segments[list(SEGMENT_NEEDS)].merge(docs[KEY + ["_doc"]], on=KEY, how="inner")
    seg = seg.rename(columns={"text": "unit"}).reset_index(drop=True)
    start, end = seg["start"].to_numpy(dtype=np.int64), seg["end"].to_numpy(dtype=np.int64)
    doc = seg["_doc"].to_numpy(dtype=np.int64)
    if ((start < 0) | (end <= start) | (end > lengths[doc])).any():
        raise InputError("a segment span lies outside its text", hint="segments must come from the same run")
    base = offsets[doc]

    def span_sum(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        cum = np.concatenate([[0.0], np.cumsum(values)])
        return np.asarray(cum[base + end] - cum[base + start], dtype=np.float64)

    width = (end - start).astype(np.float64)
    seg["score"] = span_sum(toks["score"].to_numpy(dtype=np.float64))
    seg["n_content"] = span_sum(toks["content"].to_numpy(dtype=np.float64)).round().astype(np.int64)
    seg["all_stop"] = span_sum((~toks["content"]).to_numpy(dtype=np.float64)) >= width - 0.5
    seg["all_punct"] = span_sum(toks["punct"].to_numpy(dtype=np.float64)) >= width - 0.5
    seg["rank"] = 0
    seg["top"] = False
    for level in pd.unique(seg["level"]):
        mask = (seg["level"] == level).to_numpy()
        part = seg[mask]
        seg.loc[mask, "rank"] = _rank(part, "start").to_numpy(dtype=np.int64)
    seg["top"] = (seg["rank"] <= top_k).to_numpy() & (seg["score"] > 0).to_numpy()
    return seg[cols].astype({"rank": "int64", "start": "int64", "end": "int64"})


class TagCounts:
    """How often each token carries each POS tag, counted block by block; :meth:`most_frequent` gives
    every token's most frequent tag (ties: alphabetically first).  Memory: one count per (token, tag)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, tokens: pd.Series, tags: pd.Series) -> None:
        sizes = pd.DataFrame({"token": tokens.to_numpy(), "pos": tags.to_numpy()}).groupby(
            ["token", "pos"], sort=False).size()
        counts = self._counts
        for key, n in zip(sizes.index, sizes.to_numpy(), strict=True):
            counts[key] = counts.get(key, 0) + int(n)

    def most_frequent(self) -> pd.Series:
        """token -> tag (index: token)."""
        if not self._counts:
            return pd.Series(dtype=object)
        keys = list(self._counts)
        sizes = pd.DataFrame({"token": [k[0] for k in keys], "pos": [k[1] for k in keys],
                              "n": list(self._counts.values())})
        sizes = sizes.sort_values(["token", "n", "pos"], ascending=[True, False, True], kind="mergesort")
        return sizes.drop_duplicates("token").set_index("token")["pos"]
