"""Suite export (jsonl/csv/pytest/junit), read back, rerun, and the export/suite CLI."""

from __future__ import annotations

import csv
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.errors import DataError
from audit.export import export_suite, read_suite, run_suite
from audit.export.formats import render_pytest
from audit.store import RunStore
from tests.fixtures_runs import XSS, make_manifest, make_tables, metrics_of, publish_run

REPO = Path(__file__).resolve().parents[1]


def _variant(i: int, original: str, repl: tuple[int, str, str], *, gold: int, after: int, flags=(),
             valid: bool | None = None, pred_before: int | None = None) -> dict:
    pos, old, new = repl
    toks = original.split()
    assert toks[pos] == old
    toks[pos] = new
    return {"variant_id": f"t-{i}", "kind": "text", "example_id": i, "dataset": "toy", "original": original,
            "variant": " ".join(toks), "swaps": json.dumps([{"position": pos, "original": old, "replacement": new,
                                                              "pos": "JJ"}]),
            "gold": gold, "pred_before": gold, "probs_before": [0.5, 0.5], "pred_after": after,
            "probs_after": [0.5, 0.5], "flipped": after != gold, "verified": True, "queries": 3, "words_changed": 1,
            "meaning_flags": list(flags), "constrained": not flags,
            "recipe": "strict", "valid": (not flags) if valid is None else valid,
            "direction": "break" if pred_before in (None, gold) else "fix", "declared": False,
            "evidence": json.dumps({"valid": not flags, "checks": {"closeness": {"passed": True, "value": 0.8,
                                                                                  "threshold": 0.55}},
                                    "sense": "good.a.01", "cosine": 0.8, "zipf_original": 6.1,
                                    "zipf_substitute": 5.8})} | ({} if pred_before is None else {"pred_before": pred_before})


@pytest.fixture
def toy_run(tmp_path):
    """A run whose variants use the tiny model's vocabulary: case t-0 keeps its label, t-1 flips."""
    tables = make_tables()
    tables["variants"] = pd.DataFrame([
        _variant(0, "the movie is good", (3, "good", "great"), gold=1, after=1),
        _variant(1, "the movie is good", (3, "good", "awful"), gold=1, after=0),  # not meaning-preserving, flips
        _variant(2, "the plot was bad", (3, "bad", "good"), gold=0, after=1, flags=("antonym",)),
        _variant(3, XSS + " & \x07 bell", (0, "<img", "<b>"), gold=0, after=1),
    ])
    store = RunStore(tmp_path / "runs")
    w = store.begin("toykey", make_manifest())
    for name, df in tables.items():
        w.write_table(name, df)
    return w.publish(manifest_updates={"metrics": metrics_of(tables)})


