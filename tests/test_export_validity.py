"""Suite export selects strict-valid breaks by default and carries the validity evidence (issue 12, item 4)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audit.cli import main
from audit.export import build_cases, export_suite, read_suite
from audit.store import RunStore
from tests.fixtures_runs import make_manifest, make_tables, metrics_of

ATTACK_RECORD = {"recipe": "strict", "blocking": True, "sentence_meaning": "not in the recipe (encoder available)",
                 "constraints": [{"name": "closeness", "min_cosine": 0.55}]}


def row(vid: int, example_id: int, original: str, variant: str, *, gold: int = 1, pred_before: int = 1,
        after: int = 0, valid: bool = True, flags: tuple[str, ...] = (), kind: str = "text") -> dict:
    a, b = original.split(), variant.split()
    swaps = [{"position": i, "original": x, "replacement": y, "pos": "JJ"} for i, (x, y) in enumerate(zip(a, b)) if x != y]
    evidence = {"valid": valid, "sense": "good.a.01", "cosine": 0.81, "zipf_original": 6.1, "zipf_substitute": 5.2,
                "checks": {"closeness": {"passed": True, "value": 0.81, "threshold": 0.55},
                           "naturalness": {"passed": valid, "value": {"zipf_substitute": 5.2}, "threshold": {}}}}
    return {"variant_id": vid, "kind": kind, "example_id": example_id, "dataset": "toy", "original": original,
            "variant": variant, "swaps": json.dumps(swaps), "gold": gold, "pred_before": pred_before,
            "probs_before": [0.2, 0.8], "pred_after": after, "probs_after": [0.6, 0.4], "flipped": after != pred_before,
            "verified": True, "queries": 3, "words_changed": len(swaps), "meaning_flags": list(flags),
            "constrained": not flags, "recipe": "strict", "valid": valid,
            "direction": "break" if pred_before == gold else "fix", "declared": False, "evidence": json.dumps(evidence)}


@pytest.fixture
def run(tmp_path):
    tables = make_tables()
    tables.pop("token_attributions")  # tokens come from the variant text
    tables["variants"] = pd.DataFrame([
        row(0, 0, "the movie is good", "the film is good", after=1),                   # valid break, holds
        row(1, 1, "the plot is good", "the plot is great", after=0),                   # valid break, flips
        row(2, 2, "a good movie", "a dandy movie", valid=False),                       # invalid
        row(3, 3, "a bad movie", "a big movie", gold=0, pred_before=1, after=0),       # a fix probe: never exported
        row(4, 4, "the story is good", "the story is good", after=1),                  # equal to its original
        row(5, 1, "the plot is good", "the plot is great", after=0, kind="driver"),    # duplicate of 1
        row(6, 5, "so good", "so estimable", valid=False, flags=("sense_mismatch",)),  # invalid and flagged
    ])
    store = RunStore(tmp_path / "runs")
    w = store.begin("validitykey", {**make_manifest(), "attack": ATTACK_RECORD})
    for name, df in tables.items():
        w.write_table(name, df)
    return w.publish(manifest_updates={"metrics": metrics_of(tables)})


def test_default_export_has_only_strict_valid_breaks(run, tmp_path) -> None:
    cases = build_cases(run)
    assert [c.case_id for c in cases] == ["0", "1"]
    assert all(c.validity == "valid" for c in cases)
    ev = cases[1].evidence
    assert ev["sense"] == "good.a.01" and ev["cosine"] == 0.81 and ev["zipf_substitute"] == 5.2
    assert ev["checks_passed"] == ["closeness", "naturalness"] and ev["checks_failed"] == []
    suite = read_suite(export_suite(run, fmt="jsonl", out=tmp_path / "s.jsonl"))
    assert [c.case_id for c in suite.cases] == ["0", "1"]
    m = suite.manifest
    assert m.recipe == ATTACK_RECORD
    assert m.selection["strict_valid_only"] and m.selection["recipe"] == "strict"
    assert m.counts["valid"] == 2 and m.counts["invalid"] == 0


def test_include_flagged_and_loose_export_the_rest_labelled(run) -> None:
    flagged = build_cases(run, include_flagged=True)
    assert [c.case_id for c in flagged] == ["0", "1", "2", "6"]
    assert [c.validity for c in flagged] == ["valid", "valid", "invalid", "invalid"]
    assert flagged[2].evidence["checks_failed"] == ["naturalness"]
    loose = build_cases(run, recipe="loose")
    assert [c.case_id for c in loose] == ["0", "1", "2"]  # the meaning-flagged one needs include_flagged
    assert [c.case_id for c in build_cases(run, recipe="loose", include_flagged=True)] == ["0", "1", "2", "6"]


def test_no_case_equals_its_original_and_no_duplicates(run) -> None:
    cases = build_cases(run, recipe="loose", include_flagged=True)
    assert all(c.tokens != c.original.split() for c in cases)
    keys = [(c.provenance.dataset, c.provenance.example_id, tuple(c.tokens)) for c in cases]
    assert len(keys) == len(set(keys))


def test_cli_recipe_option(run, tmp_path) -> None:
    store = str(run.path.parent)
    out = tmp_path / "loose.jsonl"
    assert main(["export", run.run_id, "--out", str(out), "--store", store, "--recipe", "loose"]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert main(["export", run.run_id, "--out", str(out), "--store", store, "--recipe", "wild"]) == 3
