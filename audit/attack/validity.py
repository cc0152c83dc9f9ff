"""Validity evidence of swaps and variants: the strict recipe's checks, asked for their verdicts.

The stable entry point for scoring labelled pairs::

    from audit.attack.validity import check_swap
    ev = check_swap("the film is a mess".split(), 1, "movie")      # tags computed when not given
    ev.valid, ev.checks["closeness"].value, ev.sense, ev.to_dict()

``check_swap`` evaluates *every* check (no short-cut on the first failure), so each
labelled pair gets the full evidence.  :class:`Validator` does the same for a recipe's
checks with shared caches; :meth:`Validator.variant` judges a whole variant (its swaps in
order, each on the text as it stood), skipping the a/an adjustments the search made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.attack.checks import Check, CheckResult, Resources, Tagger
from audit.attack.constraints import SwapContext
from audit.attack.edit import ARTICLES
from audit.attack.registry import ConstraintSpec, build, resolve
from audit.attack.transformation import symmetric_pairs


@dataclass(frozen=True)
class SwapEvidence:
    """Every check's verdict on one swap."""

    position: int
    original: str
    substitute: str
    checks: dict[str, CheckResult]
    declared: bool = False

    @property
    def valid(self) -> bool:
        """Passed every check."""
        return all(r.passed for r in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.checks.items() if not r.passed]

    @property
    def sense(self) -> str | None:
        r = self.checks.get("sense")
        return None if r is None or not isinstance(r.value, str) or r.value == "declared pair" else r.value

    @property
    def cosine(self) -> float | None:
        r = self.checks.get("closeness")
        return r.value if r is not None and isinstance(r.value, float) else None

    def _zipf(self, key: str) -> float | None:
        r = self.checks.get("naturalness")
        return r.value.get(key) if r is not None and isinstance(r.value, dict) else None

    @property
    def zipf_original(self) -> float | None:
        return self._zipf("zipf_original")

    @property
    def zipf_substitute(self) -> float | None:
        return self._zipf("zipf_substitute")

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position, "original": self.original, "substitute": self.substitute,
            "valid": self.valid, "declared": self.declared, "failed": self.failed,
            "checks": {n: r.to_dict() for n, r in self.checks.items()},
            "sense": self.sense, "cosine": self.cosine,
            "zipf_original": self.zipf_original, "zipf_substitute": self.zipf_substitute,
        }


@dataclass(frozen=True)
class VariantEvidence:
    """Evidence of every word swap of a variant (a/an adjustments are not judged)."""

    swaps: list[SwapEvidence] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.swaps) and all(s.valid for s in self.swaps)

    @property
    def declared(self) -> bool:
        return any(s.declared for s in self.swaps)

    def to_dict(self) -> dict[str, Any]:
        """The ``variants.evidence`` JSON: per check ``{passed, value, threshold}`` over the swaps
        (passed = every swap passed; value/threshold of the first failing swap, else the first swap),
        plus ``sense``, ``cosine``, ``zipf_original``, ``zipf_substitute`` (first swap; cosine and
        Zipf of the substitute: the lowest) and ``swaps`` (full per-swap evidence)."""
        checks: dict[str, Any] = {}
        for s in self.swaps:
            for name, r in s.checks.items():
                if name not in checks or (checks[name]["passed"] and not r.passed):
                    checks[name] = r.to_dict()
                else:
                    checks[name] = {**checks[name], "passed": checks[name]["passed"] and r.passed}
        cosines = [s.cosine for s in self.swaps if s.cosine is not None]
        zsubs = [s.zipf_substitute for s in self.swaps if s.zipf_substitute is not None]
        first = self.swaps[0] if self.swaps else None
        return {
            "valid": self.valid, "declared": self.declared, "checks": checks,
            "sense": first.sense if first else None,
            "cosine": min(cosines) if cosines else None,
            "zipf_original": first.zipf_original if first else None,
            "zipf_substitute": min(zsubs) if zsubs else None,
            "swaps": [s.to_dict() for s in self.swaps],
        }