def test_jsonl_roundtrip_and_manifest(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl")
    manifest = json.loads((tmp_path / "suite.jsonl.manifest.json").read_text())
    assert manifest["schema"] == "reat-audit.suite" and manifest["schema_version"] == 2
    assert manifest["run_id"] == toy_run.run_id and manifest["model_hash"] == "m0d31hash"
    assert manifest["counts"]["cases"] == 3 and manifest["counts"]["recorded_failures"] == 2
    assert manifest["tolerance"] == 0.0 and manifest["created_at"]
    lines = out.read_text().splitlines()
    assert len(lines) == 3  # the flagged variant is not an INV case by default
    suite = read_suite(out)
    c0 = suite.cases[0]
    assert c0.test_type == "INV" and c0.expect_label == 1 and c0.expect_label_name == "positive"
    assert c0.tokens == ["the", "movie", "is", "great"] and c0.swaps[0].replacement == "great"
    assert c0.provenance.run_id == toy_run.run_id and c0.provenance.example_id == 0 and c0.provenance.dataset == "toy"
    assert suite.cases[2].original.startswith(XSS)
    with_flagged = read_suite(export_suite(toy_run, fmt="jsonl", out=tmp_path / "all.jsonl", include_flagged=True))
    assert len(with_flagged.cases) == 4 and with_flagged.cases[2].meaning_flags == ["antonym"]


def test_tokens_come_from_recorded_tokens_when_text_differs(tmp_path):
    store = RunStore(tmp_path)
    rec = publish_run(store)  # fixture variants swap token 0 of each text
    suite = read_suite(export_suite(rec, fmt="jsonl", out=tmp_path / "s.jsonl"))
    assert suite.cases[0].tokens == ["nice", "gripping", "and", "moving", "film"]


def test_a_run_without_validity_evidence_needs_the_loose_recipe(tmp_path):
    store = RunStore(tmp_path)
    tables = make_tables()
    tables["variants"] = tables["variants"].drop(columns=["recipe", "valid", "direction", "declared", "evidence"])
    w = store.begin("oldkey", make_manifest())
    for name, df in tables.items():
        w.write_table(name, df)
    rec = w.publish(manifest_updates={"metrics": metrics_of(tables)})
    with pytest.raises(DataError, match="no validity evidence.*--recipe loose"):
        export_suite(rec, fmt="jsonl", out=tmp_path / "s2.jsonl")
    suite = read_suite(export_suite(rec, fmt="jsonl", out=tmp_path / "s.jsonl", recipe="loose"))
    assert suite.cases and {c.validity for c in suite.cases} == {"unknown"}


def test_read_suite_errors_name_file_and_line(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl")
    lines = out.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["schema_version"] = 99
    out.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    with pytest.raises(DataError, match=r"suite\.jsonl:2: unsupported suite schema_version 99"):
        read_suite(out)
    out.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataError, match=r"suite\.jsonl:2: invalid JSON"):
        read_suite(out)
    out.write_text("\n".join(lines) + "\n")
    mpath = tmp_path / "suite.jsonl.manifest.json"
    manifest = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**manifest, "schema_version": 3}))
    with pytest.raises(DataError, match=r"manifest\.json: unsupported suite schema_version 3 \(this reat-audit reads "
                                        r"versions 1, 2\).*upgrade reat-audit"):
        read_suite(out)
    mpath.unlink()  # no manifest: cases still load, tolerance defaults to 0
    suite = read_suite(out)
    assert len(suite.cases) == 3 and suite.manifest.tolerance == 0.0 and suite.manifest.run_id == toy_run.run_id
    missing = json.loads(lines[0])
    del missing["tokens"]
    out.write_text(json.dumps(missing) + "\n")
    with pytest.raises(DataError, match=r"suite\.jsonl:1: invalid case: tokens"):
        read_suite(out)


