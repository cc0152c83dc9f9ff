"""``audit suite run`` compares by label name, not index (issue 10 item 4.7)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from audit.errors import DataError
from audit.export.suite import Provenance, Suite, SuiteCase, SuiteManifest, run_suite
from audit.models.base import AuditModel, RecurrentClassifier


def _suite(labels: list[str], cases: list[tuple[list[str], int]]) -> Suite:
    return Suite(
        manifest=SuiteManifest(created_at="", run_id="r", labels=labels),
        cases=[SuiteCase(case_id=f"c{i}", original=" ".join(t), variant=" ".join(t), tokens=t, expect_label=y,
                         expect_label_name=None, provenance=Provenance(run_id="r", dataset="d", example_id=i))
               for i, (t, y) in enumerate(cases)],
    )


def _three_class(model: AuditModel, order: tuple[str, ...]) -> AuditModel:
    """``model`` with a third class that never wins, its classes in ``order``."""
    m = copy.deepcopy(model)
    old = m.module.head
    head = nn.Linear(old.in_features, 3)
    with torch.no_grad():
        for i, name in enumerate(order):
            if name in model.labels:
                j = model.labels.index(name)
                head.weight[i], head.bias[i] = old.weight[j], old.bias[j]
            else:
                head.weight[i].zero_()
                head.bias[i] = -1e4
    m.module = RecurrentClassifier(m.module.embedding, m.module.rnn, head)
    m.labels = order
    return m


CASES = [(["the", "movie", "is", "great"], 1), (["a", "dull", "film"], 0), (["the", "plot", "was", "bad"], 1)]


def test_suite_is_compared_by_label_name(tiny_model: AuditModel) -> None:
    suite = _suite(["negative", "positive"], CASES)
    two = run_suite(suite, tiny_model)
    three = run_suite(suite, _three_class(tiny_model, ("neutral", "positive", "negative")))
    assert [r.passed for r in three.results] == [r.passed for r in two.results]
    assert two.n_failed == 1 and [r.expected for r in three.results] == [1, 2, 1]


def test_suite_with_labels_the_model_lacks_is_refused(tiny_model: AuditModel) -> None:
    suite = _suite(["bad", "good"], CASES)
    with pytest.raises(DataError) as info:
        run_suite(suite, tiny_model)
    assert "['bad', 'good']" in str(info.value) and "['negative', 'positive']" in str(info.value)
    unnamed = _suite([], [(["a", "film"], 2)])
    with pytest.raises(DataError, match="expects class 2 but the model has 2 labels"):
        run_suite(unnamed, tiny_model)
