"""Suite writers besides JSONL: CSV, a self-contained pytest module, JUnit XML."""

from __future__ import annotations

import csv
import json
import pprint
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from audit.export.suite import SCHEMA, SuiteCase, SuiteManifest

CSV_COLUMNS = ("case_id", "test_type", "kind", "dataset", "example_id", "original", "variant", "tokens", "swaps",
               "expect_label", "expect_label_name", "recorded_pred", "recorded_pass", "meaning_flags", "run_id",
               "model_hash", "recipe", "valid", "direction", "declared", "evidence")
"""The CSV's columns; the validity ones: ``recipe`` (the one that produced the variant), ``valid`` (True / False,
empty when unknown), ``direction``, ``declared`` and ``evidence`` (the case's evidence as a JSON string)."""

_VALID_CELL = {"valid": True, "invalid": False, "unknown": ""}

# characters XML 1.0 forbids even when escaped
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Guard a text cell against spreadsheet formula injection (OWASP): a cell starting with
    ``= + - @`` or a tab/CR gets a leading ``'``.  The CSV is for spreadsheets; the JSONL keeps
    the exact text (SST's ``-lrb-`` starts with ``-``, so such texts gain the quote here)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(cases: Sequence[SuiteCase], manifest: SuiteManifest, out: Path) -> Path:
    """One row per case; text cells guarded against formula injection (see :func:`_cell`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for c in cases:
            writer.writerow({k: _cell(v) for k, v in {
                "case_id": c.case_id, "test_type": c.test_type, "kind": c.kind, "dataset": c.provenance.dataset,
                "example_id": c.provenance.example_id, "original": c.original, "variant": c.variant,
                "tokens": json.dumps(c.tokens, ensure_ascii=False),
                "swaps": json.dumps([s.model_dump() for s in c.swaps], ensure_ascii=False),
                "expect_label": c.expect_label, "expect_label_name": c.expect_label_name or "",
                "recorded_pred": "" if c.recorded_pred is None else c.recorded_pred,
                "recorded_pass": "" if c.recorded_pass is None else c.recorded_pass,
                "meaning_flags": json.dumps(c.meaning_flags), "run_id": c.provenance.run_id,
                "model_hash": c.provenance.model_hash or "",
                "recipe": c.recipe or "", "valid": _VALID_CELL[c.validity], "direction": c.direction,
                "declared": c.declared, "evidence": json.dumps(c.evidence, ensure_ascii=False, sort_keys=True),
            }.items()})
    return out


_PYTEST_TEMPLATE = '''"""Adversarial invariance (INV) test suite exported by reat-audit.

Run {run_id}, model hash {model_hash}: {n} cases.  Each case is a variant of a
dataset text (a few words swapped for synonyms) that should keep the
original's gold label.

Usage (needs reat-audit installed):

    REAT_MODEL_DIR=/path/to/model_dir pytest {file_name}

REAT_MODEL_DIR may also be a ``module:function`` model adapter reference.
Generated file: do not edit, export it again instead.
"""

import os

import pytest

SCHEMA = {schema!r}
SCHEMA_VERSION = {schema_version!r}
RUN_ID = {run_id_code}
MODEL_HASH = {model_hash_code}
LABELS = {labels!r}
DEFAULT_MODEL_DIR = {default_model!r}

CASES = {cases}


@pytest.fixture(scope="module")
def model():
    ref = os.environ.get("REAT_MODEL_DIR") or DEFAULT_MODEL_DIR
    if not ref:
        pytest.fail("set REAT_MODEL_DIR to the model directory this suite should check", pytrace=False)
    from audit.models.io import load_model_ref

    return load_model_ref(ref)


def _label(index):
    return LABELS[index] if 0 <= index < len(LABELS) else str(index)


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_invariance(model, case):
    probs = model.predict_proba_tokens([case["tokens"]])
    pred = int(probs.argmax(dim=-1)[0])
    assert pred == case["expect_label"], (
        f"INV failed for {{case['variant']!r}} (from {{case['original']!r}}): predicted "
        f"{{_label(pred)}}, expected {{_label(case['expect_label'])}}"
    )
'''


_DOC_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/-]{0,199}$")


def _doc_text(value: object, *, fallback: str) -> str:
    """``value`` if it is plain enough to sit in a docstring (no quotes, backslashes, newlines), else ``fallback``.

    Everything that reaches code (RUN_ID, CASES...) goes through ``repr``; the docstring only
    ever holds such plain words, so a crafted file name or run id cannot close it and run code.
    """
    text = str(value)
    return text if _DOC_SAFE.match(text) else fallback


def render_pytest(cases: Sequence[SuiteCase], manifest: SuiteManifest, *, file_name: str = "test_suite.py",
                  default_model: str | None = None) -> str:
    """Source of a self-contained pytest module (needs only pytest and reat-audit) checking every case."""
    data = [{"case_id": c.case_id, "dataset": c.provenance.dataset, "example_id": c.provenance.example_id,
             "original": c.original, "variant": c.variant, "tokens": list(c.tokens), "expect_label": c.expect_label,
             "swaps": [s.model_dump() for s in c.swaps]} for c in cases]
    return _PYTEST_TEMPLATE.format(
        schema=SCHEMA, schema_version=manifest.schema_version, run_id_code=repr(manifest.run_id), model_hash_code=repr(manifest.model_hash),
        run_id=_doc_text(manifest.run_id, fallback="(see RUN_ID)"),
        model_hash=_doc_text(manifest.model_hash, fallback="(see MODEL_HASH)"), n=len(data),
        file_name=_doc_text(file_name, fallback="<this file>"), labels=list(manifest.labels), default_model=default_model, cases=pprint.pformat(data, width=110, sort_dicts=False),
    )


def write_pytest(cases: Sequence[SuiteCase], manifest: SuiteManifest, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_pytest(cases, manifest, file_name=out.name), encoding="utf-8")
    return out


def _x(text: object) -> str:
    """Text safe for XML 1.0 (ElementTree escapes <, >, & and quotes; it does not drop control chars)."""
    return _XML_INVALID.sub("\ufffd", str(text))


def render_junit(cases: Sequence[SuiteCase], manifest: SuiteManifest) -> bytes:
    """JUnit XML of the *recorded* outcome: a variant that flipped the prediction is a failure."""
    failures = sum(1 for c in cases if c.recorded_pass is False)
    root = ET.Element("testsuites", name="reat-audit", tests=str(len(cases)), failures=str(failures))
    suite = ET.SubElement(root, "testsuite", name=_x(f"reat-audit.{manifest.run_id}"), tests=str(len(cases)),
                          failures=str(failures), errors="0", skipped="0", timestamp=_x(manifest.created_at))
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", manifest.run_id), ("model_hash", manifest.model_hash or ""),
                       ("model_ref", manifest.model_ref or ""), ("schema", SCHEMA),
                       ("schema_version", str(manifest.schema_version))):
        ET.SubElement(props, "property", name=key, value=_x(value))
    for c in cases:
        case_el = ET.SubElement(suite, "testcase", classname=_x(f"reat-audit.{c.provenance.dataset}"),
                                name=_x(c.case_id), time="0")
        label = c.expect_label_name or str(c.expect_label)
        body = (f"original: {c.original}\nvariant: {c.variant}\nswaps: "
                + ", ".join(f"{s.original} -> {s.replacement} @{s.position}" for s in c.swaps)
                + f"\nexample: {c.provenance.dataset}#{c.provenance.example_id}")
        if c.recorded_pass is False:
            got = manifest.labels[c.recorded_pred] if c.recorded_pred is not None and c.recorded_pred < len(
                manifest.labels) else c.recorded_pred
            failure = ET.SubElement(case_el, "failure", type="INV",
                                    message=_x(f"prediction flipped to {got}; expected {label}"))
            failure.text = _x(body)
        else:
            ET.SubElement(case_el, "system-out").text = _x(body)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(cases: Sequence[SuiteCase], manifest: SuiteManifest, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_junit(cases, manifest))
    return out