def test_run_suite_against_model(toy_run, tmp_path, tiny_model):
    suite = read_suite(export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl"))
    suite.cases = suite.cases[:2]
    result = run_suite(suite, tiny_model)
    assert [r.passed for r in result.results] == [True, False]
    assert result.n_failed == 1 and result.failure_rate == 0.5 and not result.passed
    assert run_suite(suite, tiny_model, tolerance=0.5).passed


def test_csv(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="csv", out=tmp_path / "suite.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 3 and rows[0]["expect_label"] == "1" and rows[0]["run_id"] == toy_run.run_id
    assert json.loads(rows[0]["tokens"]) == ["the", "movie", "is", "great"]
    assert rows[2]["original"] == XSS + " & \x07 bell"


def test_csv_carries_the_validity_fields(toy_run, tmp_path):
    """recipe, valid, direction, declared and evidence (a JSON string), as in the JSONL cases."""
    out = export_suite(toy_run, fmt="csv", out=tmp_path / "suite.csv", include_flagged=True)
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert {"recipe", "valid", "direction", "declared", "evidence"} <= set(rows[0])
    by_id = {r["case_id"]: r for r in rows}
    assert [by_id[i]["valid"] for i in ("t-0", "t-1", "t-2")] == ["True", "True", "False"]  # t-2: antonym flag
    assert {r["recipe"] for r in rows} == {"strict"} and {r["direction"] for r in rows} == {"break"}
    assert {r["declared"] for r in rows} == {"False"}
    evidence = json.loads(by_id["t-0"]["evidence"])
    assert evidence["sense"] == "good.a.01" and evidence["cosine"] == 0.8
    assert evidence["checks"]["closeness"] == {"passed": True, "value": 0.8, "threshold": 0.55}
    assert evidence["checks_passed"] == ["closeness"]
    jsonl = read_suite(export_suite(toy_run, fmt="jsonl", out=tmp_path / "s.jsonl", include_flagged=True))
    assert [c.evidence for c in jsonl.cases] == [json.loads(r["evidence"]) for r in rows]  # the same evidence


V1_CASE = {"schema_version": 1, "case_id": "sst2-4-t0", "test_type": "INV", "kind": "text",
           "original": "the movie is good", "variant": "the movie is great", "tokens": ["the", "movie", "is", "great"],
           "swaps": [{"position": 3, "original": "good", "replacement": "great", "pos": "JJ"}], "expect_label": 1,
           "expect_label_name": "positive", "recorded_pred": 1, "recorded_pass": True, "meaning_flags": [],
           "provenance": {"run_id": "20261101T000000Z-abcdef", "dataset": "sst2", "example_id": 4,
                          "model_hash": "m0d31hash"}}
"""A case as reat-audit wrote it before validity evidence (schema_version 1): no validity, evidence, recipe."""
V1_MANIFEST = {"schema": "reat-audit.suite", "schema_version": 1, "created_at": "2026-11-01T00:00:00+00:00",
               "run_id": "20261101T000000Z-abcdef", "model_hash": "m0d31hash", "model_ref": "models/gru",
               "labels": ["negative", "positive"], "tolerance": 0.25, "counts": {"cases": 1}}


def test_version_1_suites_are_still_read(tmp_path, tiny_model):
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(V1_CASE) + "\n")
    (tmp_path / "old.jsonl.manifest.json").write_text(json.dumps(V1_MANIFEST))
    suite = read_suite(path)
    assert suite.manifest.schema_version == 1 and suite.manifest.tolerance == 0.25
    case = suite.cases[0]
    assert case.schema_version == 1 and case.tokens == ["the", "movie", "is", "great"]
    assert case.validity == "unknown" and case.evidence == {} and case.recipe is None and case.direction == "break"
    assert run_suite(suite, tiny_model).n_cases == 1
    # written again, it is a version-2 suite with the same case
    from audit.export.suite import SCHEMA_VERSION, write_jsonl

    assert SCHEMA_VERSION == 2
    again = read_suite(write_jsonl([case.model_copy(update={"schema_version": SCHEMA_VERSION})],
                                   suite.manifest.model_copy(update={"schema_version": SCHEMA_VERSION}),
                                   tmp_path / "new.jsonl"))
    assert again.manifest.schema_version == 2 and again.cases[0].tokens == case.tokens


def test_version_2_suites_record_their_version_and_validity(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl")
    first = json.loads(out.read_text().splitlines()[0])
    assert first["schema_version"] == 2 and first["recipe"] == "strict" and first["direction"] == "break"
    assert first["validity"] == "valid" and first["evidence"]["sense"] == "good.a.01"
    assert "SCHEMA_VERSION = 2" in render_pytest(read_suite(out).cases, read_suite(out).manifest)


@pytest.mark.parametrize("version", [0, 3, "2", None, True])
def test_unknown_suite_versions_are_refused(tmp_path, version):
    path = tmp_path / "s.jsonl"
    case = {**V1_CASE, "schema_version": version} if version is not None else {
        k: v for k, v in V1_CASE.items() if k != "schema_version"}
    path.write_text(json.dumps(case) + "\n")
    with pytest.raises(DataError, match=rf"s\.jsonl:1: unsupported suite schema_version {version!r}.*versions 1, 2"):
        read_suite(path)


def test_csv_guards_against_formula_injection(toy_run, tmp_path):
    from audit.export.formats import write_csv

    suite = read_suite(export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl"))
    evil = '=HYPERLINK("http://x","y")'
    case = suite.cases[0].model_copy(update={"original": evil, "variant": "-2+3 " + "@sum"})
    out = write_csv([case], suite.manifest, tmp_path / "evil.csv")
    row = next(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert row["original"] == "'" + evil and row["variant"] == "'-2+3 @sum"
    assert row["run_id"] == toy_run.run_id and json.loads(row["tokens"])  # other cells untouched


def test_junit_is_valid_xml_with_recorded_outcomes(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="junit", out=tmp_path / "suite.xml")
    root = ET.parse(out).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True, True]
    assert "flipped to negative" in cases[1].find("failure").get("message")
    text = cases[2].find("failure").text
    assert XSS in text and "\x07" not in text  # escaped on write, parsed back intact; control char replaced
    assert b"<img src" not in out.read_bytes()


class _Outcomes:
    """A pytest plugin recording test outcomes of an in-process run."""

    def __init__(self) -> None:
        self.reports: list = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.reports.append(report)


def test_generated_pytest_module_runs(toy_run, tmp_path, tiny_model, monkeypatch):
    from audit.models.io import save_model

    model_dir = save_model(tiny_model, tmp_path / "model")
    out = export_suite(toy_run, fmt="pytest", out=tmp_path / "gen" / "test_adv_suite.py")
    compile(out.read_text(), str(out), "exec")
    monkeypatch.setenv("REAT_MODEL_DIR", str(model_dir))
    # in process (torch is already imported: a subprocess would spend most of its time importing it)
    outcomes = _Outcomes()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(out.parent), str(out)],
                       plugins=[outcomes])
    monkeypatch.delitem(sys.modules, "test_adv_suite", raising=False)
    assert code == pytest.ExitCode.TESTS_FAILED
    result = {r.nodeid.split("[")[1].rstrip("]"): r.outcome for r in outcomes.reports}
    assert result == {"t-0": "passed", "t-1": "failed", "t-3": "failed"}
    failure = next(r for r in outcomes.reports if r.failed)
    assert "INV failed for 'the movie is awful'" in str(failure.longrepr)


def test_generated_pytest_module_needs_a_model(toy_run, tmp_path, monkeypatch):
    out = export_suite(toy_run, fmt="pytest", out=tmp_path / "gen2" / "test_adv_suite2.py")
    monkeypatch.delenv("REAT_MODEL_DIR", raising=False)
    outcomes = _Outcomes()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(out.parent), str(out)],
                       plugins=[outcomes])
    monkeypatch.delitem(sys.modules, "test_adv_suite2", raising=False)
    assert code == pytest.ExitCode.TESTS_FAILED  # errors, not silent skips, when no model is given
    assert outcomes.reports and "REAT_MODEL_DIR" in str(outcomes.reports[0].longrepr)


