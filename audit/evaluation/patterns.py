"""Linguistic patterns (paper section 4.7, Fig. 7).

Every test token gets its REAT score toward its text's predicted class and its
PTB tag (verb forms merged into ``VB``).  Per tag we keep the box statistics of
:func:`audit.engine.pos_stats.pos_stats` (quartiles, Tukey whiskers, so the
outliers the paper omits are not drawn), rank tags by median, and check the
paper's claims:

* RBS has the highest median on every architecture,
* JJ ranks high (top third),
* NN has a near-zero median (within 5 % of the spread of all tag medians),
* GRU and LSTM rank tags alike while BiGRU differs (Spearman correlation of
  the median rankings).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.engine.pos_stats import merge_verbs, pos_stats

log = logging.getLogger(__name__)


def token_table(
    tokens: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], scores: Sequence[np.ndarray]
) -> pd.DataFrame:
    """One row per token: example_id, position, token, pos (PTB, verbs merged), score_pred."""
    rows: list[tuple[int, int, str, str, float]] = []
    for i, (toks, tg, sc) in enumerate(zip(tokens, tags, scores)):
        if not (len(toks) == len(tg) == len(sc)):
            raise ValueError(f"text #{i}: {len(toks)} tokens, {len(tg)} tags, {len(sc)} scores")
        rows.extend((i, j, t, merge_verbs(g), float(s)) for j, (t, g, s) in enumerate(zip(toks, tg, sc)))
    return pd.DataFrame(rows, columns=["example_id", "position", "token", "pos", "score_pred"])


def tag_stats(table: pd.DataFrame, *, min_count: int = 1, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """Box statistics per tag ranked by median (highest first), with ``rank`` and ``plotted`` columns.

    Tags with fewer than ``min_count`` tokens, or in ``exclude``, are kept in the
    table but get no rank and ``plotted=False``.
    """
    stats = pos_stats(table)
    plotted = (stats["n"] >= min_count) & ~stats["pos"].isin(list(exclude))
    stats["plotted"] = plotted.to_numpy()
    ranks = np.full(len(stats), np.nan)
    ranks[plotted.to_numpy()] = np.arange(1, int(plotted.sum()) + 1)
    stats["rank"] = ranks
    return stats


def spearman(a: pd.Series, b: pd.Series) -> tuple[float, int]:
    """Spearman rank correlation of two tag -> median series over their common tags, and that count."""
    common = a.index.intersection(b.index)
    if len(common) < 3:
        return float("nan"), len(common)
    ra = a.loc[common].rank()
    rb = b.loc[common].rank()
    return float(np.corrcoef(ra.to_numpy(), rb.to_numpy())[0, 1]), len(common)


def medians(stats: pd.DataFrame) -> pd.Series:
    """Median per plotted tag."""
    ranked = stats[stats["plotted"]]
    return pd.Series(ranked["median"].to_numpy(), index=ranked["pos"].to_numpy(), dtype=float)


def check_findings(stats_by_model: dict[str, pd.DataFrame], *, bidirectional: Sequence[str] = ()) -> dict[str, object]:
    """Test the paper's section 4.7 claims on our statistics. Returns a JSON-able dict of checks."""
    checks: dict[str, object] = {}
    per_model: dict[str, dict[str, object]] = {}
    for name, stats in stats_by_model.items():
        ranked = stats[stats["plotted"]].reset_index(drop=True)
        k = len(ranked)
        med = medians(stats)
        spread = float(med.max() - med.min()) if k else float("nan")

        def rank_of(tag: str, _ranked: pd.DataFrame = ranked) -> int | None:
            hit = _ranked.index[_ranked["pos"] == tag]
            return int(hit[0]) + 1 if len(hit) else None

        rbs, jj, nn = rank_of("RBS"), rank_of("JJ"), rank_of("NN")
        counts = dict(zip(stats["pos"], stats["n"]))
        nn_median = float(med["NN"]) if "NN" in med.index else None
        per_model[name] = {
            "n_tags_ranked": k,
            "top_tags": ranked["pos"].head(5).tolist(),
            "rbs_rank": rbs,
            "rbs_n": int(counts.get("RBS", 0)),
            "rbs_median": float(stats.loc[stats["pos"] == "RBS", "median"].iloc[0]) if "RBS" in counts else None,
            "rbs_highest": rbs == 1,
            "jj_rank": jj,
            "jj_top_third": jj is not None and jj <= max(1, int(np.ceil(k / 3))),
            "nn_rank": nn,
            "nn_median": nn_median,
            "median_spread": spread,
            "nn_near_zero": nn_median is not None and abs(nn_median) <= 0.05 * spread,
        }
    checks["per_model"] = per_model
    names = list(stats_by_model)
    corr: dict[str, dict[str, float | int]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rho, n = spearman(medians(stats_by_model[a]), medians(stats_by_model[b]))
            corr[f"{a}~{b}"] = {"spearman": rho, "n_tags": n}
    checks["spearman"] = corr
    uni = [n for n in names if n not in bidirectional]
    bi = [n for n in names if n in bidirectional]
    if len(uni) >= 2 and bi:
        same = [
            corr.get(f"{a}~{b}", corr.get(f"{b}~{a}", {})).get("spearman")
            for i, a in enumerate(uni)
            for b in uni[i + 1 :]
        ]
        cross = [corr.get(f"{a}~{b}", corr.get(f"{b}~{a}", {})).get("spearman") for a in uni for b in bi]
        same_v = [float(x) for x in same if x is not None and not np.isnan(x)]
        cross_v = [float(x) for x in cross if x is not None and not np.isnan(x)]
        if same_v and cross_v:
            checks["unidirectional_alike_bidirectional_differs"] = bool(min(same_v) > max(cross_v))
            checks["mean_rho_unidirectional"] = float(np.mean(same_v))
            checks["mean_rho_cross"] = float(np.mean(cross_v))
    return checks
