"""Export a run's adversarial variants as a test suite (JSONL, CSV, pytest module, JUnit XML).

    export_suite(record, fmt="jsonl", out=Path("suite.jsonl"))   # + suite.jsonl.manifest.json
    suite = read_suite("suite.jsonl"); result = run_suite(suite, model)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from audit.errors import ConfigError, StoreError
from audit.export.formats import write_csv, write_junit, write_pytest
from audit.export.suite import (
    SCHEMA,
    SCHEMA_VERSION,
    CaseResult,
    SelectRecipe,
    Suite,
    SuiteCase,
    SuiteManifest,
    SuiteResult,
    build_cases,
    make_manifest,
    manifest_path,
    read_suite,
    run_suite,
    write_jsonl,
)
from audit.store.runs import RunRecord

log = logging.getLogger(__name__)

Format = Literal["jsonl", "csv", "pytest", "junit"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "pytest", "junit")

__all__ = ["FORMATS", "SCHEMA", "SCHEMA_VERSION", "CaseResult", "Suite", "SuiteCase", "SuiteManifest", "SuiteResult",
           "build_cases", "export_suite", "manifest_path", "read_suite", "run_suite"]


def export_suite(record: RunRecord, *, fmt: Format, out: Path | str, include_flagged: bool = False,
                 tolerance: float = 0.0, recipe: SelectRecipe = "strict") -> Path:
    """Write ``record``'s variants as an INV test suite in ``fmt``; returns the written path.

    ``jsonl`` also writes ``<out>.manifest.json`` (schema ``reat-audit.suite`` v1).  ``recipe`` /
    ``include_flagged`` choose the variants (default: strict-valid breaks only; see :func:`build_cases`).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown suite format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    out = Path(out)
    cases = build_cases(record, include_flagged=include_flagged, recipe=recipe)
    manifest = make_manifest(record, cases, tolerance=tolerance, recipe=recipe, include_flagged=include_flagged)
    writers = {"jsonl": write_jsonl, "csv": write_csv, "pytest": write_pytest, "junit": write_junit}
    try:
        path = writers[fmt](cases, manifest, out)
    except OSError as exc:
        raise StoreError(f"cannot write the suite ({exc.strerror or exc})", path=out) from exc
    log.info("exported %d cases of run %s as %s to %s", len(cases), record.run_id, fmt, path)
    return path
