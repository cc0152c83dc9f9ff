"""One pyarrow schema per run table: the single owner of table and column names.

The engine builds its tables with these column lists, the reports, the diff,
the store and the tests read them from here (``columns("predictions")``,
``DRIVER_STATS.names``) instead of retyping names.  ``driver_words`` has one
``train_count_<label>`` column per class: :func:`driver_words_schema` builds it
and :func:`train_count_column` / :func:`labels_from_columns` are the only code
that knows the prefix.

The semantics of each column are in docs/ARCHITECTURE.md ("Run store tables").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import pyarrow as pa

__all__ = [
    "DRIVER_FLIP_RATES",
    "DRIVER_STATS",
    "FAILURE_DRIVERS",
    "MINIMAL_FIXES",
    "POS_STATS",
    "PREDICTIONS",
    "SCHEMAS",
    "SEGMENTS",
    "TOKEN_ATTRIBUTIONS",
    "TRAIN_COUNT_PREFIX",
    "VARIANTS",
    "columns",
    "conform",
    "driver_words_schema",
    "empty_table",
    "labels_from_columns",
    "schema",
    "train_count_column",
]

_KEY = [pa.field("example_id", pa.int64()), pa.field("dataset", pa.string())]

PREDICTIONS = pa.schema(_KEY + [
    pa.field("line", pa.int64()), pa.field("text", pa.string()), pa.field("gold", pa.int64()),
    pa.field("pred", pa.int64()), pa.field("prob_pred", pa.float64()), pa.field("prob_gold", pa.float64()),
    pa.field("probs", pa.list_(pa.float64())), pa.field("correct", pa.bool_()), pa.field("n_tokens", pa.int64()),
    pa.field("completeness_delta", pa.float64()),
])
TOKEN_ATTRIBUTIONS = pa.schema(_KEY + [
    pa.field("position", pa.int64()), pa.field("token", pa.string()), pa.field("pos", pa.string()),
    pa.field("upos", pa.string()), pa.field("score_pred", pa.float64()), pa.field("score_gold", pa.float64()),
    pa.field("oov", pa.bool_()),
])
SEGMENTS = pa.schema(_KEY + [
    pa.field("level", pa.string()), pa.field("start", pa.int64()), pa.field("end", pa.int64()),
    pa.field("text", pa.string()), pa.field("score_pred", pa.float64()),
])
FAILURE_DRIVERS = pa.schema(_KEY + [
    pa.field("rank", pa.int64()), pa.field("kind", pa.string()), pa.field("text", pa.string()),
    pa.field("start", pa.int64()), pa.field("end", pa.int64()), pa.field("score", pa.float64()),
    pa.field("fixes_error", pa.bool_()), pa.field("delta_prob_gold", pa.float64()), pa.field("verified", pa.bool_()),
])
"""Per error, its top reasons (kind word|phrase|clause) and the effect of removing each alone."""
POS_STATS = pa.schema([
    pa.field("pos", pa.string()), pa.field("n", pa.int64()), pa.field("mean", pa.float64()),
    pa.field("median", pa.float64()), pa.field("q1", pa.float64()), pa.field("q3", pa.float64()),
    pa.field("lo_whisker", pa.float64()), pa.field("hi_whisker", pa.float64()),
])
VARIANTS = pa.schema([
    pa.field("variant_id", pa.int64()), pa.field("kind", pa.string()), *_KEY, pa.field("original", pa.string()),
    pa.field("variant", pa.string()), pa.field("swaps", pa.string()), pa.field("gold", pa.int64()),
    pa.field("pred_before", pa.int64()), pa.field("probs_before", pa.list_(pa.float64())),
    pa.field("pred_after", pa.int64()), pa.field("probs_after", pa.list_(pa.float64())),
    pa.field("flipped", pa.bool_()), pa.field("verified", pa.bool_()), pa.field("queries", pa.int64()),
    pa.field("words_changed", pa.int64()), pa.field("meaning_flags", pa.list_(pa.string())),
    pa.field("constrained", pa.bool_()),
])
DRIVER_FLIP_RATES = pa.schema([
    pa.field("word", pa.string()), pa.field("replacement", pa.string()), pa.field("direction", pa.string()),
    pa.field("n_texts", pa.int64()), pa.field("n_flipped", pa.int64()), pa.field("rate", pa.float64()),
])
DRIVER_STATS = pa.schema([
    pa.field("scope", pa.string()), pa.field("kind", pa.string()), pa.field("unit", pa.string()),
    pa.field("pos", pa.string()), pa.field("is_stopword", pa.bool_()), pa.field("is_punct", pa.bool_()),
    pa.field("n_texts", pa.int64()), pa.field("n_errors", pa.int64()), pa.field("n_top_error", pa.int64()),
    pa.field("error_rate_with", pa.float64()), pa.field("error_rate_without", pa.float64()),
    pa.field("lift", pa.float64()), pa.field("p_lift", pa.float64()), pa.field("q_lift", pa.float64()),
    pa.field("contrast_effect", pa.float64()), pa.field("p_contrast", pa.float64()),
    pa.field("q_contrast", pa.float64()), pa.field("n_cf", pa.int64()), pa.field("n_control", pa.int64()),
    pa.field("n_fixed", pa.int64()), pa.field("fix_rate_remove", pa.float64()),
    pa.field("fix_rate_low", pa.float64()), pa.field("fix_rate_high", pa.float64()),
    pa.field("fix_rate_unk", pa.float64()), pa.field("control_fix_rate", pa.float64()),
    pa.field("p_fix", pa.float64()), pa.field("q_fix", pa.float64()), pa.field("confirmed", pa.bool_()),
    pa.field("status", pa.string()), pa.field("rank", pa.int64()),
])
"""One row per candidate unit and scope (see :mod:`audit.findings.drivers`)."""
MINIMAL_FIXES = pa.schema(_KEY + [
    pa.field("positions", pa.list_(pa.int64())), pa.field("words", pa.list_(pa.string())),
    pa.field("size", pa.int64()), pa.field("prob_gold_after", pa.float64()), pa.field("found", pa.bool_()),
])
"""Per error, the smallest REAT-ranked prefix of its words whose removal fixes it (see :mod:`audit.findings.reasons`)."""

TRAIN_COUNT_PREFIX = "train_count_"
_DRIVER_WORDS_HEAD = [
    pa.field("rank", pa.int64()), pa.field("word", pa.string()), pa.field("pos", pa.string()),
    pa.field("n_top_error", pa.int64()), pa.field("n_in_errors", pa.int64()), pa.field("n_occurrences", pa.int64()),
    pa.field("mean_score", pa.float64()), pa.field("std_score", pa.float64()),
]


def train_count_column(label: str) -> str:
    """``driver_words``' column counting training texts of ``label`` that contain the word."""
    return f"{TRAIN_COUNT_PREFIX}{label}"


