"""REAT attribution: word, phrase and clause scores for GRU/LSTM classifiers.

Public API::

    reat_scores(rnn, head, embeddings, lengths, *, naive=False) -> Tensor (B, T, C)
    reat_logits_check(rnn, head, embeddings, lengths, *, scores=None, naive=False) -> Tensor (B, C)
    span_scores(word_scores, spans) -> scores per span
    Attribution, AttributionMethod, get_method(name, **options), METHODS
    explain(model, text, *, method="reat", target=None, levels=...) -> Explanation
"""

from __future__ import annotations

from audit.attribution._reat import completeness_gap, reat_logits_check, reat_scores
from audit.attribution._spans import span_scores
from audit.attribution.hierarchy import Hierarchy, Segment
from audit.attribution.methods import METHODS, Attribution, AttributionMethod, get_method
from audit.attribution.explain import Explanation, explain  # rebinds `explain` to the function

__all__ = [
    "METHODS",
    "Attribution",
    "AttributionMethod",
    "Explanation",
    "Hierarchy",
    "Segment",
    "completeness_gap",
    "explain",
    "get_method",
    "reat_logits_check",
    "reat_scores",
    "span_scores",
]

