"""The driver statistics against hand-computed values (and scipy's reference implementations)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy import stats as st

from audit.findings.stats import bh_qvalues, fisher_greater, mann_whitney_greater, sign_test_greater, wilson_interval


def test_fisher_one_sided_matches_hand_computed_hypergeometric_tail() -> None:
    # [[3, 1], [1, 3]]: 8 texts, 4 errors, 4 with the word, 3 of them errors.
    # P(X >= 3) = (C(4,3) C(4,1) + C(4,4) C(4,0)) / C(8,4) = 17/70
    p = fisher_greater([3, 5, 0], [1, 0, 4], [1, 0, 4], [3, 5, 0])
    assert p[0] == pytest.approx(17 / 70)
    assert p[1] == pytest.approx(1 / comb(10, 5))  # the most extreme table
    assert p[2] == pytest.approx(1.0)  # no error contains the word
    for a, b, c, d in [(3, 1, 1, 3), (7, 20, 30, 400), (2, 50, 10, 90)]:
        ref = st.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
        assert fisher_greater([a], [b], [c], [d])[0] == pytest.approx(ref)


def test_fisher_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        fisher_greater([-1], [1], [1], [1])


def test_bh_qvalues_hand_computed_with_nan_skipped() -> None:
    # sorted p 0.01 0.03 0.04 0.5 -> p*m/i = 0.04 0.06 0.0533 0.5 -> running min from the top
    q = bh_qvalues([0.01, 0.04, 0.03, 0.5])
    assert q == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    q = bh_qvalues([np.nan, 0.01, 0.02])  # NaN is not a test: m = 2
    assert np.isnan(q[0]) and q[1:] == pytest.approx([0.02, 0.02])
    assert bh_qvalues([]).shape == (0,)


def test_sign_test_is_the_exact_binomial_tail() -> None:
    p = sign_test_greater([5, 4, 0, 0, 3], [0, 1, 0, 3, 3])
    assert p[0] == pytest.approx(1 / 32)  # 5 wins of 5 discordant pairs
    assert p[1] == pytest.approx(6 / 32)  # P(X >= 4 | n=5) = (5 + 1)/32
    assert p[2] == 1.0  # no discordant pair: no evidence
    assert p[3] == pytest.approx(1.0)
    assert p[4] == pytest.approx(sum(comb(6, k) for k in range(3, 7)) / 64)


def test_mann_whitney_per_group_matches_hand_values_and_scipy() -> None:
    # group "a": errors [3, 4, 5] vs correct [1, 2]: U = 6 (every pair), effect 1,
    # z = (6 - 3 - 0.5) / sqrt(3*2/12 * 6)
    # group "b" with ties: errors [1, 2, 2] vs correct [2, 3]: U = 0.5 + 0.5 = 1, effect 2*1/6 - 1
    values = [3, 4, 5, 1, 2, 1, 2, 2, 2, 3]
    first = [True, True, True, False, False, True, True, True, False, False]
    groups = ["a"] * 5 + ["b"] * 5
    out = mann_whitney_greater(values, first, groups)
    assert out.loc["a", "u"] == 6 and out.loc["a", "effect"] == pytest.approx(1.0)
    assert out.loc["a", "p"] == pytest.approx(st.norm.sf(2.5 / np.sqrt(3.0)))
    assert out.loc["b", "u"] == 1 and out.loc["b", "effect"] == pytest.approx(-2 / 3)
    for g, x, y in (("a", [3, 4, 5], [1, 2]), ("b", [1, 2, 2], [2, 3])):
        ref = st.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True).pvalue
        assert out.loc[g, "p"] == pytest.approx(ref)


def test_mann_whitney_empty_sample_and_all_ties() -> None:
    out = mann_whitney_greater([1.0, 2.0, 5.0, 5.0], [True, True, True, False], ["x", "x", "y", "y"])
    assert np.isnan(out.loc["x", "p"]) and np.isnan(out.loc["x", "effect"])  # no correct text
    assert out.loc["y", "p"] == 1.0 and out.loc["y", "effect"] == 0.0  # all tied


def test_wilson_interval_hand_value() -> None:
    low, high = wilson_interval([5, 0], [10, 0])
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert np.isnan(low[1]) and np.isnan(high[1])
