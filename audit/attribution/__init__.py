"""REAT attribution: word, phrase and clause scores for GRU/LSTM classifiers.

Public API::

    reat_scores(rnn, head, embeddings, lengths, *, naive=False) -> Tensor (B, T, C)
    reat_logits_check(rnn, head, embeddings, lengths, *, scores=None, naive=False) -> Tensor (B, C)
    reat_scores_differentiable(rnn, head, embeddings, lengths) -> Tensor (B, T, C), with gradients (training losses)
    span_scores(word_scores, spans) -> scores per span
    trace(rnn, embeddings) -> Trace (per-step states of one text in the autograd graph; cell_step)
    Attribution, AttributionMethod, get_method(name, **options), METHODS
    explain(model, text, *, method="reat", target=None, levels=...) -> Explanation
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports only inform type checkers; names resolve lazily)
from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import attach

_EXPORTS = {
    "completeness_gap": "audit.attribution._reat",
    "reat_logits_check": "audit.attribution._reat",
    "reat_scores": "audit.attribution._reat",
    "reat_scores_differentiable": "audit.attribution._reat_autograd",
    "Trace": "audit.attribution._trace",
    "cell_step": "audit.attribution._trace",
    "trace": "audit.attribution._trace",
    "span_scores": "audit.attribution._spans",
    "Hierarchy": "audit.attribution.hierarchy",
    "Segment": "audit.attribution.hierarchy",
    "METHODS": "audit.attribution.methods",
    "Attribution": "audit.attribution.methods",
    "AttributionMethod": "audit.attribution.methods",
    "get_method": "audit.attribution.methods",
    "Explanation": "audit.attribution._explain",
    "explain": "audit.attribution._explain",
}
__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from audit.attribution._explain import Explanation, explain
    from audit.attribution._reat import completeness_gap, reat_logits_check, reat_scores
    from audit.attribution._reat_autograd import reat_scores_differentiable
    from audit.attribution._spans import span_scores
    from audit.attribution._trace import Trace, cell_step, trace
    from audit.attribution.hierarchy import Hierarchy, Segment
    from audit.attribution.methods import METHODS, Attribution, AttributionMethod, get_method
