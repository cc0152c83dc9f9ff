"""diff_runs: accuracy change, new/fixed failures, driver words, attack success."""

from __future__ import annotations

import pytest

from audit.store import RunStore, diff_runs
from tests.fixtures_runs import BASE_TEXTS, XSS, make_manifest, make_tables, publish_run


def test_diff_detects_failures_words_and_attack_change(tmp_path):
    store = RunStore(tmp_path)
    old = publish_run(store, wrong={1, 3}, flipped={0}, drivers=["dull", "boring", "flat"])
    new = publish_run(store, wrong={3, 4, 6}, flipped={0, 2, 5}, drivers=["boring", "lame", "dull", "bland"])
    diff = diff_runs(old, new)
    assert (diff.old_run_id, diff.new_run_id) == (old.run_id, new.run_id)
    assert diff.accuracy_old == pytest.approx(0.75) and diff.accuracy_new == pytest.approx(5 / 8)
    assert diff.accuracy_delta == pytest.approx(-0.125) and diff.accuracy_drop == pytest.approx(0.125)
    assert [f["example_id"] for f in diff.new_failures] == [4, 6]
    assert diff.new_failures[0]["text"] == BASE_TEXTS[4] and diff.new_failures[0]["pred_new"] != diff.new_failures[0]["gold"]
    assert [f["example_id"] for f in diff.fixed_failures] == [1]
    assert diff.new_driver_words == ["lame", "bland"] and diff.dropped_driver_words == ["flat"]
    assert diff.attack_success_rate_delta > 0
    assert diff.attack_success_rate_constrained_delta is not None
    assert diff.n_matched == 8
    d = diff.to_dict()
    assert d["new_driver_words"] == ["lame", "bland"] and len(d["new_failures"]) == 2


def test_examples_matched_by_text_too(tmp_path):
    store = RunStore(tmp_path)
    texts = list(BASE_TEXTS)
    old = publish_run(store, wrong=set(), texts=texts)
    texts[4] = "a different text now"
    new = publish_run(store, wrong={4}, texts=texts)
    diff = diff_runs(old, new)
    assert diff.n_matched == 7 and diff.new_failures == []


def test_markdown_escapes_and_falls_back_to_tables(tmp_path):
    store = RunStore(tmp_path)
    texts = list(BASE_TEXTS)
    texts[2] = XSS + " | pipe"
    old = publish_run(store, wrong=set(), texts=texts)
    new = publish_run(store, wrong={2}, texts=texts)
    new.manifest["metrics"] = {}  # metric missing from the manifest -> computed from the tables
    diff = diff_runs(old, new)
    assert diff.accuracy_new == pytest.approx(7 / 8)
    md = diff.to_markdown()
    assert "<img" not in md and "&lt;img src=x onerror=alert\\(1\\)&gt; \\| pipe" in md
    assert "New failures: 1" in md


def test_cli_runs_diff(tmp_path, capsys):
    import json

    from audit.cli import main

    store = RunStore(tmp_path)
    old = publish_run(store, wrong={1})
    new = publish_run(store, wrong={1, 2}, drivers=["dull", "zany"])
    capsys.readouterr()
    assert main(["runs", "diff", old.run_id, new.run_id, "--store", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["example_id"] for f in data["new_failures"]] == [2] and data["new_driver_words"] == ["zany"]
    assert main(["runs", "diff", old.run_id, new.run_id, "--store", str(tmp_path)]) == 0
    assert "New failures: 1" in capsys.readouterr().out
    assert main(["runs", "diff", old.run_id, "nope", "--store", str(tmp_path)]) == 7


def test_accuracy_delta_uses_shared_examples_when_datasets_differ(tmp_path):
    from audit.gate import GateConfig, evaluate_gate

    store = RunStore(tmp_path)
    old = publish_run(store, wrong={4, 5, 6, 7})  # 8 texts, accuracy 0.5
    texts = list(BASE_TEXTS[:4]) + [f"a brand new test text number {i}" for i in range(8)]
    new = publish_run(store, wrong={0}, texts=texts)  # 12 texts, accuracy 11/12, but example 0 broke
    diff = diff_runs(old, new)
    assert diff.accuracy_old == pytest.approx(0.5) and diff.accuracy_new == pytest.approx(11 / 12)
    assert diff.accuracy_headline_delta == pytest.approx(11 / 12 - 0.5)
    assert diff.n_matched == 4
    assert (diff.accuracy_matched_old, diff.accuracy_matched_new) == (pytest.approx(1.0), pytest.approx(0.75))
    assert diff.accuracy_delta == pytest.approx(-0.25) and diff.accuracy_drop == pytest.approx(0.25)
    result = evaluate_gate(GateConfig(max_accuracy_drop=0.1, max_completeness_delta=None), {"accuracy": 0.9}, diff)
    assert not result.passed and "accuracy drop" in result.breaches[0]
    assert "| accuracy (4 shared examples, gated) | 100.00% | 75.00% | -25.00 pp |" in diff.to_markdown()


def test_markdown_driver_words_are_escaped_not_code_spans(tmp_path):
    store = RunStore(tmp_path)
    old = publish_run(store, drivers=["dull"])
    new = publish_run(store, drivers=["dull", "a`b", "![](http://x)"])
    md = diff_runs(old, new).to_markdown()
    assert "New confirmed driver words: a\\`b, \\!\\[\\]\\(http://x\\)" in md
    assert "![](" not in md


def test_attack_success_fallback_uses_the_one_definition_with_verified(tmp_path):
    """An old manifest without the metric: recomputed from variants, counting only verified flips."""
    from audit import metrics

    store = RunStore(tmp_path)
    old = publish_run(store, flipped={0, 2})
    tables = make_tables(flipped={0, 2})
    var = tables["variants"].copy()
    var.loc[var["example_id"] == 0, "verified"] = False  # a flip the re-prediction did not confirm
    writer = store.begin("fedcba9876", make_manifest())
    for name, df in {**tables, "variants": var}.items():
        writer.write_table(name, df)
    new = writer.publish(manifest_updates={"metrics": {"accuracy": 0.75}})
    diff = diff_runs(old, new)
    expected = metrics.attack_metrics(var)["attack_success_rate"]
    assert diff.attack_success_rate_new == pytest.approx(expected)
    assert expected == pytest.approx(1 / len(var))  # only example 2's verified flip counts
