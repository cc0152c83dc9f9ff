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
    oov: tuple[bool, ...] = ()
    labels: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    segments: dict[str, tuple[tuple[str, float], ...]] | None = None

    def units(self, level: str = "word") -> tuple[list[str], list[float]]:
        """Units and scores at ``level`` (``word``, or ``phrase``/``clause`` when computed)."""
        if level == "word":
            return list(self.tokens), list(self.scores)
        found = (self.segments or {}).get(level, ())
        return [t for t, _ in found], [s for _, s in found]


UNSIGNED_METHODS: frozenset[str] = frozenset({"vanilla_grad"})
"""Methods whose scores are magnitudes (gradient norms), not signed contributions."""
UNSIGNED_NOTE = (
    "{names} is unsigned: its scores are gradient magnitudes (always >= 0), not contributions toward or "
    "against the class, so its colours only say how much a word matters, not in which direction."
)
UNKNOWN_WARN_SHARE = 0.3
"""Warn when at least this share of the tokens is out of the model's vocabulary."""


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


def explain_methods(
    model: Any,
    text: str,
    *,
    methods: Sequence[str],
    target: int | str | None = None,
    levels: Sequence[str] = (),
) -> list[MethodResult]:
    """Run :func:`audit.attribution.explain` for each method on ``text``.

    ``target`` (index or label; default the predicted class) is the class the scores are toward;
    ``levels`` adds ``phrase``/``clause`` units (sums of word scores).
    Raises :class:`~audit.errors.InputError` for an empty or unusable text or a bad target.
    """
    from audit.attribution import explain

    out = []
    wanted = tuple(lv for lv in levels if lv != "word")
    for method in methods:
        exp = explain(model, text, method=method, target=target, levels=wanted)
        segments = None
        if exp.hierarchy is not None:
            segments = {lv: tuple((str(seg.text), float(seg.score)) for seg in segs)
                        for lv, segs in exp.hierarchy.levels.items()}
        out.append(
            MethodResult(
                method=method,
                tokens=[str(t) for t in exp.tokens],
                scores=[float(s) for s in exp.scores],
                prediction=str(exp.label),
                confidence=float(exp.confidence),
                target=str(exp.target_label),
                completeness_delta=_opt_float(exp.completeness_delta),
                oov=tuple(bool(o) for o in exp.oov),
                labels=tuple(str(lab) for lab in exp.labels),
                probabilities=tuple(float(p) for p in exp.probabilities),
                segments=segments,
            )
        )
    return out


def unknown_share(result: MethodResult) -> float:
    """Share of the text's tokens the model does not know (0 when not recorded)."""
    return sum(result.oov) / len(result.oov) if result.oov else 0.0


def unknown_warning(result: MethodResult, *, threshold: float = UNKNOWN_WARN_SHARE) -> str | None:
    """A warning when many tokens are unknown to the model (its prediction then says little), else None."""
    share = unknown_share(result)
    if share < threshold:
        return None
    unknown = [t for t, o in zip(result.tokens, result.oov) if o]
    shown = ", ".join(repr(t) for t in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
    return (f"{share:.0%} of the tokens ({len(unknown)} of {len(result.oov)}) are unknown to this model: {shown}. "
            "It reads them all as the same unknown-word vector, so this prediction and its scores say little "
            "about the text.")


def unsigned_note(methods: Sequence[str]) -> str | None:
    """The note on unsigned methods among ``methods``, or None."""
    names = [METHOD_TITLES.get(m, m) for m in methods if m in UNSIGNED_METHODS]
    return UNSIGNED_NOTE.format(names=" and ".join(names)) if names else None


def method_agreement(results: Sequence[MethodResult], *, level: str = "word") -> pd.DataFrame:
    """Spearman rank correlation of every pair of methods' scores at ``level`` (NaN when undefined)."""
    rows = []
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            sa, sb = pd.Series(a.units(level)[1], dtype=float), pd.Series(b.units(level)[1], dtype=float)
            rho = _spearman(sa, sb)
            rows.append({"method_a": METHOD_TITLES.get(a.method, a.method),
                         "method_b": METHOD_TITLES.get(b.method, b.method), "spearman": rho})
    return pd.DataFrame(rows, columns=["method_a", "method_b", "spearman"])


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho: Pearson correlation of the average ranks (ties share a rank); NaN if undefined."""
    if len(a) < 2 or len(a) != len(b):
        return float("nan")
    ra, rb = a.rank(method="average"), b.rank(method="average")
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(ra.corr(rb))


def example_text(predictions: pd.DataFrame | None, example: tuple[str, int] | None) -> str | None:
    """The text of ``example`` (dataset, id) in a run's predictions, or None."""
    if predictions is None or example is None:
        return None
    rows = predictions[(predictions["dataset"].astype(str) == example[0])
                       & (predictions["example_id"].astype(int) == example[1])]
    return None if rows.empty else str(rows.iloc[0]["text"])


def scores_frame(results: Sequence[MethodResult], *, level: str = "word") -> pd.DataFrame:
    """Unit-by-method score table (one column per method), in text order."""
    if not results:
        return pd.DataFrame(columns=["position", "token"])
    units = results[0].units(level)[0]
    frame = pd.DataFrame({"position": range(len(units)), "token": units})
    for r in results:
        frame[r.method] = r.units(level)[1]
    return frame


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
