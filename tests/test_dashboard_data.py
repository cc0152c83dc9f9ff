"""View models behind the dashboard pages (audit.dashboard), on synthetic run tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.dashboard import drivers as vm_drivers
from audit.dashboard import explain as vm_explain
from audit.dashboard import failures as vm_fail
from audit.dashboard import runs as vm_runs
from audit.dashboard import store as vm_store
from audit.dashboard import variants as vm_var
from audit.dashboard.html import highlight_tokens, text_block
from audit.store import RunStore, RunSummary, diff_runs
from tests.fixtures_runs import BASE_TEXTS, XSS, make_tables, publish_run


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return make_tables(wrong={1, 3, 5}, texts=[*BASE_TEXTS, XSS], flipped={0, 2}, flagged={2})


def summary(run_id: str, created: str, status: str = "complete", **metrics) -> RunSummary:
    return RunSummary(run_id=run_id, created_at=created, status=status, model_ref="m", metrics=metrics,
                      gate_passed=None if status != "complete" else True)


# -- store -----------------------------------------------------------------------------------------------
def test_store_dir_resolution_and_first_run_message(tmp_path, monkeypatch):
    monkeypatch.setenv(vm_store.STORE_ENV, str(tmp_path / "env"))
    assert vm_store.resolve_store_dir() == tmp_path / "env"
    assert vm_store.resolve_store_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(vm_store.STORE_ENV)
    assert str(vm_store.resolve_store_dir()) == vm_store.DEFAULT_STORE
    msg = vm_store.first_run_message(tmp_path)
    assert "make nightly" in msg and "audit run --config configs/nightly.yaml" in msg and str(tmp_path) in msg


def test_open_store_is_read_only_on_missing_dir(tmp_path):
    assert vm_store.open_store(tmp_path / "missing") is None
    assert not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    assert vm_store.open_store(tmp_path / "empty").list_runs() == []


# -- runs ------------------------------------------------------------------------------------------------
def test_runs_frame_status_metrics_and_order():
    runs = [
        summary("r1", "2026-01-01T00:00:00", accuracy=0.8, n_errors=2, new_driver_words=["dull", "flat"]),
        summary("r2", "2026-01-02T00:00:00", status="running"),
        summary("r3", "2026-01-03T00:00:00", status="failed"),
    ]
    frame = vm_runs.runs_frame(runs, new_driver_words={"r2": 7})
    assert list(frame["run_id"]) == ["r3", "r2", "r1"]
    by_id = frame.set_index("run_id")
    assert by_id.loc["r2", "status"] == "in progress"
    assert by_id.loc["r3", "status"] == "failed"
    assert by_id.loc["r1", "new_driver_words"] == 2  # from the store's list
    assert by_id.loc["r2", "new_driver_words"] == 7  # from the caller's computation
    assert by_id.loc["r1", "gate"] == "passed" and by_id.loc["r2", "gate"] == "-"
    assert np.isnan(by_id.loc["r2", "accuracy"])


def test_previous_complete_skips_incomplete_runs():
    runs = [summary("a", "1"), summary("b", "2", status="failed"), summary("c", "3")]
    assert vm_runs.previous_complete(runs) == {"a": None, "b": "a", "c": "a"}


def test_new_confirmed_drivers_uses_the_diff_definition():
    from tests.fixtures_runs import make_driver_stats

    old, new = make_driver_stats(["dull"]), make_driver_stats(["dull", "flat"])
    assert vm_runs.new_confirmed_drivers(new, old) == ["flat"]
    assert vm_runs.new_confirmed_drivers(old, new) == []
    assert vm_runs.new_confirmed_drivers(new, None) is None
    # candidates (not confirmed) never count as new drivers
    assert vm_runs.new_confirmed_drivers(make_driver_stats([], candidates=("the", "mess")), old) == []


def test_new_driver_words():
    old = pd.DataFrame({"rank": [1, 2], "word": ["dull", "flat"]})
    new = pd.DataFrame({"rank": [1, 2], "word": ["terribly", "dull"]})
    assert vm_runs.new_driver_words(new, old) == ["terribly"]
    assert vm_runs.new_driver_words(new, None) is None


def test_metric_changes_verdicts():
    old = {"accuracy": 0.80, "n_errors": 10, "attack_success_rate": 0.3, "n_examples": 50}
    new = {"accuracy": 0.85, "n_errors": 12, "attack_success_rate": 0.3, "n_examples": 50}
    verdicts = vm_runs.metric_changes(old, new).set_index("metric")["verdict"].to_dict()
    assert verdicts == {"accuracy": "better", "n_errors": "worse", "attack_success_rate": "same", "n_examples": "-"}


def test_diff_frames_from_store_diff(tmp_path):
    store = RunStore(tmp_path / "runs")
    old = publish_run(store, run_key="aaaaaa0001", wrong={1, 3})
    new = publish_run(store, run_key="bbbbbb0002", wrong={3, 4}, drivers=["terribly", "dull"])
    frames = vm_runs.diff_frames(diff_runs(old, new).to_dict())
    assert list(frames["fixed"]["example_id"]) == [1]
    assert list(frames["broken"]["example_id"]) == [4]
    words = frames["drivers"].set_index("word")["change"].to_dict()
    assert words["terribly"] == "new" and words["charming"] == "gone"


# -- failures --------------------------------------------------------------------------------------------
def test_filter_failures_by_label_confidence_and_word(tables):
    preds = tables["predictions"]
    assert set(vm_fail.filter_failures(preds, vm_fail.FailureFilter())["example_id"]) == {1, 3, 5}
    assert set(vm_fail.filter_failures(preds, vm_fail.FailureFilter(gold=(1,)))["example_id"]) == set()
    assert set(vm_fail.filter_failures(preds, vm_fail.FailureFilter(pred=(1,)))["example_id"]) == {1, 3, 5}
    # odd ids have confidence 0.8, even ones 0.9: all failures here are 0.8
    assert vm_fail.filter_failures(preds, vm_fail.FailureFilter(min_confidence=0.85)).empty
    assert set(vm_fail.filter_failures(preds, vm_fail.FailureFilter(query="TEDIOUS"))["example_id"]) == {3}
    # whole words only: "dul" is not a word of any text
    assert vm_fail.filter_failures(preds, vm_fail.FailureFilter(query="dul")).empty


def test_paginate_clamps():
    frame = pd.DataFrame({"x": range(23)})
    page = vm_fail.paginate(frame, page=3, page_size=10)
    assert (page.number, page.n_pages, page.total, list(page.frame["x"])) == (3, 3, 23, [20, 21, 22])
    assert vm_fail.paginate(frame, page=99, page_size=10).number == 3
    assert vm_fail.paginate(frame, page=0, page_size=10).number == 1
    assert vm_fail.paginate(frame.iloc[:0], page=1, page_size=10).n_pages == 1
    with pytest.raises(ValueError):
        vm_fail.paginate(frame, page=1, page_size=0)


def test_example_units_per_level(tables):
    words, scores = vm_fail.example_units(tables["token_attributions"], tables["segments"], dataset="sst2_test",
                                          example_id=1, level="word")
    assert words == BASE_TEXTS[1].split() and len(scores) == len(words)
    clauses, _ = vm_fail.example_units(tables["token_attributions"], tables["segments"], dataset="sst2_test",
                                       example_id=1, level="clause")
    assert clauses == [BASE_TEXTS[1]]
    assert vm_fail.example_units(tables["token_attributions"], None, dataset="sst2_test", example_id=1,
                                 level="phrase") == ([], [])
    with pytest.raises(ValueError):
        vm_fail.example_units(tables["token_attributions"], None, dataset="sst2_test", example_id=1, level="x")


def test_label_names_and_drivers(tables):
    assert vm_fail.label_names({"labels": ["neg", "pos"]}) == {0: "neg", 1: "pos"}
    assert vm_fail.label_names({}, tables["driver_words"]) == {0: "negative", 1: "positive"}
    assert vm_fail.label_text(1, {}) == "1"
    assert vm_fail.top_drivers(tables["failure_drivers"], dataset="sst2_test", example_id=3) == [("a", 1.25)]
    # the same span as a word and as a one-word phrase is one reason; a longer phrase is another
    rows = pd.DataFrame([
        {"example_id": 0, "dataset": "d", "rank": 1, "kind": "word", "text": ".", "start": 4, "end": 5, "score": 0.4},
        {"example_id": 0, "dataset": "d", "rank": 1, "kind": "phrase", "text": ".", "start": 4, "end": 5, "score": 0.4},
        {"example_id": 0, "dataset": "d", "rank": 2, "kind": "word", "text": "dull", "start": 1, "end": 2, "score": 0.3},
        {"example_id": 0, "dataset": "d", "rank": 2, "kind": "phrase", "text": "dull plot", "start": 1, "end": 3,
         "score": 0.35},
    ])
    assert vm_fail.top_drivers(rows, dataset="d", example_id=0) == [(".", 0.4), ("dull plot", 0.35), ("dull", 0.3)]


# -- driver words ----------------------------------------------------------------------------------------
def test_driver_table_and_word_data(tables):
    table = vm_drivers.driver_table(tables["driver_words"], query="ll")
    assert list(table["word"]) == ["dull"] and "train_count_negative" in table.columns
    assert vm_drivers.driver_table(tables["driver_words"], min_errors=5).empty
    scores = vm_drivers.word_scores(tables["token_attributions"], "DULL", column="score_pred")
    assert len(scores) == 1
    counts = vm_drivers.train_label_counts(tables["driver_words"].iloc[0].to_dict())
    assert counts.set_index("label")["count"].to_dict() == {"negative": 5, "positive": 1}
    texts = vm_drivers.texts_with_word(tables["predictions"], tables["token_attributions"], "boring")
    assert list(texts["example_id"]) == [7] and texts.loc[0, "occurrences"] == 2
    assert vm_drivers.texts_with_word(tables["predictions"], tables["token_attributions"], "boring",
                                      errors_only=True).empty


# -- variants --------------------------------------------------------------------------------------------
def test_variant_filters_and_swaps(tables):
    var = tables["variants"]
    assert set(vm_var.filter_variants(var, vm_var.VariantFilter(flipped=True))["example_id"]) == {0, 2}
    assert set(vm_var.filter_variants(var, vm_var.VariantFilter(flipped=True, constrained=True))["example_id"]) == {0}
    assert set(vm_var.filter_variants(var, vm_var.VariantFilter(meaning_flag="antonym"))["example_id"]) == {2}
    assert vm_var.meaning_flags(var) == ["antonym"]
    assert len(vm_var.filter_variants(var, vm_var.VariantFilter(query="NICE"))) == len(var)
    assert vm_var.parse_swaps("not json") == [] and vm_var.parse_swaps(None) == []
    assert vm_var.parse_swaps(json.dumps([{"position": 1, "original": "a"}])) == [{"position": 1, "original": "a"}]


def test_suite_bytes_for_every_download_format(tmp_path):
    record = publish_run(RunStore(tmp_path), flipped={0}, findings=False)
    recipe = vm_var.suite_recipe(record.table("variants"))
    assert recipe == "loose"  # the fixture run predates the strict recipe's evidence
    lines = vm_var.suite_bytes(record, "jsonl", recipe=recipe).decode().splitlines()
    assert lines and all(json.loads(line)["provenance"]["run_id"] == record.run_id for line in lines)
    assert vm_var.suite_bytes(record, "csv", recipe=recipe).decode().startswith("case_id,")
    compile(vm_var.suite_bytes(record, "pytest", recipe=recipe), "test_suite.py", "exec")  # a valid Python module
    assert b"<testsuite" in vm_var.suite_bytes(record, "junit", recipe=recipe)


def test_variant_pair_html_highlights_and_escapes():
    swaps = [{"position": 1, "original": "dull", "replacement": "tedious", "pos": "JJ"}]
    before, after = vm_var.variant_pair_html("so dull " + XSS, "so tedious " + XSS, swaps)
    assert ">dull</mark>" in before and ">tedious</mark>" in after
    assert before.count("<mark") == 1 and after.count("<mark") == 1
    for fragment in (before, after):
        assert "<img" not in fragment and "&lt;" in fragment and "onerror" in fragment
    # positions that do not line up fall back to matching the word
    _, shifted = vm_var.variant_pair_html("x", "a b tedious", swaps)
    assert ">tedious</mark>" in shifted


def test_probs_frame():
    frame = vm_var.probs_frame({"probs_before": [0.1, 0.9], "probs_after": [0.7, 0.3]}, {0: "neg", 1: "pos"})
    assert list(frame["class"]) == ["neg", "pos"] and frame["after"].tolist() == [0.7, 0.3]


# -- html / explain --------------------------------------------------------------------------------------
def test_html_fragments_escape_dataset_text():
    assert "<img" not in text_block(XSS) and "&lt;img src=x onerror=alert(1)&gt;" in text_block(XSS)
    out = highlight_tokens(["<script>", "ok"], {0})
    assert "<script>" not in out and "<mark" in out


def test_scores_frame_and_model_refs():
    res = [vm_explain.MethodResult("reat", ["a", "b"], [0.5, -0.5], "pos", 0.9, "pos", 0.0),
           vm_explain.MethodResult("lime", ["a", "b"], [0.1, 0.2], "pos", 0.9, "pos", None)]
    frame = vm_explain.scores_frame(res)
    assert list(frame.columns) == ["position", "token", "reat", "lime"] and frame["reat"].tolist() == [0.5, -0.5]
    assert vm_explain.model_refs([{"model_ref": "a"}, {"model_ref": "b"}, {"model_ref": "a"}, {}]) == ["a", "b"]


def test_explain_model_ref_policy(tmp_path):
    from audit.errors import InputError

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    runs = ["models/tiny", "mypkg.models:build"]
    choose = vm_explain.choose_model_ref
    assert choose("", None, run_refs=runs, allow_adapters=False) is None
    assert choose("  ", "models/tiny", run_refs=runs, allow_adapters=False) == "models/tiny"
    assert choose(None, "mypkg.models:build", run_refs=runs, allow_adapters=False) == "mypkg.models:build"
    assert choose(f" {model_dir} ", "models/tiny", run_refs=runs, allow_adapters=False) == str(model_dir)
    assert choose("mypkg.models:build", None, run_refs=runs, allow_adapters=False) == "mypkg.models:build"
    for evil in ("os:system", "/tmp/evil.py:build", "C:/x"):
        with pytest.raises(InputError, match="allow-adapters"):
            choose(evil, "models/tiny", run_refs=runs, allow_adapters=False)
        assert choose(evil, None, run_refs=runs, allow_adapters=True) == evil
    with pytest.raises(InputError, match="no model directory"):
        choose(str(tmp_path / "nope"), None, run_refs=runs, allow_adapters=False)
    with pytest.raises(InputError, match="not one named by a run"):
        choose("", "other:fn", run_refs=runs, allow_adapters=False)
    colon_dir = tmp_path / "a:b"
    colon_dir.mkdir()
    assert choose(str(colon_dir), None, run_refs=[], allow_adapters=False) == str(colon_dir)


def test_adapters_allowed_env():
    env = vm_explain.ALLOW_ADAPTERS_ENV
    assert not vm_explain.adapters_allowed({})
    assert not vm_explain.adapters_allowed({env: "0"}) and not vm_explain.adapters_allowed({env: ""})
    assert vm_explain.adapters_allowed({env: "1"}) and vm_explain.adapters_allowed({env: " True "})
