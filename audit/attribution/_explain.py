"""Explain one raw text end to end: tokens, prediction, word scores and the hierarchy."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.attribution.hierarchy import LEVELS, Hierarchy, build
from audit.attribution.methods import AttributionMethod, get_method
from audit.errors import InputError
from audit.models.base import AuditModel

log = logging.getLogger(__name__)


@dataclass
class Explanation:
    """Everything the CLI, the HTML page and the dashboard show for one text."""

    text: str
    tokens: list[str]
    oov: list[bool]
    scores: np.ndarray  # (T,) toward target
    prediction: int
    label: str
    probabilities: np.ndarray  # (C,)
    labels: tuple[str, ...]
    target: int
    target_label: str
    logit: float | None
    bias: float | None
    completeness_delta: float | None
    method: str
    hierarchy: Hierarchy | None

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.prediction])

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "oov": self.oov,
            "scores": [float(s) for s in self.scores],
            "prediction": self.prediction,
            "label": self.label,
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, self.probabilities)},
            "target": self.target,
            "target_label": self.target_label,
            "logit": self.logit,
            "bias": self.bias,
            "completeness_delta": self.completeness_delta,
            "method": self.method,
            "levels": self.hierarchy.to_dict() if self.hierarchy is not None else {},
        }


def resolve_target(target: int | str | None, labels: Sequence[str]) -> int | None:
    """A class index from an index, a label name or a numeric string; InputError if unknown."""
    if target is None:
        return None
    if isinstance(target, str):
        if target in labels:
            return list(labels).index(target)
        try:
            target = int(target)
        except ValueError:
            raise InputError(f"unknown target class {target!r}", hint=f"use one of {', '.join(labels)} or 0..{len(labels) - 1}") from None
    if isinstance(target, bool) or not 0 <= int(target) < len(labels):
        raise InputError(f"target class {target!r} is out of range", hint=f"use one of {', '.join(labels)} or 0..{len(labels) - 1}")
    return int(target)


def explain(
    model: AuditModel,
    text: str,
    *,
    method: str | AttributionMethod = "reat",
    target: int | str | None = None,
    levels: Sequence[str] = LEVELS,
    method_options: dict[str, Any] | None = None,
) -> Explanation:
    """Explain ``model``'s prediction on raw ``text``.

    ``target`` (index or label; default the predicted class) is the class the scores are toward.
    ``levels`` picks hierarchy levels (``word``, ``phrase``, ``clause``); phrase and clause scores
    are sums of word scores (exact for REAT, the paper's rule for the other methods).
    Raises :class:`InputError` on an empty text or a bad target.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("the text is empty", hint="pass a non-empty --text")
    tokens = model.tokenize(text)
    if not tokens:
        raise InputError("the text has no tokens after tokenization", hint="pass a text with words in it")
    target_index = resolve_target(target, model.labels)
    if len(model.labels) != model.num_classes:
        raise InputError(f"the model has {model.num_classes} classes but {len(model.labels)} labels")
    attributor = method if isinstance(method, AttributionMethod) else get_method(method, **(method_options or {}))
    enc = model.encode_tokens([tokens])
    oov = enc.oov[0]
    if all(oov):
        log.warning("every token of the text is out of the model's vocabulary; scores describe <unk> only")
    probs = model.predict_proba_tokens([tokens])[0].double().cpu().numpy()
    prediction = int(np.argmax(probs))
    attribution = attributor.attribute(model, [tokens], targets=None if target_index is None else [target_index])[0]
    hierarchy = build(tokens, attribution.scores, levels=levels) if levels else None
    return Explanation(
        text=text,
        tokens=list(tokens),
        oov=list(oov),
        scores=attribution.scores,
        prediction=prediction,
        label=model.labels[prediction],
        probabilities=probs,
        labels=tuple(model.labels),
        target=attribution.target,
        target_label=model.labels[attribution.target],
        logit=attribution.logit,
        bias=attribution.bias,
        completeness_delta=attribution.completeness_delta,
        method=attributor.name,
        hierarchy=hierarchy,
    )


__all__ = ["Explanation", "explain", "resolve_target"]
