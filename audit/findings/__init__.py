"""Findings users can trust: driver statistics, counterfactual fix rates, failure reasons.

Public API (method-agnostic: ``token_scores`` is any attribution method's token table)::

    from audit.findings import analyze, driver_statistics, failure_reasons, confirmed_drivers, FindingsConfig
    found = analyze(predictions, token_attributions, segments, model=model, config=FindingsConfig())
    found.driver_stats, found.failure_drivers, found.minimal_fixes
    driver_statistics(predictions, token_scores, model=model, config=cfg, segments=segments)
    confirmed_drivers(found.driver_stats)   # JSON-ready list in rank order

Modules: stats.py (tests), counterfactual.py (variants, one batch), association.py (run-wide support,
lift, contrast), drivers.py (driver_stats), reasons.py (failure_drivers, minimal_fixes), analyze.py
(the stage), config.py (FindingsConfig).
"""

from audit.findings.analyze import Findings, analyze, driver_statistics, failure_reasons, token_scores_table
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch, make_variant
from audit.findings.drivers import ALL, confirmed_drivers

__all__ = ["ALL", "Findings", "FindingsConfig", "VariantBatch", "analyze", "confirmed_drivers", "driver_statistics",
           "failure_reasons", "make_variant", "token_scores_table"]
