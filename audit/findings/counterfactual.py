"""Counterfactual variants of token lists, re-predicted in one batched pass.

A variant is a text with some positions removed (``remove``) or replaced by the
model's unknown token (``unk``, :data:`audit.data.vocab.UNK`).  A removal that
would leave nothing keeps a single ``<unk>`` so the model still sees a text.

:class:`VariantBatch` collects every variant a findings stage needs (driver
fix rates, matched controls, failure reasons, minimal-fix prefixes), drops
duplicates (the same token list is predicted once), and predicts them all with
:meth:`VariantBatch.predict`: one pass over the deduplicated list in chunks of
``batch_size`` texts, sorted by length so padding stays small.  The model is
any :class:`~audit.models.base.AuditModel`; the predictions are plain forward
passes (no attribution).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt
import torch

from audit.data.vocab import UNK
from audit.models.base import AuditModel

__all__ = ["MODES", "VariantBatch", "make_variant"]

MODES = ("remove", "unk")


def make_variant(tokens: Sequence[str], positions: Collection[int], *, mode: str = "remove") -> tuple[str, ...]:
    """``tokens`` with ``positions`` removed (``mode="remove"``) or set to ``<unk>`` (``mode="unk"``)."""
    drop = set(positions)
    if mode == "remove":
        out = tuple(t for i, t in enumerate(tokens) if i not in drop)
        return out if out else (UNK,)
    if mode == "unk":
        return tuple(UNK if i in drop else t for i, t in enumerate(tokens))
    raise ValueError(f"unknown variant mode {mode!r} (expected one of {', '.join(MODES)})")


class VariantBatch:
    """Deduplicated token lists to re-predict together (cheap to build; :meth:`predict` runs the model)."""

    def __init__(self) -> None:
        self._index: dict[tuple[str, ...], int] = {}
        self._texts: list[tuple[str, ...]] = []
        self._probs: npt.NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, tokens: Sequence[str]) -> int:
        """Register a token list; returns its row in :attr:`probs` (the same row for an identical list)."""
        if self._probs is not None:
            raise RuntimeError("variants cannot be added after predict()")
        key = tuple(tokens) if tokens else (UNK,)
        row = self._index.get(key)
        if row is None:
            row = self._index[key] = len(self._texts)
            self._texts.append(key)
        return row

    def add_variant(self, tokens: Sequence[str], positions: Collection[int], *, mode: str = "remove") -> int:
        """Shorthand for ``add(make_variant(tokens, positions, mode=mode))``."""
        return self.add(make_variant(tokens, positions, mode=mode))

    def predict(self, model: AuditModel, *, batch_size: int = 256) -> npt.NDArray[np.float64]:
        """Class probabilities ``(len(self), C)`` of every registered list (computed once)."""
        if self._probs is None:
            n, c = len(self._texts), model.num_classes
            probs = np.zeros((n, c), dtype=np.float64)
            order = sorted(range(n), key=lambda i: len(self._texts[i]))
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                with torch.inference_mode():
                    out = model.predict_proba_tokens([list(self._texts[i]) for i in rows])
                probs[rows] = out.double().numpy()
            self._probs = probs
        return self._probs

    @property
    def probs(self) -> npt.NDArray[np.float64]:
        if self._probs is None:
            raise RuntimeError("call predict() first")
        return self._probs
