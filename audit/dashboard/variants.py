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
    valid: bool | None = None
    direction: str | None = None
    example: tuple[str, int] | None = None
    word: str | None = None


DIRECTIONS: dict[str, str] = {
    "break": "break (right → wrong)",
    "fix": "fix (wrong → right)",
}


def has_validity(variants: pd.DataFrame) -> bool:
    """True when the run recorded the strict recipe's verdicts (``valid`` and ``direction`` columns)."""
    return {"valid", "direction"} <= set(variants.columns)


def with_direction(variants: pd.DataFrame) -> pd.DataFrame:
    """``variants`` with a ``direction`` column: the recorded one, else derived from gold vs the prediction before."""
    if "direction" in variants.columns:
        return variants
    before_right = variants["pred_before"].astype(int) == variants["gold"].astype(int)
    return variants.assign(direction=before_right.map({True: "break", False: "fix"}))


def default_filter(variants: pd.DataFrame) -> VariantFilter:
    """What the page opens on: strict-valid breaks (flips of a correct prediction), or (older runs)
    flips without a meaning flag that broke a correct prediction."""
    if has_validity(variants):
        return VariantFilter(valid=True, direction="break", flipped=True)
    return VariantFilter(flipped=True, constrained=True, direction="break")


def dedupe_pairs(variants: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, example, original, variant) pair: the same swap found twice is shown once."""
    keys = [c for c in ("dataset", "example_id", "original", "variant") if c in variants.columns]
    return variants.drop_duplicates(subset=keys, keep="first")


EVIDENCE_FACTS: tuple[str, ...] = ("sense", "cosine", "zipf_original", "zipf_substitute", "declared")


def evidence_frame(value: Any) -> pd.DataFrame:
    """The ``evidence`` JSON of a variant as a table: one row per check (passed, value, threshold),
    then the recorded facts (sense, cosine, word frequencies, declared pair) as rows without a verdict.

    Reads the attack's layout (``{"checks": {name: {passed, value, threshold, detail}}, "sense": ...}``)
    and the flat one (each check at top level).
    """
    cols = ["check", "passed", "value", "threshold"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return pd.DataFrame(columns=cols)
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            log.warning("unreadable evidence value %r", value[:80])
            return pd.DataFrame(columns=cols)
    if not isinstance(data, Mapping):
        return pd.DataFrame(columns=cols)
    nested = data.get("checks")
    checks: Mapping[str, Any] = nested if isinstance(nested, Mapping) else {
        k: v for k, v in data.items() if isinstance(v, Mapping) and "passed" in v}
    rows = []
    for name, item in checks.items():
        if isinstance(item, Mapping):
            detail = f" ({item['detail']})" if item.get("detail") else ""
            rows.append({"check": str(name), "passed": bool(item.get("passed")),
                         "value": _text(item.get("value")) + detail, "threshold": _text(item.get("threshold"))})
    facts = EVIDENCE_FACTS if "checks" in data else tuple(k for k in data if k not in checks)
    for name in facts:
        if name in data and data[name] is not None and not isinstance(data[name], (list, Mapping)):
            rows.append({"check": str(name), "passed": None, "value": _text(data[name]), "threshold": ""})
    return pd.DataFrame(rows, columns=cols)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


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
    """Variants matching ``flt``, duplicate pairs dropped; filters on columns a run lacks are ignored."""
    out = dedupe_pairs(with_direction(variants))
    if flt.valid is not None and "valid" in out:
        out = out[out["valid"].fillna(False).astype(bool) == flt.valid]
    if flt.direction:
        out = out[out["direction"].astype(str) == flt.direction]
    if flt.example is not None:
        out = out[(out["dataset"].astype(str) == flt.example[0]) & (out["example_id"].astype(int) == flt.example[1])]
    if flt.word:
        word = flt.word.lower()
        out = out[out["swaps"].map(lambda v: any(word in (str(s.get("original", "")).lower(),
                                                          str(s.get("replacement", "")).lower())
                                                 for s in parse_swaps(v)))]
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


def suite_recipe(variants: pd.DataFrame) -> str:
    """The export recipe a run supports: ``strict`` (strict-valid breaks) when it recorded validity
    evidence, else ``loose`` (older runs: verified flips without a meaning flag)."""
    return "strict" if has_validity(variants) else "loose"


def suite_bytes(record: RunRecord, fmt: str, *, recipe: str = "strict") -> bytes:
    """The run's adversarial suite in ``fmt`` (see :data:`EXPORT_FORMATS`), as the download's bytes."""
    from audit.export import Format, export_suite

    with tempfile.TemporaryDirectory() as tmp:
        path = export_suite(record, fmt=cast(Format, fmt), out=Path(tmp) / EXPORT_FILES[fmt][0],
                            recipe=recipe)  # type: ignore[arg-type]  # checked by export_suite
        return Path(path).read_bytes()
