"""Adversarial test suites: a run's variants as CheckList-style INV (invariance) cases.

Each case says: *this variant of a dataset text should keep the original's
gold label*.  A suite is written as JSONL (one case per line) with a manifest
beside it (``<out>.manifest.json``), read back with :func:`read_suite` and
re-checked against any model with :func:`run_suite`.

Which variants become cases (:func:`build_cases`): only *break* probes (the original
was classified correctly), only variants that differ from their original, each
distinct variant of a text once, and by default (``recipe="strict"``) only
strict-valid ones (every swap passed every check of the strict recipe).  Every case
carries its validity evidence; ``recipe="loose"`` or ``include_flagged`` export the
rest too, labelled ``validity: "invalid"``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.errors import DataError
from audit.models.base import AuditModel
from audit.store.runs import RunRecord

log = logging.getLogger(__name__)

SCHEMA: Final = "reat-audit.suite"
SCHEMA_VERSION = 2
"""Version of the case and manifest format written now.  1: before validity evidence (no ``validity``,
``declared``, ``evidence``, ``recipe``, ``direction``; a case read from it gets the defaults: validity
``unknown``); 2: with them."""
READABLE_VERSIONS: Final = (1, 2)
_BATCH = 256
_NO_CASES_HINT = "an empty suite checks nothing; export one from a run with adversarial variants (audit export)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Swap(_Strict):
    position: int
    original: str
    replacement: str
    pos: str | None = None


class Provenance(_Strict):
    run_id: str
    dataset: str
    example_id: int
    model_hash: str | None = None


class SuiteCase(_Strict):
    """One INV case: ``tokens`` (the variant) should be predicted as ``expect_label``."""

    schema_version: int = SCHEMA_VERSION
    case_id: str
    test_type: Literal["INV"] = "INV"
    kind: str = "text"
    original: str
    variant: str
    tokens: list[str] = Field(min_length=1)
    swaps: list[Swap] = Field(default_factory=list)
    expect_label: int = Field(ge=0)
    expect_label_name: str | None = None
    recorded_pred: int | None = None
    recorded_pass: bool | None = None
    meaning_flags: list[str] = Field(default_factory=list)
    provenance: Provenance
    validity: Literal["valid", "invalid", "unknown"] = "unknown"
    """``valid``: every swap passed every strict check (see ``evidence``)."""
    declared: bool = False
    """A declared synonym pair (``attack.extra_synonyms``) was used."""
    evidence: dict[str, Any] = Field(default_factory=dict)
    """checks passed / failed, per-check {passed, value, threshold}, sense, cosine, zipf_original, zipf_substitute."""
    recipe: Literal["strict", "loose"] | None = None
    """The attack recipe that produced the variant (``variants.recipe``; None: recorded before recipes)."""
    direction: Literal["break", "fix"] = "break"
    """``break``: the original was classified correctly (the only direction exported as a case)."""


class SuiteManifest(_Strict):
    schema_name: Literal["reat-audit.suite"] = Field(default=SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    created_at: str
    run_id: str
    model_hash: str | None = None
    model_ref: str | None = None
    labels: list[str] = Field(default_factory=list)
    tolerance: float = Field(default=0.0, ge=0, le=1, description="failure rate a rerun may have and still pass")
    counts: dict[str, int] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict, description="the run's attack recipe and thresholds")
    selection: dict[str, Any] = Field(default_factory=dict, description="which variants became cases")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Suite(_Strict):
    manifest: SuiteManifest
    cases: list[SuiteCase]


class CaseResult(_Strict):
    case_id: str
    expected: int
    predicted: int
    prob_expected: float
    passed: bool


class SuiteResult(_Strict):
    n_cases: int
    n_failed: int
    failure_rate: float
    tolerance: float
    passed: bool
    results: list[CaseResult]

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


# ------------------------------------------------------------------------------ building
def _swaps(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    return [dict(s) for s in (raw or [])]


def _swap(raw: dict[str, Any]) -> Swap:
    """A :class:`Swap` from a recorded swap dict (a missing field is passed as ``None``)."""
    fields: dict[str, Any] = {k: raw.get(k) for k in Swap.model_fields}
    return Swap(**fields)


def _original_tokens(record: RunRecord) -> dict[tuple[str, int], list[str]]:
    if not record.has_table("token_attributions"):
        return {}
    toks = record.table("token_attributions").sort_values(["dataset", "example_id", "position"])
    return {(str(k[0]), int(k[1])): [str(t) for t in g["token"]] for k, g in toks.groupby(["dataset", "example_id"])}


def _variant_tokens(row: dict[str, Any], swaps: list[dict[str, Any]], originals: dict[tuple[str, int], list[str]]) -> list[str]:
    """Apply the swaps to the recorded original tokens; fall back to splitting the variant text."""
    base = originals.get((str(row["dataset"]), int(row["example_id"])))
    if base is not None and swaps and all(0 <= int(s["position"]) < len(base) and base[int(s["position"])] == s["original"]
                                           for s in swaps):
        tokens = list(base)
        for s in swaps:
            tokens[int(s["position"])] = str(s["replacement"])
        return tokens
    return str(row["variant"]).split()


# --- validity selection (owner: attack) ---------------------------------------------------
SelectRecipe = Literal["strict", "loose"]
Direction = Literal["break", "fix"]
_RECIPES: dict[str, SelectRecipe] = {"strict": "strict", "loose": "loose"}
_DIRECTIONS: dict[str, Direction] = {"break": "break", "fix": "fix"}


def _evidence_summary(raw: Any) -> dict[str, Any]:
    """A case's evidence from the ``variants.evidence`` JSON (empty when the run has none)."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else {}
    if not isinstance(raw, dict) or not raw:
        return {}
    checks = raw.get("checks") or {}
    return {
        "checks_passed": sorted(n for n, c in checks.items() if c.get("passed")),
        "checks_failed": sorted(n for n, c in checks.items() if not c.get("passed")),
        "checks": checks, "sense": raw.get("sense"), "cosine": raw.get("cosine"),
        "zipf_original": raw.get("zipf_original"), "zipf_substitute": raw.get("zipf_substitute"),
    }


