"""Explain view model: one text, one model, several attribution methods side by side (Fig. 4/5)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import InputError

log = logging.getLogger(__name__)

ALLOW_ADAPTERS_ENV = "AUDIT_DASHBOARD_ALLOW_ADAPTERS"
"""Set to ``1`` by ``audit dashboard --allow-adapters``: the Explain page then accepts typed
``module:function`` / ``file.py:function`` refs, which import and run code on the server."""

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


def adapters_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """True when typed adapter refs are allowed (``$AUDIT_DASHBOARD_ALLOW_ADAPTERS`` is 1/true/yes/on)."""
    env = os.environ if environ is None else environ
    return env.get(ALLOW_ADAPTERS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def choose_model_ref(
    typed: str | None,
    choice: str | None,
    *,
    run_refs: Sequence[str],
    allow_adapters: bool,
) -> str | None:
    """The model ref the Explain page may pass to ``load_model_ref``, or None when none was given.

    A ref typed into the page is free text from whoever can reach the dashboard, and
    ``load_model_ref`` imports modules / runs ``.py`` files for ``module:function`` refs.
    So a typed ref is accepted only when it is an existing model directory, or one of
    ``run_refs`` (refs named by run manifests, configured by the operator), or when
    ``allow_adapters`` is set (``audit dashboard --allow-adapters``).  A ref picked from
    the list (``choice``) must be one of ``run_refs``.  Raises :class:`InputError` otherwise.
    """
    text = (typed or "").strip()
    if not text:
        if choice is None:
            return None
        if choice not in run_refs:
            raise InputError(f"model {choice!r} is not one named by a run", hint="pick a model from the list")
        return choice
    if text in run_refs or allow_adapters or Path(text).is_dir():
        return text
    if ":" in text:
        raise InputError(
            f"{text!r} is not a model directory; module:function models are disabled here "
            "because loading one runs code on the dashboard's server",
            hint="type a folder made by `audit train`, or start the dashboard with `audit dashboard --allow-adapters`",
        )
    raise InputError(f"no model directory at {text!r}", hint="type a folder made by `audit train`")


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
