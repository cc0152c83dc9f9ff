"""The hierarchical attribution example (paper Fig. 6): word, phrase and clause levels.

REAT scores toward the model's predicted class are grouped by
:func:`audit.attribution.hierarchy.build`; since REAT phrase scores are exact
span sums, each segment's score is the sum of its word scores.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np
import pandas as pd

from audit.models.base import AuditModel

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ("word", "phrase", "clause")


def _segments(h: Any, level: str) -> list[Any]:
    levels = getattr(h, "levels", None)
    if isinstance(levels, dict):
        return list(levels[level])
    return list(getattr(h, level))


def example(model: AuditModel, text: str, *, batch_size: int = 1) -> dict[str, Any]:
    """Tokens, prediction and the three levels of segments for ``text``."""
    from audit.attribution import hierarchy
    from audit.evaluation.sections import predict, reat_matrix

    tokens = model.tokenize(text)
    probs = predict(model, [tokens], batch_size=batch_size)[0]
    pred = int(probs.argmax())
    scores = reat_matrix(model, [tokens], batch_size=batch_size)[0][:, pred]
    h = hierarchy.build(tokens, scores)
    levels = {
        level: [
            {"text": s.text, "start": int(s.start), "end": int(s.end), "score": float(s.score)}
            for s in _segments(h, level)
        ]
        for level in LEVELS
    }
    return {
        "text": text,
        "tokens": tokens,
        "pred": pred,
        "label": model.labels[pred] if pred < len(model.labels) else str(pred),
        "prob": float(probs[pred]),
        "word_scores": [float(x) for x in np.asarray(scores)],
        "levels": levels,
    }


def cells(ex: dict[str, Any]) -> pd.DataFrame:
    """One row per (level, token): the score of the segment the token belongs to (for the heatmap chart)."""
    rows = []
    for level in LEVELS:
        for seg in ex["levels"][level]:
            for pos in range(seg["start"], seg["end"]):
                rows.append(
                    {
                        "level": level,
                        "position": pos,
                        "token": ex["tokens"][pos],
                        "score": seg["score"],
                        "segment": seg["text"],
                    }
                )
    return pd.DataFrame(rows, columns=["level", "position", "token", "score", "segment"])


def fragment_html(ex: dict[str, Any], *, model_name: str) -> str:
    """An HTML fragment with one heatmap per level (segments as units), all dataset text escaped."""
    from audit.attribution import render

    head = f"<h2>{html.escape(model_name)}: predicted {html.escape(str(ex['label']))} ({100 * ex['prob']:.2f}%)</h2>\n"
    parts = [head]
    for level in LEVELS:
        segs = ex["levels"][level]
        parts.append(
            render.heatmap_html(
                [s["text"] for s in segs], np.asarray([s["score"] for s in segs]), title=f"{level} level"
            )
        )
    return "\n".join(parts)


def page_html(examples: dict[str, dict[str, Any]], *, title: str) -> str:
    """A standalone page with every model's fragment."""
    body = "\n<hr>\n".join(fragment_html(ex, model_name=name) for name, ex in examples.items())
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n"
        "<p>Green: toward the predicted class; red: against. Scores are REAT segment scores "
        "(sums of word scores over the segment).</p>\n"
        f"{body}\n</body></html>\n"
    )