def test_generated_pytest_module_embeds_text_safely(toy_run):
    from audit.export.suite import build_cases, make_manifest as suite_manifest

    cases = build_cases(toy_run)
    cases[0].variant = "'''\"\"\" ; import os; os.system('x') #"
    source = render_pytest(cases, suite_manifest(toy_run, cases))
    namespace: dict = {}
    exec(compile(source, "gen.py", "exec"), namespace)
    assert namespace["CASES"][0]["variant"] == cases[0].variant and len(namespace["CASES"]) == 3


def test_cli_export_and_suite_run(toy_run, tmp_path, tiny_model, monkeypatch, capsys):
    from audit.models.io import save_model

    store = str(toy_run.path.parent)
    model_dir = str(save_model(tiny_model, tmp_path / "model"))
    suite_path = tmp_path / "cli.jsonl"
    assert main(["export", toy_run.run_id, "--format", "jsonl", "--out", str(suite_path), "--store", store]) == 0
    assert suite_path.is_file()
    monkeypatch.setenv("AUDIT_STORE", store)
    assert main(["export", toy_run.run_id, "--format", "junit", "--out", str(tmp_path / "j.xml")]) == 0
    assert main(["export", toy_run.run_id, "--format", "yaml", "--out", str(tmp_path / "x")]) == 3
    assert main(["export", "20990101T000000Z-nope00", "--out", str(tmp_path / "x")]) == 7
    capsys.readouterr()
    assert main(["suite", "run", str(suite_path), "--model", model_dir, "--json"]) == 2
    result = json.loads(capsys.readouterr().out)
    assert result["n_cases"] == 3 and result["n_failed"] == 2
    lines = suite_path.read_text().splitlines()
    suite_path.write_text(lines[0] + "\n")  # only the case the model gets right
    assert main(["suite", "run", str(suite_path), "--model", model_dir]) == 0
    assert "1 cases, 0 failed" in capsys.readouterr().out


def test_suite_without_cases_is_an_error_not_a_pass(toy_run, tmp_path, tiny_model):
    out = export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl")
    suite = read_suite(out)
    out.write_text("\n\n")  # manifest still beside it, but no case lines
    with pytest.raises(DataError, match=r"suite\.jsonl: suite has no cases"):
        read_suite(out)
    suite.cases = []
    with pytest.raises(DataError, match="suite has no cases"):
        run_suite(suite, tiny_model)


def test_read_suite_keeps_unicode_line_separators_inside_strings(toy_run, tmp_path):
    out = export_suite(toy_run, fmt="jsonl", out=tmp_path / "suite.jsonl")
    first, *rest = out.read_text(encoding="utf-8").split("\n")
    case = json.loads(first)
    case["original"] = "the movie\u2028is\u0085good\u2029"
    out.write_text("\n".join([json.dumps(case, ensure_ascii=False), *rest]), encoding="utf-8")
    assert "\u2028" in out.read_text(encoding="utf-8")
    suite = read_suite(out)
    assert len(suite.cases) == 3 and suite.cases[0].original == "the movie\u2028is\u0085good\u2029"
