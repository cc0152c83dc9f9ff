"""Escaped HTML fragments for the dashboard. Every dataset text goes through :func:`html.escape`.

Heatmaps here follow the dashboard's one sign convention (:data:`SIGN_TITLES`): a positive
score pushes **toward the predicted class** unless the page's switch says "toward the true
class".  Colours come from a diverging :data:`PALETTES` entry (colour-blind-safe blue/orange by
default, the paper's green/red as an option), scaled by a ``peak`` the page shares between all
heatmaps it shows, with a legend (:func:`legend`) and every score printed under its unit.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.dashboard.findings import Reason

HIGHLIGHT_STYLE = "background:#fde68a;border-radius:3px;padding:0 2px;font-weight:600"

PALETTES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue-orange (colour-blind safe)": ((33, 102, 172), (230, 97, 1)),
    "green-red (the paper's)": ((22, 163, 74), (220, 38, 38)),
}
"""Palette name -> (colour of positive scores, colour of negative scores)."""
DEFAULT_PALETTE = next(iter(PALETTES))

SIGN_TITLES: dict[str, str] = {
    "pred": "toward the predicted class",
    "gold": "toward the true class",
}
"""The sign convention: what a positive score means, per score column (``score_pred`` / ``score_gold``)."""
SIGN_NOTE = (
    "Sign convention: a positive score pushes toward the predicted class, a negative one away from it "
    "(switch to 'toward the true class' to see what argued for the right answer)."
)


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


def highlight_word(text: str, word: str) -> str:
    """``text`` (split on whitespace) with every token equal to ``word`` (case-insensitive) highlighted."""
    tokens = str(text).split()
    return highlight_tokens(tokens, {i for i, t in enumerate(tokens) if t.lower() == word.lower()})


def shared_peak(score_lists: Iterable[Sequence[float]]) -> float:
    """The largest |score| over every list (the shared colour scale of a page); 1.0 when all are 0/empty."""
    peak = 0.0
    for scores in score_lists:
        for s in scores:
            if not math.isnan(float(s)):
                peak = max(peak, abs(float(s)))
    return peak if peak > 0 else 1.0


def colour(value: float, *, peak: float, palette: str = DEFAULT_PALETTE) -> str:
    """CSS ``rgba`` of a score on the diverging scale [-peak, +peak]."""
    pos, neg = PALETTES[palette]
    v = 0.0 if math.isnan(value) or peak <= 0 else max(-1.0, min(1.0, value / peak))
    r, g, b = pos if v >= 0 else neg
    return f"rgba({r},{g},{b},{abs(v):.3f})"


def heatmap(
    tokens: Sequence[str],
    scores: Sequence[float],
    *,
    title: str | None = None,
    peak: float | None = None,
    palette: str = DEFAULT_PALETTE,
    show_scores: bool = True,
) -> str:
    """A heatmap fragment: one box per unit, background by score on [-peak, peak], score printed below.

    ``peak`` defaults to this text's max |score|; pass :func:`shared_peak` of every heatmap on a
    page so equal colours mean equal scores.
    """
    if len(tokens) != len(scores):
        raise ValueError(f"{len(tokens)} tokens but {len(scores)} scores")
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; palettes: {', '.join(PALETTES)}")
    top = shared_peak([scores]) if peak is None else float(peak)
    parts = ['<div class="reat-heatmap" style="line-height:1.3;font-family:sans-serif">']
    if title:
        parts.append(f'<div class="reat-title" style="font-weight:600;margin-bottom:2px">{html.escape(title)}</div>')
    for tok, score in zip(tokens, scores):
        value = float(score)
        label = html.escape(f"{value:+.3f}", quote=True)
        ink = "#fff" if top > 0 and abs(value) / top > 0.6 else "inherit"  # readable on the darkest cells
        box = (f'<span class="reat-token" title="{label}" style="background:{colour(value, peak=top, palette=palette)};'
               f'color:{ink};padding:2px 4px;border-radius:3px">{html.escape(str(tok))}</span>')
        below = f'<br><small class="reat-score" style="color:#555;font-size:0.7em">{label}</small>' if show_scores else ""
        parts.append(f'<span class="reat-unit" style="display:inline-block;text-align:center;margin:2px 1px;'
                     f'vertical-align:top">{box}{below}</span> ')
    parts.append("</div>")
    return "".join(parts)


def legend(*, peak: float, palette: str = DEFAULT_PALETTE, sign: str = "pred", toward: str | None = None) -> str:
    """Colour legend of :func:`heatmap`: a gradient from -peak to +peak with what each side means.

    ``toward`` overrides the meaning of a positive score (e.g. "toward class positive" when the
    page explains another class than the predicted one).
    """
    pos, neg = PALETTES[palette]
    toward = toward or SIGN_TITLES[sign]
    gradient = f"linear-gradient(to right, rgba({neg[0]},{neg[1]},{neg[2]},1), rgba(255,255,255,0), " \
               f"rgba({pos[0]},{pos[1]},{pos[2]},1))"
    return (
        '<div class="reat-legend" style="font-family:sans-serif;font-size:0.8em;max-width:520px">'
        f'<div style="height:12px;border:1px solid #ccc;border-radius:3px;background:{gradient}"></div>'
        '<div style="display:flex;justify-content:space-between">'
        f"<span>{-peak:+.3f} against</span><span>0</span><span>{peak:+.3f} {html.escape(toward)}</span>"
        "</div></div>"
    )


def reasons_html(reasons: Sequence[Reason], *, max_chars: int = 60) -> str:
    """The reasons of one failure as chips: unit, kind, score, and the removal verdict when tested.

    Verified reasons (removing the unit alone makes the prediction right) get a check mark and
    the change of p(gold); tested ones that do not fix it a cross; untested ones neither.
    Units longer than ``max_chars`` (whole clauses) are shortened; the full text is in the tooltip.
    """
    chips = []
    for r in reasons:
        if r.fixes_error is True:
            mark, style = "&#10004; ", "background:#dcfce7;border:1px solid #16a34a"
        elif r.fixes_error is False:
            mark, style = "&#10008; ", "background:#f3f4f6;border:1px solid #d1d5db"
        else:
            mark, style = "", "background:#f3f4f6;border:1px solid #e5e7eb"
        delta = f", p(gold) {r.delta_prob_gold:+.2f}" if r.delta_prob_gold is not None else ""
        unit = r.text if len(r.text) <= max_chars else r.text[: max_chars - 1] + "…"
        chips.append(f'<span class="audit-reason" title="{html.escape(r.verdict + ": " + r.text, quote=True)}" '
                     f'style="{style};border-radius:10px;padding:1px 8px;margin:2px;display:inline-block;'
                     f'font-size:0.9em">{mark}<b>{html.escape(unit)}</b> '
                     f'<span style="color:#555">{html.escape(r.kind)} {r.score:+.3f}{html.escape(delta)}</span></span>')
    tested = any(r.fixes_error is not None for r in reasons)
    key = ('<div style="font-size:0.8em;color:#555">&#10004; removing it alone makes the prediction right '
           "&middot; &#10008; it does not &middot; p(gold): change of the true label's probability</div>"
           if tested else "")
    return (f'<div class="audit-reasons">Top reasons (REAT score toward the prediction):<br>{"".join(chips)}'
            f"{key}</div>")
