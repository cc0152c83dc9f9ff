"""Regression gate: thresholds on a run's metrics and its diff against the previous run.

A breach is not a malfunction of the tool: callers turn a failed
:class:`GateResult` into :class:`~audit.errors.GateFailure` (exit code 2)
with :meth:`GateResult.raise_for_breach`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audit.errors import GateFailure
from audit.store.diff import RunDiff


class GateConfig(BaseModel):
    """Thresholds; ``None`` disables a check."""

    model_config = ConfigDict(extra="forbid")

    max_accuracy_drop: float | None = Field(default=None, ge=0, description="absolute drop vs previous run (0.01 = 1 pp)")
    max_attack_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_new_failures: int | None = Field(default=None, ge=0)
    max_new_confirmed_drivers: int | None = Field(
        default=None, ge=0, description="confirmed driver words (driver_stats) not confirmed in the previous run")
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    max_completeness_delta: float | None = Field(default=1e-3, ge=0, description="REAT exactness: |sum(scores)+bias-logit|")


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: bool
    breaches: list[str]
    checks: list[dict[str, Any]]

    def to_manifest(self) -> dict[str, Any]:
        """The ``gate`` entry of a run manifest."""
        return {"passed": self.passed, "breaches": list(self.breaches), "checks": list(self.checks)}

    def raise_for_breach(self) -> None:
        """Raise :class:`GateFailure` (exit code 2) when a threshold was breached."""
        if not self.passed:
            raise GateFailure("regression gate failed: " + "; ".join(self.breaches),
                              hint="inspect the run report / `audit runs diff`, or adjust the thresholds")


def _value(metrics: dict[str, Any], name: str) -> float | None:
    raw = metrics.get(name)
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def evaluate_gate(config: GateConfig, metrics: dict[str, Any], diff: RunDiff | None) -> GateResult:
    """Check every configured threshold.

    A configured threshold whose metric is missing (or NaN) is a breach: a CI
    gate must not pass silently because a stage produced nothing.  Checks that
    need a previous run (accuracy drop, new failures, new confirmed drivers) are
    *skipped* when ``diff`` is None (first run of a model); new confirmed drivers
    are also skipped when a run predates driver statistics.
    """
    checks: list[dict[str, Any]] = []

    def check(name: str, threshold: float | None, value: float | None, ok: bool | None, what: str) -> None:
        if threshold is None:
            return
        if ok is None:
            status, message = "skipped", f"{name}: skipped ({what})"
        elif value is None:
            status, message = "breach", f"{name}: metric missing ({what})"
        else:
            status = "pass" if ok else "breach"
            message = f"{name}: {what} = {value:.6g} (threshold {threshold:g})"
        checks.append({"name": name, "threshold": threshold, "value": value, "status": status,
                       "passed": status != "breach", "message": message})

    acc = _value(metrics, "accuracy")
    if config.min_accuracy is not None:
        check("min_accuracy", config.min_accuracy, acc, acc is not None and acc >= config.min_accuracy, "accuracy")
    if config.max_accuracy_drop is not None:
        if diff is None:
            check("max_accuracy_drop", config.max_accuracy_drop, None, None, "no previous run to compare with")
        else:
            drop = diff.accuracy_drop
            check("max_accuracy_drop", config.max_accuracy_drop, drop,
                  drop is not None and drop <= config.max_accuracy_drop + 1e-12, "accuracy drop vs previous run")
    if config.max_attack_success_rate is not None:
        asr = _value(metrics, "attack_success_rate")
        check("max_attack_success_rate", config.max_attack_success_rate, asr,
              asr is not None and asr <= config.max_attack_success_rate, "attack success rate")
    if config.max_new_failures is not None:
        if diff is None:
            check("max_new_failures", config.max_new_failures, None, None, "no previous run to compare with")
        else:
            n_new = diff.new_failure_count  # exact: the listed rows are capped (MAX_LISTED_FAILURES)
            check("max_new_failures", config.max_new_failures, float(n_new), n_new <= config.max_new_failures,
                  "new failures vs previous run")
    if config.max_new_confirmed_drivers is not None:
        if diff is None:
            check("max_new_confirmed_drivers", config.max_new_confirmed_drivers, None, None,
                  "no previous run to compare with")
        elif not diff.confirmed_compared:
            check("max_new_confirmed_drivers", config.max_new_confirmed_drivers, None, None,
                  "a run has no driver statistics")
        else:
            n_drv = len(diff.new_driver_words)
            check("max_new_confirmed_drivers", config.max_new_confirmed_drivers, float(n_drv),
                  n_drv <= config.max_new_confirmed_drivers, "new confirmed driver words vs previous run")
    if config.max_completeness_delta is not None:
        delta = _value(metrics, "max_completeness_delta")
        check("max_completeness_delta", config.max_completeness_delta, delta,
              delta is not None and delta <= config.max_completeness_delta, "max REAT completeness delta")
    breaches = [c["message"] for c in checks if c["status"] == "breach"]
    return GateResult(passed=not breaches, breaches=breaches, checks=checks)
