"""The driver sections of the run report: confirmed drivers with evidence, candidates, verified reasons.

Confirmed drivers (``driver_stats``, pooled scope) come first with their evidence:
support, lift and its q-value, attribution contrast and its q-value, the
counterfactual fix rate (Wilson 95% interval) against the matched control and
the paired test's q-value.  With none, the report says so in one plain
sentence; a run without ``driver_stats`` (made before the findings stage) says
they were not computed.  Unconfirmed candidates follow in their own, labelled section.
Every dataset string is escaped (Markdown via ``md_escape``, HTML via ``html.escape``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from audit._markdown import md_escape
from audit.metrics import NOT_COMPUTED_MESSAGE

NO_CONFIRMED = "No confirmed driver words in this run."
CANDIDATE_NOTE = ("Candidates passed the support floor or were a top contributor to an error, but did not pass "
                  "the tests above: they are not findings.")
_EVIDENCE = ("unit", "kind", "texts / errors", "lift", "q (lift)", "contrast", "q (contrast)", "fix rate",
             "fix rate (<unk>)", "control fix rate", "q (fix vs control)")
_CANDIDATE = ("unit", "kind", "status", "texts / errors", "top in errors", "lift", "q (lift)", "contrast",
              "q (contrast)", "fix rate", "control fix rate")


def _num(x: Any, fmt: str = ".3g") -> str:
    if x is None or pd.isna(x):
        return "n/a"
    return format(float(x), fmt)


def _pct(x: Any) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x) * 100:.1f}%"


def split(stats: pd.DataFrame | None, *, top: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(confirmed, candidates)`` rows of the pooled scope, in rank order (candidates capped at ``top``)."""
    if stats is None or stats.empty or "confirmed" not in stats:
        return pd.DataFrame(), pd.DataFrame()
    pooled = stats[stats["scope"] == "all"].sort_values("rank", kind="mergesort")
    conf = pooled[pooled["confirmed"].astype(bool)]
    cand = pooled[~pooled["confirmed"].astype(bool)].head(top)
    return conf, cand


def _cells(r: Mapping[str, Any], confirmed: bool) -> list[str]:
    fix = _pct(r["fix_rate_remove"])
    if confirmed and not pd.isna(r.get("fix_rate_low")):
        fix += f" [{_pct(r['fix_rate_low'])}, {_pct(r['fix_rate_high'])}] of {int(r['n_cf'])}"
    support = f"{int(r['n_texts'])} / {int(r['n_errors'])}"
    if confirmed:
        return [str(r["unit"]), str(r["kind"]), support, _num(r["lift"]), _num(r["q_lift"]),
                _num(r["contrast_effect"], "+.2f"), _num(r["q_contrast"]), fix, _pct(r["fix_rate_unk"]),
                _pct(r["control_fix_rate"]), _num(r["q_fix"])]
    return [str(r["unit"]), str(r["kind"]), str(r["status"]), support, str(int(r["n_top_error"])), _num(r["lift"]),
            _num(r["q_lift"]), _num(r["contrast_effect"], "+.2f"), _num(r["q_contrast"]), fix,
            _pct(r["control_fix_rate"])]


def _alpha(manifest: Mapping[str, Any]) -> str:
    cfg = manifest.get("config") or {}
    findings = cfg.get("findings") if isinstance(cfg, Mapping) else None
    q = (findings or {}).get("fdr_q", 0.05) if isinstance(findings, Mapping) else 0.05
    return f"{float(q):g}"


def rule(manifest: Mapping[str, Any]) -> str:
    q = _alpha(manifest)
    return (f"Confirmed = the error-rate lift (one-sided Fisher exact) or the attribution contrast (Mann-Whitney U, "
            f"errors vs correct predictions) passes at BH q <= {q}, and removing the word fixes more of the errors "
            f"it drives than removing a matched control word of the same text (exact sign test, BH q <= {q}).")


