"""Regression gate thresholds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from audit.errors import EXIT_CODES, GateFailure
from audit.gate import GateConfig, evaluate_gate
from audit.store import RunStore, diff_runs
from tests.fixtures_runs import publish_run

GOOD = {"accuracy": 0.9, "attack_success_rate": 0.2, "max_completeness_delta": 1e-6}


def _diff(tmp_path, old_wrong, new_wrong):
    store = RunStore(tmp_path)
    return diff_runs(publish_run(store, wrong=old_wrong), publish_run(store, wrong=new_wrong))


def test_all_pass_and_disabled_checks_absent():
    result = evaluate_gate(GateConfig(min_accuracy=0.8, max_attack_success_rate=0.3), GOOD, None)
    assert result.passed and result.breaches == []
    assert [c["name"] for c in result.checks] == ["min_accuracy", "max_attack_success_rate", "max_completeness_delta"]
    result.raise_for_breach()  # no exception


def test_min_accuracy_and_attack_breaches():
    result = evaluate_gate(GateConfig(min_accuracy=0.95, max_attack_success_rate=0.1), GOOD, None)
    assert not result.passed and len(result.breaches) == 2
    assert "min_accuracy" in result.breaches[0] and "0.95" in result.breaches[0]
    with pytest.raises(GateFailure, match="attack success") as info:
        result.raise_for_breach()
    assert info.value.exit_code == 2 == EXIT_CODES["gate_failed"]


def test_completeness_delta_default_threshold():
    result = evaluate_gate(GateConfig(), {**GOOD, "max_completeness_delta": 0.01}, None)
    assert not result.passed and "completeness" in result.breaches[0]


def test_missing_metric_is_a_breach():
    result = evaluate_gate(GateConfig(max_attack_success_rate=0.5, max_completeness_delta=None), {"accuracy": 1.0}, None)
    assert not result.passed and "missing" in result.breaches[0]


def test_diff_checks_skipped_without_previous_run():
    result = evaluate_gate(GateConfig(max_accuracy_drop=0.0, max_new_failures=0), GOOD, None)
    assert result.passed
    assert {c["status"] for c in result.checks if c["name"] != "max_completeness_delta"} == {"skipped"}


def test_accuracy_drop_and_new_failures(tmp_path):
    diff = _diff(tmp_path, {1}, {1, 4, 5})  # accuracy 7/8 -> 5/8, two new failures
    config = GateConfig(max_accuracy_drop=0.25, max_new_failures=2)
    assert evaluate_gate(config, GOOD, diff).passed
    tight = GateConfig(max_accuracy_drop=0.2, max_new_failures=1)
    result = evaluate_gate(tight, GOOD, diff)
    assert not result.passed
    names = {c["name"]: c for c in result.checks}
    assert names["max_accuracy_drop"]["value"] == pytest.approx(0.25)
    assert names["max_new_failures"]["value"] == 2 and names["max_new_failures"]["status"] == "breach"


def test_config_validation():
    with pytest.raises(ValidationError):
        GateConfig(max_accuracy_dropp=0.1)
    with pytest.raises(ValidationError):
        GateConfig(min_accuracy=1.5)
    assert GateConfig.model_validate({"max_new_failures": 3}).max_new_failures == 3


def _driver_diff(tmp_path, old_confirmed, new_confirmed, *, drop_old_table=False):
    store = RunStore(tmp_path)
    old = publish_run(store, confirmed=old_confirmed, drivers=["raw1", "raw2"])
    if drop_old_table:
        (old.path / "driver_stats.parquet").unlink()
    new = publish_run(store, confirmed=new_confirmed, drivers=["raw3", "raw1"])
    return diff_runs(old, new)


def test_new_confirmed_drivers_gate_uses_confirmed_not_raw_top_words(tmp_path):
    diff = _driver_diff(tmp_path, ["dull"], ["dull", "zeroa"])
    assert diff.new_driver_words == ["zeroa"] and diff.confirmed_compared  # raw3 (raw top word) is not news
    cfg = GateConfig(max_new_confirmed_drivers=0)
    result = evaluate_gate(cfg, GOOD, diff)
    assert not result.passed and "max_new_confirmed_drivers" in result.breaches[0]
    assert "new confirmed driver words vs previous run = 1" in result.breaches[0]
    assert evaluate_gate(GateConfig(max_new_confirmed_drivers=1), GOOD, diff).passed


def test_new_confirmed_drivers_gate_skips_without_comparison(tmp_path):
    skipped = evaluate_gate(GateConfig(max_new_confirmed_drivers=0), GOOD, None)
    assert skipped.passed and skipped.checks[0]["status"] == "skipped"
    diff = _driver_diff(tmp_path, ["dull"], ["dull", "zeroa"], drop_old_table=True)
    assert not diff.confirmed_compared and diff.new_driver_words == []
    result = evaluate_gate(GateConfig(max_new_confirmed_drivers=0), GOOD, diff)
    assert result.passed and result.checks[0]["status"] == "skipped" and "driver statistics" in result.checks[0]["message"]


def test_same_confirmed_drivers_pass_and_dropped_listed(tmp_path):
    diff = _driver_diff(tmp_path, ["dull", "flat"], ["dull"])
    assert diff.new_driver_words == [] and diff.dropped_driver_words == ["flat"]
    assert evaluate_gate(GateConfig(max_new_confirmed_drivers=0), GOOD, diff).passed
