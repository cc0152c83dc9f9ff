"""Shared by the run report's sections: the headline rows, cell formatting, escaping, heatmaps.

Every piece of dataset text is escaped: ``html.escape`` in HTML (with every control
character replaced by U+FFFD, :data:`_CONTROLS`), :func:`audit._markdown.md_escape`
in Markdown.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from audit._markdown import md_escape

_METRICS = (("accuracy", "Accuracy", True), ("n_examples", "Examples", False), ("n_errors", "Errors", False),
            ("attack_success_rate", "Attack success rate", True),
            ("attack_success_rate_valid", "Attack success rate (strict-valid)", True),
            ("attack_success_rate_constrained", "Attack success rate (constrained)", True),
            ("mean_queries", "Mean queries per attack", False),
            ("n_confirmed_drivers", "Confirmed driver words", False),
            ("max_completeness_delta", "Max REAT completeness delta", False))


def _heatmap(tokens: Sequence[str], scores: Sequence[float], *, title: str | None = None) -> str:
    try:
        from audit.attribution.render import heatmap_html
    except ImportError:  # attribution package not importable: a local, escaped fallback
        cells = "".join(f'<span title="{s:+.4f}" style="background:{"#f4a582" if s > 0 else "#92c5de"}">'
                        f"{html.escape(t)}</span> " for t, s in zip(tokens, scores))
        return (f"<div><b>{html.escape(title)}</b></div>" if title else "") + f"<div>{cells}</div>"
    return heatmap_html(list(tokens), [float(s) for s in scores], title=title)


_md = md_escape
# control characters never reach a report (the readers refuse them in texts; this covers every other field)
_CONTROLS = {c: "\ufffd" for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))}


def _html_escape(text: str) -> str:
    return html.escape(text).translate(_CONTROLS)


def _fmt(value: Any, pct: bool) -> str:
    if value is None:
        return "n/a"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if pct:
        return f"{v * 100:.2f}%"
    return f"{v:.3g}" if not v.is_integer() else str(int(v))


def _label(labels: Sequence[str], index: Any) -> str:
    try:
        i = int(index)
    except (TypeError, ValueError):
        return str(index)
    return labels[i] if 0 <= i < len(labels) else str(i)


def _swaps(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return [dict(s) for s in (raw or [])]