def labels_from_columns(cols: Iterable[str]) -> list[str]:
    """The labels of the ``train_count_<label>`` columns among ``cols`` (in order)."""
    return [c[len(TRAIN_COUNT_PREFIX):] for c in cols if str(c).startswith(TRAIN_COUNT_PREFIX)]


def driver_words_schema(label_names: Sequence[str]) -> pa.Schema:
    """The raw driver-word ranking: one train count per label, then the label skew."""
    counts = [pa.field(train_count_column(lab), pa.int64()) for lab in label_names]
    return pa.schema(_DRIVER_WORDS_HEAD + counts + [pa.field("train_label_skew", pa.float64())])


SCHEMAS: dict[str, pa.Schema] = {
    "predictions": PREDICTIONS, "token_attributions": TOKEN_ATTRIBUTIONS, "segments": SEGMENTS,
    "failure_drivers": FAILURE_DRIVERS, "pos_stats": POS_STATS, "variants": VARIANTS,
    "driver_flip_rates": DRIVER_FLIP_RATES, "driver_stats": DRIVER_STATS, "minimal_fixes": MINIMAL_FIXES,
}
"""Every fixed-schema run table; ``driver_words`` depends on the labels (:func:`driver_words_schema`)."""


def schema(name: str, *, label_names: Sequence[str] = ()) -> pa.Schema:
    """The schema of run table ``name`` (``driver_words`` needs ``label_names``)."""
    if name == "driver_words":
        return driver_words_schema(label_names)
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(f"no run table named {name!r} (known: driver_words, {', '.join(SCHEMAS)})") from None


def columns(name: str, *, label_names: Sequence[str] = ()) -> list[str]:
    """Column names of run table ``name`` in contract order."""
    return list(schema(name, label_names=label_names).names)


def _dtype(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t):
        return "float64"
    if pa.types.is_boolean(t):
        return "bool"
    return "object"


def empty_table(sch: pa.Schema) -> pd.DataFrame:
    """A zero-row frame with the schema's columns and pandas dtypes."""
    return pd.DataFrame({f.name: pd.Series(dtype=_dtype(f.type)) for f in sch})


def conform(df: pd.DataFrame, sch: pa.Schema) -> pd.DataFrame:
    """``df``'s schema columns in contract order, cast to the schema's pandas dtypes.

    Raises ``KeyError`` naming the missing columns (a programming error: tables are built from the schemas).
    """
    missing = [n for n in sch.names if n not in df.columns]
    if missing:
        raise KeyError(f"table lacks schema columns: {', '.join(missing)}")
    if df.empty:
        return empty_table(sch)
    out = df[list(sch.names)].copy()
    casts = {f.name: _dtype(f.type) for f in sch if _dtype(f.type) != "object"}
    return out.astype(casts)


