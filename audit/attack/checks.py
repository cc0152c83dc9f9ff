"""Validity checks of a single-word swap: each gives evidence ``(passed, value, threshold)``.

A :class:`Check` is a :class:`~audit.attack.constraints.Constraint` that *blocks*: the search
only sends candidates every check of the recipe passed.  Each check can also be asked, for
one ``(sentence, position, substitute)``, for its :class:`CheckResult` -- the evidence stored
with every variant and used to score labelled pairs (:func:`audit.attack.validity.check_swap`).

Position checks (:attr:`Check.scope` ``"position"``) judge the position alone (a name, a
multi-word expression); candidate checks judge one substitute there.  Shared look-ups (word
vectors, the opinion lexicon, the tagger) come from one :class:`Resources`, loaded lazily.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from audit.attack import _nlp
from audit.attack.constraints import Constraint, SwapContext
from audit.nlp.vectors import WordVectors, load_word_vectors

Tagger = Callable[[Sequence[str]], list[str]]


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one swap."""

    name: str
    passed: bool
    value: Any = None
    threshold: Any = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "value": self.value, "threshold": self.threshold}
        if self.detail:
            out["detail"] = self.detail
        return out


class Resources:
    """Lazily loaded look-ups shared by the checks of one recipe (cheap to build)."""

    def __init__(
        self,
        *,
        vectors: WordVectors | None = None,
        vectors_path: str | None = None,
        lexicon: Mapping[str, int] | None = None,
        tagger: Tagger | None = None,
    ) -> None:
        self._vectors = vectors
        self._vectors_path = vectors_path
        self._lexicon = lexicon
        self._tagger = tagger

    @property
    def vectors(self) -> WordVectors:
        if self._vectors is None:
            self._vectors = load_word_vectors(self._vectors_path)
        return self._vectors

    @property
    def lexicon(self) -> Mapping[str, int]:
        if self._lexicon is None:
            self._lexicon = _nlp.opinion_lexicon()
        return self._lexicon

    def tag(self, tokens: Sequence[str]) -> list[str]:
        return self._tagger(tokens) if self._tagger is not None else _nlp.tag(tokens)


class _Memo:
    """A small bounded memo (per check instance)."""

    def __init__(self, size: int = 50000) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self._data:
            return self._data[key]
        value = make()
        self._data[key] = value
        if len(self._data) > self.size:
            self._data.popitem(last=False)
        return value


class Check(Constraint):
    """A blocking validity check.  Subclasses implement :meth:`evaluate`.

    ``declared_exempt``: a declared synonym pair (``extra_synonyms``) passes this check
    without evaluation (it is the user's word that the pair is a synonym).
    """

    name = "check"
    scope: ClassVar[str] = "candidate"
    declared_exempt: ClassVar[bool] = False

    def __init__(self, *, resources: Resources | None = None, declared: Mapping[str, Sequence[str]] | None = None) -> None:
        self.resources = resources or Resources()
        self.declared = {k.lower(): {v.lower() for v in vs} for k, vs in (declared or {}).items()}

    def is_declared(self, original: str, candidate: str | None) -> bool:
        return candidate is not None and candidate.lower() in self.declared.get(original.lower(), set())

    def evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        """Evidence for ``candidate`` at ``ctx.position`` (``None``: the position alone)."""
        if self.declared_exempt and self.is_declared(ctx.word, candidate):
            return CheckResult(self.name, True, "declared pair", None)
        return self._evaluate(ctx, candidate)

    def _evaluate(self, ctx: SwapContext, candidate: str | None) -> CheckResult:
        raise NotImplementedError

    def thresholds(self) -> dict[str, Any]:
        """The check's configured thresholds (recorded in manifests)."""
        return {}

    def allows_position(self, ctx: SwapContext) -> bool:
        return self.evaluate(ctx, None).passed if self.scope == "position" else True

    def filter(self, ctx: SwapContext, candidates: Sequence[str]) -> list[str]:
        if self.scope == "position":
            return list(candidates)
        return [c for c in candidates if self.evaluate(ctx, c).passed]