class Validator:
    """Evaluates a list of checks on swaps (caches live in the checks; cheap to build)."""

    def __init__(self, checks: Sequence[Check], *, declared: Mapping[str, Sequence[str]] | None = None,
                 resources: Resources | None = None) -> None:
        self.checks = list(checks)
        self.declared = symmetric_pairs(declared or {})
        self.resources = resources or Resources()

    def swap(self, tokens: Sequence[str], position: int, substitute: str, *, tags: Sequence[str] | None = None,
             original: Sequence[str] | None = None) -> SwapEvidence:
        toks = tuple(tokens)
        tag_t = tuple(tags) if tags is not None else tuple(self.resources.tag(toks))
        ctx = SwapContext(tokens=toks, tags=tag_t, position=position, original=tuple(original or toks))
        results = {c.name: c.evaluate(ctx, substitute) for c in self.checks}
        declared = substitute.lower() in self.declared.get(toks[position].lower(), ())
        return SwapEvidence(position, toks[position], substitute, results, declared)

    def variant(self, original: Sequence[str], swaps: Sequence[Mapping[str, Any]], *,
                tags: Sequence[str] | None = None) -> VariantEvidence:
        """Judge ``swaps`` (dicts with position, original, replacement) applied in order to ``original``.

        ``tags``: PTB tags of ``original``, used for every swap (driver probes); None re-tags the
        text before each swap, as the search does each round."""
        current = list(original)
        given = list(tags) if tags is not None and len(tags) == len(current) else None
        out: list[SwapEvidence] = []
        for s in swaps:
            i, old, new = int(s["position"]), str(s["original"]), str(s["replacement"])
            if old.lower() in ARTICLES and new.lower() in ARTICLES:
                current[i] = new  # an a/an adjustment made with the next word's swap
                continue
            # given tags are the original's; otherwise the text is re-tagged as it stands (like the search)
            tag_list = given if given is not None else self.resources.tag(current)
            out.append(self.swap(current, i, new, tags=tag_list, original=original))
            current[i] = new
        return VariantEvidence(out)


def strict_validator(
    *,
    constraints: Sequence[ConstraintSpec | Mapping[str, Any]] = (),
    extra_synonyms: Mapping[str, Sequence[str]] | None = None,
    resources: Resources | None = None,
) -> Validator:
    """The strict recipe's checks (built-ins only; ``constraints`` adjust their thresholds)."""
    specs = [s if isinstance(s, ConstraintSpec) else ConstraintSpec.model_validate(dict(s)) for s in constraints]
    res = resources or Resources()
    declared = symmetric_pairs(extra_synonyms or {})
    items = [(n, p) for n, p in resolve("strict", specs) if ":" not in n]
    checks = [c for c in build(items, resources=res, declared=declared) if isinstance(c, Check)]
    return Validator(checks, declared=declared, resources=res)


_DEFAULT: dict[str, Validator] = {}


def check_swap(
    tokens: Sequence[str],
    position: int,
    substitute: str,
    *,
    tags: Sequence[str] | None = None,
    validator: Validator | None = None,
    tagger: Tagger | None = None,
) -> SwapEvidence:
    """Every strict check's evidence for replacing ``tokens[position]`` by ``substitute``.

    ``tags``: PTB tags of ``tokens`` (computed with NLTK's tagger, or ``tagger``, when None).
    ``validator``: custom thresholds (:func:`strict_validator`); default: the strict defaults.
    """
    if validator is None:
        if "default" not in _DEFAULT:
            _DEFAULT["default"] = strict_validator()
        validator = _DEFAULT["default"]
    if tags is None and tagger is not None:
        tags = tagger(list(tokens))
    return validator.swap(tokens, position, substitute, tags=tags)