def _validity(row: dict[str, Any]) -> Literal["valid", "invalid", "unknown"]:
    value = row.get("valid")
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "unknown"
    return "valid" if bool(value) else "invalid"


def build_cases(record: RunRecord, *, include_flagged: bool = False, recipe: SelectRecipe = "strict") -> list[SuiteCase]:
    """INV cases from a run's ``variants`` table.

    Always left out: variants of texts the model already got wrong (``pred_before != gold``:
    a *fix* probe, not an adversarial finding), variants equal to their original, and a
    second copy of the same variant of a text.  ``recipe="strict"`` (default) keeps only
    strict-valid variants; ``include_flagged`` adds the invalid ones (labelled).
    ``recipe="loose"`` is the raw selection: every variant without a meaning flag (with
    ``include_flagged``: every variant), each labelled valid / invalid.  The recorded outcome
    of a case is ``pred_after == gold``.
    """
    if recipe not in ("strict", "loose"):
        raise DataError(f"unknown recipe {recipe!r} for the export", hint="use strict or loose")
    if not record.has_table("variants"):
        return []
    variants = record.table("variants")
    if recipe == "strict" and len(variants) and "valid" not in variants.columns:
        raise DataError(f"run {record.run_id} has no validity evidence (recorded before the strict recipe)",
                        hint="re-run the audit, or export with --recipe loose")
    labels = record.label_names()
    originals = _original_tokens(record)
    model_hash = record.manifest.get("model_hash")
    cases = []
    seen: set[tuple[str, int, tuple[str, ...]]] = set()
    for row in variants.to_dict(orient="records"):
        flags = [str(f) for f in (row.get("meaning_flags") if row.get("meaning_flags") is not None else [])]
        validity = _validity(row)
        if recipe == "strict" and validity != "valid" and not include_flagged:
            continue
        if recipe == "loose" and flags and not include_flagged:
            continue
        if pd.notna(row.get("pred_before")) and int(row["pred_before"]) != int(row["gold"]):
            continue
        swaps = _swaps(row.get("swaps"))
        tokens = _variant_tokens(row, swaps, originals)
        base = originals.get((str(row["dataset"]), int(row["example_id"]))) or str(row["original"]).split()
        if not tokens or tokens == base or str(row["variant"]) == str(row["original"]):
            continue
        key = (str(row["dataset"]), int(row["example_id"]), tuple(tokens))
        if key in seen:
            continue
        seen.add(key)
        gold = int(row["gold"])
        pred_after = int(row["pred_after"]) if pd.notna(row.get("pred_after")) else None
        declared = row.get("declared")
        made_by, direction = row.get("recipe"), row.get("direction")
        cases.append(SuiteCase(
            case_id=str(row["variant_id"]), kind=str(row.get("kind", "text")), original=str(row["original"]),
            variant=str(row["variant"]), tokens=tokens, swaps=[_swap(s) for s in swaps],
            expect_label=gold, expect_label_name=labels[gold] if gold < len(labels) else None,
            recorded_pred=pred_after, recorded_pass=None if pred_after is None else pred_after == gold,
            meaning_flags=flags,
            provenance=Provenance(run_id=record.run_id, dataset=str(row["dataset"]), example_id=int(row["example_id"]),
                                  model_hash=model_hash),
            validity=validity, declared=bool(declared) if declared is not None and pd.notna(declared) else False,
            evidence=_evidence_summary(row.get("evidence")),
            recipe=_RECIPES.get(made_by) if isinstance(made_by, str) else None,
            direction=_DIRECTIONS.get(direction, "break") if isinstance(direction, str) else "break",
        ))
    return cases
