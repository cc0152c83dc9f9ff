"""The findings stage in one call: driver statistics, failure reasons, minimal fixes.

:func:`analyze` builds every counterfactual variant the three tables need
(driver fix rates and matched controls, each reason's removal, each minimal-fix
prefix, the unchanged failures), predicts them in ONE batched pass
(:class:`~audit.findings.counterfactual.VariantBatch`), and assembles the tables.
:func:`driver_statistics` and :func:`failure_reasons` run one half each.

The statistics accept any attribution method's token scores: ``token_scores``
is a table shaped like ``token_attributions`` (``score_pred`` = score toward the
predicted class); :func:`token_scores_table` builds one from a method's
:class:`~audit.attribution.Attribution` list.  Everything is deterministic: ties
are broken by position, rank and unit text, and no step samples.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.findings._inputs import build_inputs
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch
from audit.findings.drivers import finish_driver_stats, plan_driver_variants
from audit.findings.reasons import failure_drivers, finish_reasons, plan_reasons
from audit.models.base import AuditModel

log = logging.getLogger(__name__)

__all__ = ["Findings", "analyze", "default_stopwords", "driver_statistics", "failure_reasons", "token_scores_table"]


@dataclass(frozen=True)
class Findings:
    """The findings tables of one run, and how many distinct variants were re-predicted."""

    driver_stats: pd.DataFrame
    failure_drivers: pd.DataFrame
    minimal_fixes: pd.DataFrame
    n_variants: int


def default_stopwords() -> frozenset[str]:
    """NLTK's English stopword list (raises ResourceMissingError naming ``audit data fetch`` when absent)."""
    from audit.nlp.lexicons import stopwords

    return stopwords()


def _config(config: FindingsConfig | None) -> FindingsConfig:
    return config if config is not None else FindingsConfig()


def analyze(predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None, *,
            model: AuditModel, config: FindingsConfig | None = None, stopwords: Collection[str] | None = None,
            reasons: bool = True, drivers: bool = True) -> Findings:
    """All findings tables from one batched re-prediction (see the module docstring).

    ``reasons`` / ``drivers`` switch either half off (its tables are then empty).
    Failure reasons are ranked from ``token_scores`` and ``segments``' ``score_pred``.
    """
    from audit.store.schemas import DRIVER_STATS, FAILURE_DRIVERS, MINIMAL_FIXES, empty_table

    cfg = _config(config)
    stops = default_stopwords() if stopwords is None else frozenset(stopwords)
    inp = build_inputs(predictions, token_scores, segments, top_k=cfg.top_k, stopwords=stops)
    batch = VariantBatch()
    dplan = plan_driver_variants(inp, cfg, batch) if drivers else None
    rplan = None
    if reasons:
        segs = segments if segments is not None else pd.DataFrame(
            columns=["example_id", "dataset", "level", "start", "end", "text", "score_pred"])
        ranked = failure_drivers(predictions, token_scores, segs, top_k=cfg.top_k, levels=("word", "phrase", "clause"),
                                 exclude_whole_text=True)
        rplan = plan_reasons(inp, ranked, cfg, batch)
    probs = batch.predict(model, batch_size=cfg.cf_batch_size) if len(batch) else np.zeros((0, model.num_classes))
    log.info("findings: re-predicted %d counterfactual variants in one batch", len(batch))
    stats = finish_driver_stats(dplan, probs) if dplan is not None else empty_table(DRIVER_STATS)
    if rplan is not None:
        fdrivers, fixes = finish_reasons(rplan, probs, min_delta=cfg.reason_min_delta)
    else:
        fdrivers, fixes = empty_table(FAILURE_DRIVERS), empty_table(MINIMAL_FIXES)
    return Findings(driver_stats=stats, failure_drivers=fdrivers, minimal_fixes=fixes, n_variants=len(batch))


def driver_statistics(predictions: pd.DataFrame, token_scores: pd.DataFrame, *, model: AuditModel,
                      config: FindingsConfig | None = None, segments: pd.DataFrame | None = None,
                      stopwords: Collection[str] | None = None) -> pd.DataFrame:
    """The ``driver_stats`` table for any attribution method's ``token_scores`` (phrases when ``segments`` given)."""
    return analyze(predictions, token_scores, segments, model=model, config=config, stopwords=stopwords,
                   reasons=False).driver_stats


def failure_reasons(predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None, *,
                    model: AuditModel, config: FindingsConfig | None = None,
                    stopwords: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(failure_drivers, minimal_fixes)``: each failure's top reasons with their verified effect."""
    found = analyze(predictions, token_scores, segments, model=model, config=config, stopwords=stopwords,
                    drivers=False)
    return found.failure_drivers, found.minimal_fixes


def token_scores_table(predictions: pd.DataFrame, attributions: Sequence[Any]) -> pd.DataFrame:
    """A ``token_attributions``-shaped table (dataset, example_id, position, token, score_pred) from one
    attribution method's results, one :class:`~audit.attribution.Attribution` per row of ``predictions``
    (same order), each computed toward that row's predicted class."""
    if len(attributions) != len(predictions):
        raise ValueError(f"{len(attributions)} attributions for {len(predictions)} predictions")
    ds: list[Any] = []
    ex: list[int] = []
    pos: list[int] = []
    tok: list[str] = []
    score: list[float] = []
    for (d, e), a in zip(predictions[["dataset", "example_id"]].itertuples(index=False), attributions, strict=True):
        n = len(a.tokens)
        ds.extend([d] * n)
        ex.extend([int(e)] * n)
        pos.extend(range(n))
        tok.extend(a.tokens)
        score.extend(np.asarray(a.scores, dtype=np.float64).tolist())
    return pd.DataFrame({"example_id": np.asarray(ex, dtype=np.int64), "dataset": ds,
                         "position": np.asarray(pos, dtype=np.int64), "token": tok,
                         "score_pred": np.asarray(score, dtype=np.float64)})
