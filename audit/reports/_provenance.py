"""The run report's data-provenance sections: per-dataset metrics, skipped rows, the rebuilt-model note.

:class:`ProvenanceSections` is a part of the report (``audit.reports.run_report._Report``),
reading the run's manifest (``self.m``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.reports._format import _METRICS, _fmt, _html_escape, _md


class ProvenanceSections:
    """Issue 10's sections (datasets, bad rows, adapters), in Markdown and HTML."""

    m: Mapping[str, Any]

    # ------------------------------------------------- data provenance (issue 10: datasets, bad rows, adapters)
    def per_dataset(self) -> list[tuple[str, Mapping[str, Any]]]:
        """``(name, metrics)`` per dataset, shown when the run has more than one."""
        per = (self.m.get("metrics") or {}).get("per_dataset") or {}
        return [(str(k), v) for k, v in per.items() if isinstance(v, Mapping)] if len(per) > 1 else []

    def skipped_rows(self) -> list[Mapping[str, Any]]:
        return [r for r in (self.m.get("skipped_rows") or []) if isinstance(r, Mapping)]

    def rebuilt_note(self) -> str | None:
        if not self.m.get("model_rebuilt_from_parts"):
            return None
        return ("The model was rebuilt from its parts (embedding -> RNN -> head on the final hidden state): the "
                "adapter gave no forward= to check them against, so this audit is of that rebuilt function, which "
                "may differ from the model's own forward (e.g. if it pools states). See docs/own-model.md.")

    def data_markdown(self) -> list[str]:
        out: list[str] = []
        note = self.rebuilt_note()
        if note:
            out += ["", f"> **Note:** {note}"]
        per = self.per_dataset()
        if per:
            out += ["", "## Per dataset", "", "| dataset | " + " | ".join(t for _, t, _ in _METRICS[:4]) + " | skipped rows |",
                    "|---|---|---|---|---|---|"]
            for name, mt in per:
                out.append(f"| {_md(name)} | " + " | ".join(_fmt(mt.get(k), pct) for k, _, pct in _METRICS[:4])
                           + f" | {_fmt(mt.get('n_skipped_rows'), False)} |")
        rows = self.skipped_rows()
        if rows:
            out += ["", f"## Skipped rows ({len(rows)})", "", "Left out by `on_bad_rows: skip`.", "",
                    "| dataset | file | line | reason |", "|---|---|---|---|"]
            out += [f"| {_md(r.get('dataset'))} | {_md(r.get('path'))} | {_md(r.get('line'))} | {_md(r.get('reason'))} |"
                    for r in rows]
        return out

    def data_html(self) -> list[str]:
        e = _html_escape
        body: list[str] = []
        note = self.rebuilt_note()
        if note:
            body.append(f'<p class="note"><b>Note:</b> {e(note)}</p>')
        per = self.per_dataset()
        if per:
            body.append("<h2>Per dataset</h2><table><tr><th>dataset</th>"
                        + "".join(f"<th>{e(t)}</th>" for _, t, _ in _METRICS[:4]) + "<th>skipped rows</th></tr>")
            for name, mt in per:
                body.append(f"<tr><td>{e(name)}</td>" + "".join(f"<td>{e(_fmt(mt.get(k), pct))}</td>"
                                                                for k, _, pct in _METRICS[:4])
                            + f"<td>{e(_fmt(mt.get('n_skipped_rows'), False))}</td></tr>")
            body.append("</table>")
        rows = self.skipped_rows()
        if rows:
            body.append(f"<h2>Skipped rows ({len(rows)})</h2><p>Left out by <code>on_bad_rows: skip</code>.</p>"
                        "<table><tr><th>dataset</th><th>file</th><th>line</th><th>reason</th></tr>")
            body += [f"<tr><td>{e(str(r.get('dataset')))}</td><td>{e(str(r.get('path')))}</td>"
                     f"<td>{e(str(r.get('line')))}</td><td>{e(str(r.get('reason')))}</td></tr>" for r in rows]
            body.append("</table>")
        return body
