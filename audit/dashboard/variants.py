"""Adversarial-variants view model: filtering, swap parsing and side-by-side highlighting."""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from audit.dashboard.html import highlight_tokens

if TYPE_CHECKING:
    from audit.store.runs import RunRecord

log = logging.getLogger(__name__)

EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "pytest", "junit")
EXPORT_FILES: dict[str, tuple[str, str]] = {
    "jsonl": ("suite.jsonl", "application/jsonl"),
    "csv": ("suite.csv", "text/csv"),
    "pytest": ("test_suite.py", "text/x-python"),
    "junit": ("suite.junit.xml", "application/xml"),
}
"""Download file name and MIME type per export format."""


@dataclass(frozen=True)
class VariantFilter:
    """What the variants page shows; None means 'any'."""

    kind: str | None = None
    flipped: bool | None = None
    constrained: bool | None = None
    meaning_flag: str | None = None
    query: str = ""


def parse_swaps(value: Any) -> list[dict[str, Any]]:
    """The ``swaps`` column (JSON string or list) as a list of dicts; [] when unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            log.warning("unreadable swaps value %r", value[:80])
            return []
    return [dict(s) for s in value if isinstance(s, Mapping)] if isinstance(value, (list, tuple)) else []


def _flags(value: Any) -> list[str]:
    if value is None or isinstance(value, float):
        return []
    return [str(v) for v in list(value)]


def meaning_flags(variants: pd.DataFrame) -> list[str]:
    """All meaning-change flags present, sorted."""
    return sorted({f for v in variants.get("meaning_flags", pd.Series(dtype=object)) for f in _flags(v)})


def filter_variants(variants: pd.DataFrame, flt: VariantFilter) -> pd.DataFrame:
    out = variants
    if flt.kind:
        out = out[out["kind"] == flt.kind]
    if flt.flipped is not None:
        out = out[out["flipped"].astype(bool) == flt.flipped]
    if flt.constrained is not None:
        out = out[out["constrained"].astype(bool) == flt.constrained]
    if flt.meaning_flag:
        out = out[out["meaning_flags"].map(lambda v: flt.meaning_flag in _flags(v))]
    if flt.query.strip():
        q = flt.query.strip()
        mask = out["original"].astype(str).str.contains(q, case=False, regex=False) | out["variant"].astype(
            str
        ).str.contains(q, case=False, regex=False)
        out = out[mask]
    return out


def _positions(tokens: Sequence[str], swaps: Sequence[Mapping[str, Any]], key: str) -> set[int]:
    """Token positions of the swapped words; falls back to matching the word when positions do not line up."""
    found: set[int] = set()
    lowered = [t.lower() for t in tokens]
    for s in swaps:
        word = str(s.get(key, "")).lower()
        pos = s.get("position")
        if isinstance(pos, int) and 0 <= pos < len(tokens) and lowered[pos] == word:
            found.add(pos)
        elif word:
            found.update(i for i, t in enumerate(lowered) if t == word)
    return found


def variant_pair_html(original: str, variant: str, swaps: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """Escaped HTML of the original and the variant with the swapped words highlighted.

    Texts are split on whitespace (variants are written as space-joined tokens);
    where a swap's token position does not line up, the word itself is matched.
    """
    a, b = str(original).split(), str(variant).split()
    return highlight_tokens(a, _positions(a, swaps, "original")), highlight_tokens(b, _positions(b, swaps, "replacement"))


def probs_frame(row: Mapping[str, Any], labels: Mapping[int, str]) -> pd.DataFrame:
    """Class probabilities before and after the swap, one row per class."""
    before, after = _floats(row.get("probs_before")), _floats(row.get("probs_after"))
    n = max(len(before), len(after))
    return pd.DataFrame(
        {
            "class": [labels.get(i, str(i)) for i in range(n)],
            "before": before + [float("nan")] * (n - len(before)),
            "after": after + [float("nan")] * (n - len(after)),
        }
    )


def _floats(value: Any) -> list[float]:
    return [] if value is None else [float(p) for p in list(value)]


def suite_bytes(record: RunRecord, fmt: str) -> bytes:
    """The run's adversarial suite in ``fmt`` (see :data:`EXPORT_FORMATS`), as the download's bytes."""
    from audit.export import Format, export_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = export_suite(record, fmt=cast(Format, fmt), out=Path(tmp) / EXPORT_FILES[fmt][0])
        return Path(path).read_bytes()
