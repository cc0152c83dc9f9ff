"""Options of the findings stage (the ``findings:`` block of ``configs/nightly.yaml``).

Defaults and why:

- ``min_texts: 20`` -- a candidate is tested only when at least 20 texts contain
  it.  Giskard's scan skips slices under 20 samples; below that an error rate
  moves by 5 points per text and no FDR-controlled test has power anyway.
- ``min_errors: 5`` -- and at least 5 misclassified texts contain it (Giskard's
  ``counts > 5`` mask; SliceLine's ``min_sup`` of 10/32 is for larger tables).
  It is also the smallest count that can pass the paired fix-rate test: the
  exact one-sided sign test needs 5 discordant pairs for ``p < 0.05``
  (``0.5**5 = 0.031``).
- ``fdr_q: 0.05`` -- Benjamini-Hochberg level for every family of tests (lift,
  attribution contrast, counterfactual fix rate vs control).
- ``top_k: 3`` -- a unit is a "top contributor" of an error when it is among its
  3 highest-scoring words (or phrases) toward the predicted class.
- ``reason_min_delta: 0.05`` -- a failure reason is *verified* when removing it
  alone fixes the error or raises the gold class's probability by 5 points;
  smaller moves are within what removing any filler word does.
- ``max_fix_words: 5`` -- the minimal fix set is searched among the 5
  highest-scoring words; larger sets rewrite most of a short SST-2 text.
- ``max_error_texts: 50000`` -- the counterfactual tests, failure reasons and
  minimal fixes hold every tested error's tokens and ~20-30 re-predicted
  variants of it (a few KB each); above 50,000 errors (a 1M-text run with a
  5% error rate) a seeded sample of 50,000 is tested instead, so that memory
  and the re-prediction time stop growing with N.  Support, lift and contrast
  still count every text exactly; the manifest's ``findings_sample`` says
  whether the cap bound.  ``null`` tests every error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FindingsConfig(BaseModel):
    """Driver statistics, failure reasons and minimal fixes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(default=3, ge=1, description="Top contributors per misclassified text (words, phrases, "
                       "clauses): the failure reasons, and the errors tested counterfactually for a driver")
    top_words: int = Field(default=20, ge=1, description="Unconfirmed candidate drivers listed in the report")
    words_only: bool = Field(default=True, description="Leave punctuation out of the raw driver-word ranking "
                             "(driver_words); driver_stats tests every token and marks punctuation")
    min_texts: int = Field(default=20, ge=1, description="Support floor: texts containing a candidate")
    min_errors: int = Field(default=5, ge=1, description="Support floor: misclassified texts containing a candidate")
    fdr_q: float = Field(default=0.05, gt=0, lt=1, description="Benjamini-Hochberg level of every test family")
    phrases: bool = Field(default=True, description="Also test REAT phrase spans (segments of level phrase)")
    reason_min_delta: float = Field(default=0.05, ge=0, le=1, description="A failure reason is verified when "
                                    "removing it alone fixes the error or raises the gold probability this much")
    max_fix_words: int = Field(default=5, ge=1, description="Largest REAT-ranked word set tried as a minimal fix")
    cf_batch_size: int = Field(default=256, ge=1, description="Texts per forward pass when re-predicting variants")
    max_error_texts: int | None = Field(default=50_000, ge=1, description="Errors whose counterfactuals are "
                                        "built (driver fix rates, failure reasons, minimal fixes); above it a "
                                        "sample seeded by the run's seed (null: every error)")
