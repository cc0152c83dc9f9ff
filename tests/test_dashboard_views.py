"""Pure view models of the dashboard's new views: deep links, error overview, findings, gate, column help."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audit.dashboard import columns, findings, links, overview
from audit.dashboard import runs as vm_runs
from audit.dashboard import variants as vm_variants
from audit.dashboard.explain import MethodResult, method_agreement, unknown_warning, unsigned_note
from tests.fixtures_runs import make_manifest, make_tables

LABELS = {0: "negative", 1: "positive"}


def driver_stats_frame() -> pd.DataFrame:
    """A ``driver_stats`` table as CONTRACTS.md specifies it: one confirmed word, one candidate, one phrase."""
    base = {"scope": "all", "pos": "JJ", "is_stopword": False, "is_punct": False, "p_lift": 0.001,
            "p_contrast": 0.01, "q_contrast": 0.02, "contrast_effect": 0.8, "fix_rate_unk": 0.5,
            "control_fix_rate": 0.05, "p_fix": 0.001}
    rows = [
        {**base, "kind": "word", "unit": "dull", "n_texts": 10, "n_errors": 6, "n_top_error": 5,
         "error_rate_with": 0.6, "error_rate_without": 0.1, "lift": 6.0, "q_lift": 0.004, "n_cf": 6,
         "fix_rate_remove": 0.67, "confirmed": True, "status": "confirmed", "rank": 1},
        {**base, "kind": "word", "unit": ".", "n_texts": 300, "n_errors": 40, "n_top_error": 30, "is_punct": True,
         "error_rate_with": 0.13, "error_rate_without": 0.12, "lift": 1.1, "q_lift": 0.8, "n_cf": 40,
         "fix_rate_remove": 0.05, "confirmed": False, "status": "candidate", "rank": 2},
        {**base, "kind": "phrase", "unit": "the plot", "n_texts": 4, "n_errors": 1, "n_top_error": 1,
         "error_rate_with": 0.25, "error_rate_without": 0.1, "lift": 2.5, "q_lift": 0.9, "n_cf": 1,
         "fix_rate_remove": 0.0, "confirmed": False, "status": "below_support", "rank": 3},
        {**base, "scope": "sst2_test", "kind": "word", "unit": "dull", "n_texts": 10, "n_errors": 6, "n_top_error": 5,
         "error_rate_with": 0.6, "error_rate_without": 0.1, "lift": 6.0, "q_lift": 0.004, "n_cf": 6,
         "fix_rate_remove": 0.67, "confirmed": True, "status": "confirmed", "rank": 1},
    ]
    return pd.DataFrame(rows)


# --- deep links ---------------------------------------------------------------------------------

def test_links_round_trip_and_url_encoding():
    sel = links.Selection(run="20261201-abc", word="isn't good", example=("sst2:test", 17), level="phrase",
                          methods=("reat", "lime"))
    query = links.to_query(sel)
    assert query == {"run": "20261201-abc", "word": "isn't good", "example": "sst2:test:17", "level": "phrase",
                     "method": "reat,lime"}
    assert links.parse_query(query) == sel  # dataset names may contain ':' (the id is after the last one)
    url = links.page_url("failures", run="r1", word="a&b c")
    assert url == "/failures?run=r1&word=a%26b+c"
    assert links.page_url("runs") == "/"
    assert links.page_url("explain", sel, word=None).startswith("/explain?run=20261201-abc&example=sst2%3Atest%3A17")
    with pytest.raises(ValueError, match="unknown page"):
        links.page_url("nope")


@pytest.mark.parametrize("params, expected", [
    ({"example": "sst2_test"}, links.Selection()),            # no id
    ({"example": "sst2_test:x"}, links.Selection()),          # id not a number
    ({"example": ":4"}, links.Selection()),                   # no dataset
    ({"level": "sentence"}, links.Selection()),               # unknown level
    ({"word": ["a", "b"], "run": "  "}, links.Selection(word="b")),  # repeated key: the last; blank: none
    ({"method": "reat,,lime", "other": "x"}, links.Selection(methods=("reat", "lime"))),
])
def test_malformed_parameters_are_dropped_not_raised(params, expected):
    assert links.parse_query(params) == expected


def test_query_sync_applies_only_what_came_from_outside():
    sync = links.QuerySync()
    assert sync.incoming({"run": "r1", "word": "dull"}) == {"run": "r1", "word": "dull"}  # a fresh link
    written = sync.outgoing(links.Selection(run="r1", word="flat"))  # the user typed another word
    assert written == {"run": "r1", "word": "flat"}
    assert sync.incoming(written) == {}  # our own URL is not re-applied over the user's next change
    assert sync.incoming({"run": "r1", "word": "mess"}) == {"word": "mess"}  # a new link is


def test_link_column_per_row():
    rows = [{"word": "dull"}, {"word": "flat"}]
    assert links.link_column(rows, "failures", run="r") == ["/failures?run=r&word=dull", "/failures?run=r&word=flat"]
    assert links.link_column([{"dataset": "d", "example_id": 3}], "explain", run=None, field="example") == [
        "/explain?example=d%3A3"]


# --- error overview ---------------------------------------------------------------------------------

def test_error_overview_slices_count_every_text():
    preds = make_tables(wrong={1, 3, 6})["predictions"]
    matrix = overview.confusion_matrix(preds, LABELS)
    assert list(matrix.columns) == ["true \\ predicted", "negative", "positive"]
    rows = matrix.set_index("true \\ predicted")
    assert rows.loc["negative"].tolist() == [2, 2]  # ids 1, 3 wrong of 0, 1, 3, 5, 7
    assert rows.loc["positive"].tolist() == [1, 3]  # id 6 wrong
    by_label = overview.error_rate_by_label(preds, LABELS).set_index("slice")
    assert by_label.loc["gold negative", "error_rate"] == pytest.approx(0.5)
    assert by_label.loc["gold positive", "error_rate"] == pytest.approx(0.25)
    for frame in (overview.error_rate_by_length(preds), overview.error_rate_by_confidence(preds)):
        assert frame["n"].sum() == len(preds) and frame["n_errors"].sum() == 3
    by_len = overview.error_rate_by_length(preds).set_index("slice")
    assert set(by_len.index) == {"1-5 tokens", "6-10 tokens"}
    many = preds.assign(n_tokens=[1, 5, 6, 41, 40, 21, 11, 3], prob_pred=[0.5, 0.59, 0.6, 0.95, 1.0, 0.7, 0.8, 0.9])
    assert list(overview.error_rate_by_length(many)["slice"]) == [
        "1-5 tokens", "6-10 tokens", "11-20 tokens", "21-40 tokens", "41+ tokens"]
    conf = overview.error_rate_by_confidence(many).set_index("slice")["n"].to_dict()
    assert conf == {"confidence 0.0-0.6": 2, "confidence 0.6-0.7": 1, "confidence 0.7-0.8": 1,
                    "confidence 0.8-0.9": 1, "confidence 0.9-1.0": 3}


def test_driver_slices_from_confirmed_drivers_only():
    assert overview.driver_slices(None) is None  # older run: no table
    slices = overview.driver_slices(driver_stats_frame())
    assert list(slices["unit"]) == ["dull"] and slices.loc[0, "error_rate"] == pytest.approx(0.6)
    assert overview.driver_slices(driver_stats_frame().assign(confirmed=False)).empty


def test_top_unit_share_counts_rank_one_words():
    fd = pd.DataFrame({"dataset": ["d"] * 4, "example_id": [0, 0, 1, 2], "rank": [1, 2, 1, 1],
                       "kind": ["word"] * 4, "text": [".", "dull", "flat", "."], "score": [1.0] * 4})
    assert overview.top_unit_share(fd) == (2, 3)
    assert overview.top_unit_share(None) == (0, 0)


# --- findings with evidence ---------------------------------------------------------------------------------

def test_stats_view_confirmed_first_candidates_behind_toggle():
    stats = driver_stats_frame()
    assert list(findings.stats_view(stats)["unit"]) == ["dull"]
    assert list(findings.stats_view(stats, show_candidates=True)["unit"]) == ["dull", "."]
    assert list(findings.stats_view(stats, kind="phrase", show_candidates=True)["unit"]) == ["the plot"]
    assert findings.scopes(stats) == ["all", "sst2_test"]
    assert findings.headline(stats).startswith("1 confirmed driver word in this run")
    assert findings.headline(stats.assign(confirmed=False)) == findings.NO_CONFIRMED_MESSAGE
    assert findings.headline(None) == findings.NO_STATS_MESSAGE
    assert "older version" in findings.NO_STATS_MESSAGE


def test_reasons_carry_removal_evidence_and_degrade_without_it():
    fd = pd.DataFrame({"dataset": ["d"] * 3, "example_id": [4] * 3, "rank": [1, 2, 1], "kind": ["word", "word", "phrase"],
                       "text": [".", "dull", "."], "start": [5, 2, 5], "end": [6, 3, 6], "score": [0.9, 0.4, 0.9],
                       "fixes_error": [False, True, False], "delta_prob_gold": [0.01, 0.4, 0.01], "verified": True})
    reasons = findings.reasons(fd, dataset="d", example_id=4)
    assert [(r.text, r.fixes_error) for r in reasons] == [(".", False), ("dull", True)]  # the one-word phrase once
    assert reasons[1].verdict.startswith("verified") and reasons[1].delta_prob_gold == pytest.approx(0.4)
    old = findings.reasons(fd.drop(columns=["fixes_error", "delta_prob_gold", "verified"]), dataset="d", example_id=4)
    assert [r.fixes_error for r in old] == [None, None] and old[0].verdict == "not tested"
    assert findings.failures_with_unit(fd, "DULL", verified_only=True) == {("d", 4)}
    assert findings.failures_with_unit(fd, ".", verified_only=True) == set()


def test_minimal_fix_sentence():
    mf = pd.DataFrame({"example_id": [1, 2], "dataset": ["d", "d"], "positions": [[0, 3], []],
                       "words": [["dull", "flat"], []], "size": [2, 0], "prob_gold_after": [0.71, 0.2],
                       "found": [True, False]})
    assert findings.minimal_fix(mf, dataset="d", example_id=1) == (
        "Removing 2 words ('dull', 'flat') makes the prediction right (p(gold) becomes 71.0%).")
    assert findings.minimal_fix(mf, dataset="d", example_id=2).startswith("No small set")
    assert findings.minimal_fix(None, dataset="d", example_id=1) is None


# --- variants ---------------------------------------------------------------------------------

def test_variants_direction_dedupe_and_evidence():
    var = make_tables(wrong={1}, findings=False)["variants"]  # a run made before the strict recipe
    var = pd.concat([var, var.iloc[[0]]], ignore_index=True)  # the same pair found twice
    flt = vm_variants.default_filter(var)
    assert flt == vm_variants.VariantFilter(flipped=True, constrained=True, direction="break")
    assert len(vm_variants.filter_variants(var, vm_variants.VariantFilter())) == len(var) - 1
    strict = var.assign(valid=[True, False] * (len(var) // 2) + [True] * (len(var) % 2),
                        direction=["break"] * (len(var) - 1) + ["fix"])
    assert vm_variants.default_filter(strict) == vm_variants.VariantFilter(valid=True, direction="break", flipped=True)
    shown = vm_variants.filter_variants(strict, vm_variants.default_filter(strict))
    assert len(shown) and shown["valid"].all() and (shown["direction"] == "break").all() and shown["flipped"].all()
    by_word = vm_variants.filter_variants(var, vm_variants.VariantFilter(word="NICE"))
    assert len(by_word) == len(var) - 1  # every variant swapped in "nice"
    evidence = json.dumps({"pos": {"passed": True, "value": "JJ", "threshold": "JJ"},
                           "cosine": {"passed": False, "value": 0.41, "threshold": 0.6}, "sense": "dull.a.01"})
    frame = vm_variants.evidence_frame(evidence)
    assert list(frame["check"]) == ["pos", "cosine", "sense"] and list(frame["passed"]) == [True, False, None]
    assert vm_variants.evidence_frame("not json").empty and vm_variants.evidence_frame(None).empty


# --- runs: gate table, comparability, model names ----------------------------------------------------------

def test_gate_checks_table_and_old_manifests():
    gate = {"passed": False, "breaches": ["min_accuracy: accuracy = 0.6 (threshold 0.7)"],
            "checks": [{"name": "min_accuracy", "threshold": 0.7, "value": 0.6, "status": "breach", "passed": False,
                        "message": "min_accuracy: accuracy = 0.6 (threshold 0.7)"},
                       {"name": "max_new_failures", "threshold": 50, "value": None, "status": "skipped",
                        "passed": True, "message": "max_new_failures: skipped"}]}
    table = vm_runs.gate_checks(gate)
    assert list(table.columns) == vm_runs.GATE_COLUMNS and list(table["status"]) == ["breach", "skipped"]
    assert table.loc[0, "value"] == pytest.approx(0.6)
    old = vm_runs.gate_checks({"passed": False, "breaches": ["x too high"]})
    assert list(old["detail"]) == ["x too high"]
    assert vm_runs.gate_checks(None).empty


def test_comparability_names_what_differs():
    a = {**make_manifest(), "metrics": {"n_examples": 1821, "n_attacked": 1509}}
    assert vm_runs.comparability(a, a).empty and vm_runs.comparability_warning(vm_runs.comparability(a, a)) is None
    b = {**make_manifest(model_ref="models/lstm"), "config_hash": "other", "data": {"sst2_test": "changed"},
         "metrics": {"n_examples": 1821, "n_attacked": 100}}
    diff = vm_runs.comparability(a, b)
    assert list(diff["field"]) == ["model", "config", "dataset sst2_test", "texts attacked"]
    assert diff.set_index("field").loc["texts attacked"].tolist() == ["1509", "100"]
    warning = vm_runs.comparability_warning(diff)
    assert warning and "config" in warning and "texts attacked" in warning


@pytest.mark.parametrize("ref, name", [("artifacts/models/gru", "gru"), ("artifacts/models/lstm/", "lstm"),
                                       ("mypkg.models:build_gru", "build_gru"), ("own.py:make", "make"), (None, "?")])
def test_model_names_for_the_run_picker(ref, name):
    assert vm_runs.model_name(ref) == name
    assert vm_runs.run_label("r1", model_ref=ref, accuracy=0.8123) == f"{name} · acc 0.812 · r1"
    assert vm_runs.run_label("r1", model_ref=ref) == f"{name} · r1"


# --- explain, column help ---------------------------------------------------------------------------------

def result(method: str, scores: list[float], oov: tuple[bool, ...] = ()) -> MethodResult:
    tokens = [f"t{i}" for i in range(len(scores))]
    return MethodResult(method=method, tokens=tokens, scores=scores, prediction="negative", confidence=0.7,
                        target="negative", completeness_delta=None, oov=oov or (False,) * len(scores))


def test_explain_agreement_unknown_share_and_unsigned_note():
    a, b, c = result("reat", [0.1, 0.5, -0.2]), result("lime", [1.0, 2.0, 0.0]), result("grad_input", [3.0, 1.0, 2.0])
    agree = method_agreement([a, b, c]).set_index(["method_a", "method_b"])["spearman"]
    assert agree[("REAT", "LIME")] == pytest.approx(1.0)
    assert agree[("REAT", "GradInput")] == pytest.approx(-0.5)
    assert unknown_warning(result("reat", [0.1, 0.2, 0.3, 0.4], oov=(True, True, True, False))).startswith("75%")
    assert unknown_warning(a) is None
    assert "VanillaGrad is unsigned" in (unsigned_note(["reat", "vanilla_grad"]) or "")
    assert unsigned_note(["reat"]) is None


def test_every_column_has_help():
    tables = make_tables()
    frames = [*tables.values(), driver_stats_frame(), vm_runs.gate_checks(None), overview.confusion_matrix(
        tables["predictions"], LABELS)]
    for frame in frames:
        for col, text in columns.helps(frame.columns).items():
            assert text and text != col, col
    assert columns.column_help("train_count_positive") == "Training texts labelled positive that contain the word"


def test_evidence_in_the_attack_layout():
    evidence = json.dumps({"valid": False, "declared": False, "sense": "dull.a.01", "cosine": 0.41,
                           "zipf_original": 4.2, "zipf_substitute": 2.1, "swaps": [{"position": 3}],
                           "checks": {"sense": {"passed": True, "value": "dull.a.01", "threshold": 2},
                                      "closeness": {"passed": False, "value": 0.41, "threshold": 0.6,
                                                    "detail": "too far"}}})
    frame = vm_variants.evidence_frame(evidence).set_index("check")
    assert list(frame.index) == ["sense", "closeness", "sense", "cosine", "zipf_original", "zipf_substitute",
                                 "declared"]
    assert frame["passed"].iloc[:2].tolist() == [True, False]
    assert frame["value"].iloc[1] == "0.41 (too far)"


def test_previous_run_is_of_the_same_model():
    from types import SimpleNamespace

    runs = [SimpleNamespace(run_id=r, created_at=t, status="complete", model_ref=m)
            for r, t, m in (("g1", "1", "gru"), ("l1", "2", "lstm"), ("g2", "3", "gru"), ("l2", "4", "lstm"))]
    assert vm_runs.previous_complete(runs) == {"g1": None, "l1": None, "g2": "g1", "l2": "l1"}
