"""Phrase (span) scores from word scores.

By the telescoping argument of REAT (Eq. 14/16/20/22), the score of a phrase ``x_q..x_r``
equals the sum of its words' scores, for every direction and architecture.  So a phrase
score never needs a second pass over the RNN; the same sum is the paper's rule for the
word-level baselines (section 4.3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from audit.errors import InputError

Span = tuple[int, int]


def validate_spans(spans: Sequence[Span], length: int) -> None:
    """Raise :class:`InputError` unless every ``(start, end)`` satisfies ``0 <= start < end <= length``."""
    for start, end in spans:
        if not (0 <= start < end <= length):
            raise InputError(f"span ({start}, {end}) is not inside [0, {length}] or is empty (end is exclusive)")


def span_scores(word_scores: torch.Tensor | np.ndarray, spans: Sequence[Span]) -> torch.Tensor | np.ndarray:
    """Scores of ``spans`` (end exclusive) from word scores.

    ``word_scores`` is ``(T,)``, ``(T, C)`` or ``(B, T, C)`` (time is dim 0 unless 3-D, then dim 1);
    the result has the time dim replaced by ``len(spans)``.  Uses one cumulative sum.
    """
    time_dim = 1 if word_scores.ndim == 3 else 0
    length = word_scores.shape[time_dim]
    validate_spans(spans, length)
    starts = [s for s, _ in spans]
    ends = [e for _, e in spans]
    if isinstance(word_scores, np.ndarray):
        pad_shape = list(word_scores.shape)
        pad_shape[time_dim] = 1
        csum_np = np.concatenate(
            [np.zeros(pad_shape, dtype=word_scores.dtype), np.cumsum(word_scores, axis=time_dim)], axis=time_dim
        )
        return np.take(csum_np, ends, axis=time_dim) - np.take(csum_np, starts, axis=time_dim)
    pad_shape = list(word_scores.shape)
    pad_shape[time_dim] = 1
    zeros = torch.zeros(pad_shape, dtype=word_scores.dtype, device=word_scores.device)
    csum = torch.cat([zeros, word_scores.cumsum(time_dim)], dim=time_dim)
    idx_end = torch.tensor(ends, dtype=torch.long, device=word_scores.device)
    idx_start = torch.tensor(starts, dtype=torch.long, device=word_scores.device)
    return csum.index_select(time_dim, idx_end) - csum.index_select(time_dim, idx_start)