# --- end validity selection ------------------------------------------------------------------


def make_manifest(record: RunRecord, cases: Sequence[SuiteCase], *, tolerance: float = 0.0,
                  recipe: SelectRecipe = "strict", include_flagged: bool = False) -> SuiteManifest:
    recorded_fail = sum(1 for c in cases if c.recorded_pass is False)
    n_variants = len(record.table("variants")) if record.has_table("variants") else 0
    attack = record.manifest.get("attack")
    return SuiteManifest(
        created_at=datetime.now(timezone.utc).isoformat(), run_id=record.run_id,
        model_hash=record.manifest.get("model_hash"), model_ref=record.manifest.get("model_ref"),
        labels=record.label_names(), tolerance=tolerance,
        counts={"cases": len(cases), "recorded_failures": recorded_fail, "recorded_passes": len(cases) - recorded_fail,
                "datasets": len({c.provenance.dataset for c in cases}), "variants_in_run": n_variants,
                "valid": sum(c.validity == "valid" for c in cases),
                "invalid": sum(c.validity == "invalid" for c in cases),
                "unknown_validity": sum(c.validity == "unknown" for c in cases)},
        recipe=dict(attack) if isinstance(attack, dict) else {},
        selection={"recipe": recipe, "include_flagged": include_flagged, "directions": ["break"],
                   "strict_valid_only": recipe == "strict" and not include_flagged},
    )


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def write_jsonl(cases: Sequence[SuiteCase], manifest: SuiteManifest, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(case.model_dump_json() + "\n")
    manifest_path(out).write_text(manifest.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------------------ reading
def _check_version(data: dict[str, Any], path: Path, line: int | None) -> None:
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise DataError(f"unsupported suite schema_version {version!r} (this reat-audit reads versions {readable})",
                        path=path, line=line, hint="export the suite again with this version of reat-audit, "
                        "or upgrade reat-audit to read a newer suite")


def read_suite(path: str | Path) -> Suite:
    """Read a JSONL suite (and its manifest, if beside it). Errors name the file and line."""
    path = Path(path)
    try:
        # "\n" only: str.splitlines() also splits on U+2028, U+0085... which JSON strings may hold raw
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise DataError(f"cannot read suite ({exc.strerror or exc})", path=path) from exc
    cases = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DataError(f"invalid JSON ({exc})", path=path, line=n) from exc
        if not isinstance(data, dict):
            raise DataError("a suite line must be a JSON object", path=path, line=n)
        _check_version(data, path, n)
        try:
            cases.append(SuiteCase.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DataError(f"invalid case: {where}: {first['msg']}", path=path, line=n) from exc
    if not cases:
        raise DataError("suite has no cases", path=path, hint=_NO_CASES_HINT)
    mpath = manifest_path(path)
    if mpath.is_file():
        try:
            mdata = json.loads(mpath.read_text(encoding="utf-8"))
            _check_version(mdata, mpath, None)
            manifest = SuiteManifest.model_validate(mdata)
        except ValueError as exc:  # JSON and pydantic errors
            raise DataError(f"invalid suite manifest ({exc})", path=mpath) from exc
    else:
        log.warning("no manifest beside %s; using defaults (tolerance 0)", path)
        run_ids = sorted({c.provenance.run_id for c in cases})
        manifest = SuiteManifest(created_at="", run_id=",".join(run_ids) or "unknown", counts={"cases": len(cases)})
    return Suite(manifest=manifest, cases=cases)


# ------------------------------------------------------------------------------ rerunning
def run_suite(suite: Suite, model: AuditModel, *, tolerance: float | None = None) -> SuiteResult:
    """Re-predict every case with ``model``; a case passes when the prediction is its expected label."""
    if not suite.cases:  # an empty suite checks nothing: it must not pass
        raise DataError("suite has no cases", hint=_NO_CASES_HINT)
    tol = suite.manifest.tolerance if tolerance is None else tolerance
    expected = expected_model_labels(suite, model)
    results: list[CaseResult] = []
    for start in range(0, len(suite.cases), _BATCH):
        batch = suite.cases[start:start + _BATCH]
        with torch.inference_mode():
            probs = model.predict_proba_tokens([c.tokens for c in batch])
        preds = probs.argmax(dim=-1).tolist()
        for i, (case, pred) in enumerate(zip(batch, preds)):
            want = expected[start + i]
            results.append(CaseResult(case_id=case.case_id, expected=want, predicted=int(pred),
                                      prob_expected=float(probs[i, want]), passed=int(pred) == want))
    n_failed = sum(1 for r in results if not r.passed)
    rate = n_failed / len(results) if results else 0.0
    return SuiteResult(n_cases=len(results), n_failed=n_failed, failure_rate=rate, tolerance=tol,
                       passed=rate <= tol + 1e-12, results=results)


def expected_model_labels(suite: Suite, model: AuditModel) -> list[int]:
    """Each case's expected label as ``model``'s class id, matched by label *name* (the case's
    ``expect_label_name``, else the suite manifest's ``labels``).  A suite naming a label the model lacks
    is refused with both lists; a suite without names is compared by id only when the id exists."""
    names = list(model.labels)
    out, missing = [], []
    for case in suite.cases:
        name = case.expect_label_name
        if name is None and case.expect_label < len(suite.manifest.labels):
            name = suite.manifest.labels[case.expect_label]
        if name is None:
            if case.expect_label >= len(names):
                raise DataError(f"case {case.case_id} expects class {case.expect_label} but the model has "
                                f"{len(names)} labels {names}", hint="rerun the suite against a model with its labels")
            out.append(case.expect_label)
        elif name in names:
            out.append(names.index(name))
        else:
            missing.append(name)
    if missing:
        suite_labels = list(dict.fromkeys([*suite.manifest.labels, *missing]))
        raise DataError(f"the suite's labels {suite_labels} do not map onto the model's labels {names}: "
                        f"{', '.join(repr(m) for m in dict.fromkeys(missing))} not among them",
                        hint="run the suite against a model with these labels, or export a suite from a run of it")
    return out
