"""The statistical tests behind confirmed drivers (vectorised over candidates).

Every function takes arrays of per-candidate counts or per-observation values and
returns arrays, so the driver table tests hundreds of candidates without a Python
loop over texts.

- :func:`fisher_greater`: one-sided Fisher exact test of a 2x2 table
  ``[[a, b], [c, d]]`` (a = errors with the unit, b = correct predictions with it,
  c = errors without, d = correct without), alternative "errors are
  over-represented among texts containing the unit".  Under the null, ``a`` is
  hypergeometric: ``N = a+b+c+d`` texts, ``K = a+c`` errors, ``n = a+b`` texts
  with the unit, so ``p = P(X >= a)``; this is exactly
  ``scipy.stats.fisher_exact(table, alternative="greater")``.
- :func:`bh_qvalues`: Benjamini-Hochberg adjusted p-values (q-values), NaN-aware.
- :func:`mann_whitney_greater`: one-sided Mann-Whitney U test per group
  (normal approximation with tie and continuity corrections, as
  ``scipy.stats.mannwhitneyu(method="asymptotic", alternative="greater")``) with
  the rank-biserial effect size ``r = 2U/(n1 n2) - 1`` (= Cliff's delta).
- :func:`sign_test_greater`: exact one-sided McNemar / sign test on the
  discordant pairs of a paired binary outcome (unit fixes and control does not,
  vs the reverse).
- :func:`wilson_interval`: Wilson score interval of a proportion.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as _st

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

__all__ = ["bh_qvalues", "fisher_greater", "mann_whitney_greater", "sign_test_greater", "wilson_interval"]


def fisher_greater(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """One-sided (greater) Fisher exact p-values of the tables ``[[a, b], [c, d]]`` (elementwise)."""
    a_, b_, c_, d_ = (np.asarray(x, dtype=np.int64) for x in (a, b, c, d))
    if np.any(np.stack(np.broadcast_arrays(a_, b_, c_, d_)) < 0):
        raise ValueError("2x2 table counts must be non-negative")
    total, errors, with_unit = a_ + b_ + c_ + d_, a_ + c_, a_ + b_
    p = _st.hypergeom.sf(a_ - 1, total, errors, with_unit)
    return np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)


def bh_qvalues(p: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg q-values; NaN p-values stay NaN and do not count as tests."""
    p_arr = np.asarray(p, dtype=np.float64)
    q = np.full(p_arr.shape, np.nan, dtype=np.float64)
    ok = ~np.isnan(p_arr)
    m = int(ok.sum())
    if m == 0:
        return q
    vals = p_arr[ok]
    order = np.argsort(vals, kind="mergesort")
    ranked = vals[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.clip(adjusted, 0.0, 1.0)
    q[ok] = out
    return q


def mann_whitney_greater(values: ArrayLike, in_first: ArrayLike, groups: ArrayLike) -> pd.DataFrame:
    """Per group, is the first sample stochastically greater than the second?

    ``values`` are observations, ``in_first`` says which sample each belongs to
    (True: first, e.g. errors), ``groups`` the group (candidate) of each.  Returns
    a frame indexed by group with ``n1``, ``n2``, ``u`` (U of the first sample),
    ``effect`` (rank-biserial ``2U/(n1 n2) - 1``, in [-1, 1]) and ``p``
    (one-sided, normal approximation with tie and continuity corrections).
    Groups with an empty sample get NaN effect and p.
    """
    df = pd.DataFrame({"v": np.asarray(values, dtype=np.float64), "first": np.asarray(in_first, dtype=bool),
                       "g": np.asarray(groups)})
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ("n1", "n2", "u", "effect", "p")})
    df["r"] = df.groupby("g", sort=True)["v"].rank(method="average")
    grouped = df.groupby("g", sort=True)
    n = grouped.size().astype(np.float64)
    n1 = grouped["first"].sum().astype(np.float64)
    n2 = n - n1
    r1 = df[df["first"]].groupby("g", sort=True)["r"].sum().reindex(n.index, fill_value=0.0)
    u = r1 - n1 * (n1 + 1) / 2
    ties = df.groupby(["g", "v"], sort=True).size().astype(np.float64)
    tie_term = (ties ** 3 - ties).groupby(level=0).sum().reindex(n.index, fill_value=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
        z = (u - n1 * n2 / 2.0 - 0.5) / np.sqrt(var)
        p = pd.Series(_st.norm.sf(z.to_numpy()), index=n.index)
        effect = 2.0 * u / (n1 * n2) - 1.0
    empty = (n1 == 0) | (n2 == 0)
    p[empty | (var <= 0)] = np.nan
    p[~empty & (var <= 0)] = 1.0  # all values tied: no evidence either way
    effect[empty] = np.nan
    out = pd.DataFrame({"n1": n1, "n2": n2, "u": u, "effect": effect, "p": p})
    out.index.name = None
    return out


def sign_test_greater(wins: ArrayLike, losses: ArrayLike) -> FloatArray:
    """Exact one-sided McNemar / sign test: ``P(X >= wins)``, ``X ~ Binomial(wins + losses, 1/2)``.

    ``wins``: pairs where only the unit's removal fixes the error; ``losses``:
    pairs where only the control's does.  No discordant pair gives p = 1.
    """
    w, lo = np.asarray(wins, dtype=np.int64), np.asarray(losses, dtype=np.int64)
    if np.any(w < 0) or np.any(lo < 0):
        raise ValueError("pair counts must be non-negative")
    p = _st.binom.sf(w - 1, w + lo, 0.5)
    return np.where(w + lo == 0, 1.0, np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0))


def wilson_interval(k: ArrayLike, n: ArrayLike, *, z: float = 1.959963984540054) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval ``(low, high)`` of ``k`` successes in ``n`` trials (NaN where ``n == 0``)."""
    k_, n_ = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = k_ / n_
        denom = 1 + z * z / n_
        centre = (phat + z * z / (2 * n_)) / denom
        half = z * np.sqrt(phat * (1 - phat) / n_ + z * z / (4 * n_ * n_)) / denom
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    return np.where(n_ > 0, low, np.nan), np.where(n_ > 0, high, np.nan)
