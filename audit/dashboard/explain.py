"""Explain view model: one text, one model, several attribution methods side by side (Fig. 4/5)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

METHOD_TITLES: dict[str, str] = {
    "reat": "REAT",
    "naive_reat": "NaiveREAT",
    "vanilla_grad": "VanillaGrad",
    "integrated_gradients": "InteGrad",
    "grad_input": "GradInput",
    "lime": "LIME",
}


@dataclass(frozen=True)
class MethodResult:
    """One method's explanation of the text, ready to display."""

    method: str
    tokens: list[str]
    scores: list[float]
    prediction: str
    confidence: float
    target: str
    completeness_delta: float | None


def available_methods() -> list[str]:
    """Names of the registered attribution methods (REAT first)."""
    from audit.attribution import METHODS

    names = list(METHODS)
    return sorted(names, key=lambda n: (n != "reat", list(METHOD_TITLES).index(n) if n in METHOD_TITLES else 99))


def model_refs(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """Distinct model refs named by run manifests, newest run first."""
    seen: list[str] = []
    for m in manifests:
        ref = m.get("model_ref")
        if ref and str(ref) not in seen:
            seen.append(str(ref))
    return seen


def explain_methods(model: Any, text: str, *, methods: Sequence[str], target: int | None = None) -> list[MethodResult]:
    """Run :func:`audit.attribution.explain` for each method on ``text``.

    Raises :class:`~audit.errors.InputError` for an empty or unusable text.
    """
    from audit.attribution import explain

    out = []
    for method in methods:
        exp = explain(model, text, method=method, target=target, levels=())
        out.append(
            MethodResult(
                method=method,
                tokens=[str(t) for t in exp.tokens],
                scores=[float(s) for s in exp.scores],
                prediction=str(exp.label),
                confidence=float(exp.confidence),
                target=str(exp.target_label),
                completeness_delta=_opt_float(exp.completeness_delta),
            )
        )
    return out


def scores_frame(results: Sequence[MethodResult]) -> pd.DataFrame:
    """Token-by-method score table (one column per method), in token order."""
    if not results:
        return pd.DataFrame(columns=["position", "token"])
    frame = pd.DataFrame({"position": range(len(results[0].tokens)), "token": results[0].tokens})
    for r in results:
        frame[r.method] = r.scores
    return frame


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
