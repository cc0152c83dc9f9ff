"""Escaped HTML fragments for the dashboard. Every dataset text goes through :func:`html.escape`."""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence

HIGHLIGHT_STYLE = "background:#fde68a;border-radius:3px;padding:0 2px;font-weight:600"


def text_block(text: str) -> str:
    """A dataset text as an escaped, wrapped HTML block."""
    return f'<div class="audit-text" style="white-space:pre-wrap">{html.escape(str(text))}</div>'


def highlight_tokens(tokens: Sequence[str], positions: Collection[int], *, style: str = HIGHLIGHT_STYLE) -> str:
    """Tokens joined by spaces, the ones at ``positions`` highlighted; every token escaped."""
    parts = []
    for i, tok in enumerate(tokens):
        esc = html.escape(str(tok))
        parts.append(f'<mark style="{style}">{esc}</mark>' if i in positions else esc)
    return '<div class="audit-text">' + " ".join(parts) + "</div>"


def heatmap(tokens: Sequence[str], scores: Sequence[float], *, title: str | None = None) -> str:
    """REAT heatmap fragment (green positive, red negative, centred at zero).

    Delegates to :func:`audit.attribution.render.heatmap_html`, which escapes
    every token and the title.
    """
    from audit.attribution.render import heatmap_html

    return heatmap_html(list(tokens), [float(s) for s in scores], title=title)