def _md_row(cells: list[str]) -> str:
    """The unit (dataset text) escaped; the other cells are this module's numbers and labels."""
    return "| " + " | ".join([md_escape(cells[0]), *cells[1:]]) + " |"


def markdown(stats: pd.DataFrame | None, manifest: Mapping[str, Any], *, top: int) -> list[str]:
    conf, cand = split(stats, top=top)
    out = ["", "## Confirmed driver words", ""]
    if stats is None:  # a run made before the findings stage: nothing tested, so not "none confirmed"
        out.append(NOT_COMPUTED_MESSAGE)
    elif conf.empty:
        out.append(NO_CONFIRMED)
    else:
        out += [rule(manifest), "", "| " + " | ".join(_EVIDENCE) + " |", "|" + "---|" * len(_EVIDENCE)]
        out += [_md_row(_cells(r, True)) for r in conf.to_dict(orient="records")]
    if not cand.empty:
        out += ["", "## Candidate drivers (not confirmed)", "", CANDIDATE_NOTE, "",
                "| " + " | ".join(_CANDIDATE) + " |", "|" + "---|" * len(_CANDIDATE)]
        out += [_md_row(_cells(r, False)) for r in cand.to_dict(orient="records")]
    return out


def html_sections(stats: pd.DataFrame | None, manifest: Mapping[str, Any], *, top: int) -> list[str]:
    e = html.escape
    conf, cand = split(stats, top=top)
    out = ["<h2>Confirmed driver words</h2>"]
    if stats is None:
        out.append(f"<p>{e(NOT_COMPUTED_MESSAGE)}</p>")
    elif conf.empty:
        out.append(f"<p>{e(NO_CONFIRMED)}</p>")
    else:
        out.append(f"<p>{e(rule(manifest))}</p><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in _EVIDENCE) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r, True)) + "</tr>"
                for r in conf.to_dict(orient="records")]
        out.append("</table>")
    if not cand.empty:
        out.append(f"<h2>Candidate drivers (not confirmed)</h2><p>{e(CANDIDATE_NOTE)}</p><table><tr>"
                   + "".join(f"<th>{e(c)}</th>" for c in _CANDIDATE) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r, False)) + "</tr>"
                for r in cand.to_dict(orient="records")]
        out.append("</table>")
    return out


def reasons_of(reasons: pd.DataFrame | None, fixes: pd.DataFrame | None, dataset: Any,
               example_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A failure's verified reasons (REAT order: words, phrases, clauses) and its minimal fix (None if none found)."""
    rows: list[dict[str, Any]] = []
    if reasons is not None and not reasons.empty and "verified" in reasons:
        mine = reasons[(reasons["dataset"] == dataset) & (reasons["example_id"] == example_id)
                       & reasons["verified"].astype(bool)]
        rows = mine.to_dict(orient="records")
    fix = None
    if fixes is not None and not fixes.empty:
        hit = fixes[(fixes["dataset"] == dataset) & (fixes["example_id"] == example_id) & fixes["found"].astype(bool)]
        fix = hit.iloc[0].to_dict() if len(hit) else None
    return rows, fix


def reason_text(r: Mapping[str, Any], esc: Callable[[str], str]) -> str:
    """``dull (word, fixes the error alone, gold prob +0.62)``; ``esc`` escapes the unit's text."""
    effect = "fixes the error alone" if bool(r["fixes_error"]) else "does not fix it alone"
    return f"{esc(str(r['text']))} ({r['kind']}, {effect}, gold prob {float(r['delta_prob_gold']):+.2f})"


def fix_text(fix: Mapping[str, Any], esc: Callable[[str], str]) -> str:
    """``removing {a, b} fixes it (gold prob 0.71)``; ``esc`` escapes the words."""
    words = ", ".join(esc(str(w)) for w in fix["words"])
    return f"removing {{{words}}} fixes it (gold prob {float(fix['prob_gold_after']):.2f})"
