"""Heatmaps of token scores: HTML (escaped) and rich terminal text.

Colours are centred at zero: green for positive contributions, red for negative, with the
intensity proportional to ``|score| / max |score|``.  Every piece of text is ``html.escape``d.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_GREEN = (22, 163, 74)
_RED = (220, 38, 38)


def _intensities(scores: Sequence[float] | np.ndarray, peak: float | None = None) -> np.ndarray:
    """Scores divided by ``peak`` (default: max |score|), so in ``[-1, 1]``; zeros when all are 0."""
    values = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    if peak is None:
        peak = float(np.abs(values).max()) if values.size else 0.0
    return np.clip(values / peak, -1.0, 1.0) if peak > 0 else np.zeros_like(values)


def colour(value: float) -> str:
    """CSS ``rgba`` for a relative score in ``[-1, 1]`` (green positive, red negative)."""
    r, g, b = _GREEN if value >= 0 else _RED
    return f"rgba({r},{g},{b},{min(abs(value), 1.0):.3f})"


def heatmap_html(tokens: Sequence[str], scores: Sequence[float] | np.ndarray, *, title: str | None = None) -> str:
    """An HTML fragment: one ``<span>`` per token, background by score, score in the tooltip."""
    if len(tokens) != len(scores):
        raise ValueError(f"{len(tokens)} tokens but {len(scores)} scores")
    rel = _intensities(scores)
    parts = ['<div class="reat-heatmap" style="line-height:2;font-family:sans-serif">']
    if title:
        parts.append(f'<div class="reat-title" style="font-weight:bold">{html.escape(title)}</div>')
    for tok, score, r in zip(tokens, np.asarray(scores, dtype=np.float64), rel):
        parts.append(
            f'<span class="reat-token" title="{html.escape(f"{score:+.4f}", quote=True)}" '
            f'style="background:{colour(float(r))};padding:2px 3px;margin:1px;border-radius:3px">'
            f"{html.escape(tok)}</span> "  # the space lets long texts wrap between tokens
        )
    parts.append("</div>")
    return "".join(parts)


def segments_table_html(segments: Sequence[Any], *, title: str) -> str:
    """An HTML table of segments (objects with ``text``, ``start``, ``end``, ``score``)."""
    rel = _intensities([s.score for s in segments])
    rows = "".join(
        f'<tr><td style="background:{colour(float(r))}">{html.escape(s.text)}</td>'
        f"<td>{s.start}&ndash;{s.end}</td><td>{s.score:+.4f}</td></tr>"
        for s, r in zip(segments, rel)
    )
    return (
        f"<h3>{html.escape(title)}</h3><table><thead><tr><th>text</th><th>tokens</th><th>score</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def page_html(
    tokens: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    *,
    title: str = "REAT explanation",
    summary: str | None = None,
    levels: Mapping[str, Sequence[Any]] | None = None,
) -> str:
    """A self-contained HTML page: heatmap, optional summary line and one table per level."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if summary:
        body.append(f"<p>{html.escape(summary)}</p>")
    body.append(heatmap_html(tokens, scores))
    for name, segs in (levels or {}).items():
        if name != "word":
            body.append(segments_table_html(segs, title=f"{name} level"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def heatmap_rich(tokens: Sequence[str], scores: Sequence[float] | np.ndarray, *, peak: float | None = None) -> Any:
    """A ``rich.text.Text`` heatmap (token backgrounds green/red by score / ``peak``, default max |score|)."""
    from rich.text import Text

    text = Text()
    for i, (tok, r) in enumerate(zip(tokens, _intensities(scores, peak))):
        base = _GREEN if r >= 0 else _RED
        a = min(abs(float(r)), 1.0)
        rgb = tuple(int(round(255 - (255 - c) * a)) for c in base)  # blend with white
        style = f"black on rgb({rgb[0]},{rgb[1]},{rgb[2]})"
        if i:
            text.append(" ")
        text.append(tok, style=style)
    return text
