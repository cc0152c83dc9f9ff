"""The per-run report: ``report.md`` and ``report.html`` in the run folder.

Headline numbers, the gate verdict, the comparison with the previous run,
the confirmed driver words with their evidence then the unconfirmed candidates
(:mod:`audit.reports._drivers`), the raw REAT top-contributor counts, sample
failures (word heatmaps from ``token_attributions``, verified reasons, minimal
fix) and sample flips (swapped words highlighted).
Every piece of dataset text is escaped: ``html.escape`` in HTML,
:func:`audit._markdown.md_escape` in Markdown (renderers pass inline HTML through).
The shared formatting and escaping helpers live in :mod:`audit.reports._format`,
the data-provenance sections in :mod:`audit.reports._provenance`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import StoreError
from audit.metrics import FINDINGS_NOT_COMPUTED
from audit.reports import _drivers
from audit.reports._format import _CONTROLS, _METRICS, _fmt, _heatmap, _html_escape, _label, _md, _swaps
from audit.reports._provenance import ProvenanceSections
from audit.reports._tables import _streamed_failures, _tokens_of_rows, top_failures  # noqa: F401 (re-exported)
from audit.store._atomic import store_error, write_bytes_atomic
from audit.store.diff import RunDiff
from audit.store.records import iter_parquet
from audit.store.runs import RunRecord, RunWriter
from audit.store.schemas import labels_from_columns

log = logging.getLogger(__name__)

MAX_SAMPLES = 10
PREDICTION_BATCH_ROWS = 65_536
"""Rows per record batch when the report reads ``predictions`` for its top errors."""
TOP_WORDS = 20


class _Report(ProvenanceSections):
    def __init__(self, manifest: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], diff: RunDiff | None,
                 labels: list[str], max_samples: int) -> None:
        self.m, self.t, self.diff, self.labels, self.n = manifest, tables, diff, labels, max_samples
        self._failures: pd.DataFrame | None = None

    def table(self, name: str) -> pd.DataFrame:
        df = self.t.get(name)
        return df if df is not None else pd.DataFrame()

    def failures(self) -> pd.DataFrame:
        """The top ``max_samples`` errors by ``prob_pred`` (see :func:`top_failures`); precomputed when the
        report read ``predictions`` in batches (:func:`write_run_report`)."""
        if self._failures is not None:
            return self._failures
        preds = self.table("predictions")
        if preds.empty or "correct" not in preds:
            return preds
        return top_failures([preds], self.n)

    def flips(self) -> pd.DataFrame:
        var = self.table("variants")
        if var.empty or "flipped" not in var:
            return var
        return var[var["flipped"].astype(bool)].head(self.n)

    def top_words(self) -> int:
        """Rows of the candidate and raw tables: ``findings.top_words`` of the run's config (default 20)."""
        cfg = self.m.get("config") or {}
        findings = cfg.get("findings") if isinstance(cfg, Mapping) else None
        value = findings.get("top_words") if isinstance(findings, Mapping) else None
        return int(value) if isinstance(value, int) and value > 0 else TOP_WORDS

    def headline(self, metrics: Mapping[str, Any], key: str, pct: bool) -> str:
        """A headline value; the confirmed-driver count of a run without ``driver_stats`` is "not computed"."""
        if key == "n_confirmed_drivers" and metrics.get(key) is None and self.t.get("driver_stats") is None:
            return FINDINGS_NOT_COMPUTED
        return _fmt(metrics.get(key), pct)

    def reasons(self, dataset: Any, example_id: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return _drivers.reasons_of(self.t.get("failure_drivers"), self.t.get("minimal_fixes"), dataset, example_id)

    def drivers(self) -> pd.DataFrame:
        words = self.table("driver_words")
        top = self.top_words()
        return words.sort_values("rank").head(top) if "rank" in words else words.head(top)

    def flip_rates(self) -> list[tuple[str, pd.DataFrame]]:
        """``(title, rows)`` of driver-word swap flip rates (rows with at least one text): the words the
        config asks for (``attack.flip_words``, all their swaps), then the rest, most flips first."""
        rates = self.table("driver_flip_rates")
        if rates.empty or "rate" not in rates:
            return []
        rates = rates[rates["n_texts"] > 0].sort_values(
            ["n_flipped", "rate", "word", "replacement", "direction"], ascending=[False, False, True, True, True])
        # a->b measured from a's side ('from') and from b's side ('to') is one swap: list it once
        pairs = [self.swap_text(r) for r in rates.to_dict(orient="records")]
        rates = rates[~pd.Series(pairs, index=rates.index).duplicated().to_numpy()]
        config = self.m.get("config") or {}
        attack = config.get("attack") if isinstance(config, Mapping) else None
        asked = [str(w).lower() for w in (attack or {}).get("flip_words") or []] if isinstance(attack, Mapping) else []
        mine = rates["word"].astype(str).isin(asked)
        out = []
        if mine.any():
            out.append(("Words measured on request (attack.flip_words)", rates[mine]))
        if (~mine).any():
            out.append(("Top driver words", rates[~mine].head(TOP_WORDS)))
        return out

    @staticmethod
    def swap_text(row: Mapping[str, Any]) -> tuple[str, str]:
        """``(from, to)`` of a flip-rate row: direction ``to`` swaps the synonym into the word."""
        if row["direction"] == "from":
            return str(row["word"]), str(row["replacement"])
        return str(row["replacement"]), str(row["word"])

    def tokens_of(self, dataset: Any, example_id: Any) -> tuple[list[str], list[float]]:
        toks = self.table("token_attributions")
        if toks.empty:
            return [], []
        rows = toks[(toks["dataset"] == dataset) & (toks["example_id"] == example_id)].sort_values("position")
        return [str(t) for t in rows["token"]], [float(s) for s in rows["score_pred"]]

    def sample_note(self) -> str:
        """A sentence when ``findings.max_error_texts`` bound (the manifest's ``findings_sample``), else ''."""
        sample = self.m.get("findings_sample")
        if not isinstance(sample, Mapping) or not sample.get("capped"):
            return ""
        return (f"Counterfactual tests, failure reasons and minimal fixes use a seeded sample of "
                f"{sample.get('n_errors_tested')} of the {sample.get('n_errors')} errors (findings.max_error_texts = "
                f"{sample.get('max_error_texts')}, seed {sample.get('seed')}); support, lift and contrast count "
                "every text.")

    def gate(self) -> tuple[str, list[str]]:
        gate = self.m.get("gate") or {}
        passed = gate.get("passed") if isinstance(gate, Mapping) else None
        verdict = "not evaluated" if passed is None else ("PASSED" if passed else "FAILED")
        return verdict, [str(b) for b in (gate.get("breaches") or [])] if isinstance(gate, Mapping) else []

    def skipped_checks(self) -> list[str]:
        """Messages of configured gate checks that could not run (e.g. no previous run): never shown as passed."""
        gate = self.m.get("gate") or {}
        checks = gate.get("checks") if isinstance(gate, Mapping) else None
        return [str(c.get("message")) for c in (checks or []) if isinstance(c, Mapping) and c.get("status") == "skipped"]

    # ---------------------------------------------------------------------------------- markdown
    def markdown(self) -> str:
        metrics = self.m.get("metrics") or {}
        out = [f"# Audit run {_md(self.m.get('run_id', '?'))}", "",
               f"Model {_md(self.m.get('model_ref'))} (hash {_md(self.m.get('model_hash'))}), "
               f"created {_md(self.m.get('created_at'))}.", "", "## Headline", "", "| metric | value |", "|---|---|"]
        out += [f"| {title} | {self.headline(metrics, key, pct)} |" for key, title, pct in _METRICS]
        out += self.data_markdown()
        verdict, breaches = self.gate()
        out += ["", f"## Gate: {verdict}", ""] + [f"- {_md(b)}" for b in breaches]
        out += [f"- {_md(c)}" for c in self.skipped_checks()]
        if self.diff is not None:
            d = self.diff
            out += ["", f"## Compared with {_md(d.old_run_id)}", "",
                    f"- accuracy change on the {d.n_matched} shared examples: {_fmt(d.accuracy_delta, True)}",
                    f"- new failures: {d.new_failure_count}, fixed failures: {d.fixed_failure_count}",
                    "- new confirmed driver words: " + (", ".join(_md(w) for w in d.new_driver_words) or "none")]
        out += _drivers.markdown(self.t.get("driver_stats"), self.m, top=self.top_words())
        out += ["", _md(self.sample_note())] if self.sample_note() else []
        drivers = self.drivers()
        out += ["", "## Raw REAT top contributors (untested counts)", ""]
        if drivers.empty:
            out.append("No driver words (no misclassified texts).")
        else:
            out += ["| rank | word | POS | top in errors | in errors | occurrences | mean score |", "|---|---|---|---|---|---|---|"]
            for r in drivers.to_dict(orient="records"):
                out.append(f"| {r.get('rank')} | {_md(r.get('word'))} | {_md(r.get('pos'))} | {r.get('n_top_error')} "
                           f"| {r.get('n_in_errors')} | {r.get('n_occurrences')} | {_fmt(r.get('mean_score'), False)} |")
        out += ["", "## Driver-word flip rates", "",
                "Every text containing the word (`from`) or its synonym (`to`), with every occurrence swapped."]
        groups = self.flip_rates()
        if not groups:
            out += ["", "No driver word was measured."]
        for title, rates in groups:
            # the titles are this module's constants, not data: no escaping
            out += ["", f"**{title}**", "", "| word | swap | texts | flipped | rate |", "|---|---|---|---|---|"]
            for r in rates.to_dict(orient="records"):
                a, b = self.swap_text(r)
                out.append(f"| {_md(r['word'])} | {_md(a)} -> {_md(b)} | {r['n_texts']} | {r['n_flipped']} "
                           f"| {_fmt(r['rate'], True)} |")
        out += ["", "## Sample failures", ""]
        fails = self.failures()
        if fails.empty:
            out.append("No misclassified texts.")
        for r in fails.to_dict(orient="records"):
            out.append(f"- [{_md(r['dataset'])}#{r['example_id']}] gold **{_md(_label(self.labels, r['gold']))}**, "
                       f"predicted **{_md(_label(self.labels, r['pred']))}**: {_md(r['text'])}")
            reasons, fix = self.reasons(r["dataset"], r["example_id"])
            if reasons:
                out.append("  - verified reasons: " + "; ".join(_drivers.reason_text(x, _md) for x in reasons))
            if fix is not None:
                out.append(f"  - minimal fix: {_drivers.fix_text(fix, _md)}")
        out += ["", "## Sample flips", ""]
        flips = self.flips()
        if flips.empty:
            out.append("No adversarial variant flipped a prediction.")
        for r in flips.to_dict(orient="records"):
            swapped = {int(s["position"]) for s in _swaps(r.get("swaps"))}
            words = [f"**{_md(w)}**" if i in swapped else _md(w) for i, w in enumerate(str(r["variant"]).split())]
            out.append(f"- [{_md(r['dataset'])}#{r['example_id']}, {_md(r.get('kind', 'text'))}] "
                       f"{_md(_label(self.labels, r['pred_before']))} -> "
                       f"{_md(_label(self.labels, r['pred_after']))}: {_md(r['original'])} => {' '.join(words)}")
        return "\n".join(out) + "\n"

    # -------------------------------------------------------------------------------------- html
    def html(self) -> str:
        e = _html_escape
        metrics = self.m.get("metrics") or {}
        verdict, breaches = self.gate()
        body = [f"<h1>Audit run {e(str(self.m.get('run_id', '?')))}</h1>",
                f"<p>Model <code>{e(str(self.m.get('model_ref')))}</code> (hash <code>{e(str(self.m.get('model_hash')))}"
                f"</code>), created {e(str(self.m.get('created_at')))}.</p>", "<h2>Headline</h2><table>"]
        body += [f"<tr><th>{e(title)}</th><td>{e(self.headline(metrics, key, pct))}</td></tr>"
                 for key, title, pct in _METRICS]
        body.append("</table>")
        body += self.data_html()
        cls = "pass" if verdict == "PASSED" else "fail" if verdict == "FAILED" else ""
        body.append(f'<h2>Gate: <span class="{cls}">{e(verdict)}</span></h2>')
        if breaches or self.skipped_checks():
            body.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in [*breaches, *self.skipped_checks()]) + "</ul>")
        if self.diff is not None:
            d = self.diff
            body.append(f"<h2>Compared with {e(d.old_run_id)}</h2><ul><li>accuracy change on the {d.n_matched} "
                        f"shared examples: {e(_fmt(d.accuracy_delta, True))}</li>"
                        f"<li>new failures: {d.new_failure_count}, fixed failures: {d.fixed_failure_count}</li>"
                        f"<li>new confirmed driver words: {e(', '.join(d.new_driver_words) or 'none')}</li></ul>")
        body += _drivers.html_sections(self.t.get("driver_stats"), self.m, top=self.top_words())
        if self.sample_note():
            body.append(f"<p>{e(self.sample_note())}</p>")
        body.append("<h2>Raw REAT top contributors (untested counts)</h2>")
        drivers = self.drivers()
        if drivers.empty:
            body.append("<p>No driver words (no misclassified texts).</p>")
        else:
            cols = [c for c in ("rank", "word", "pos", "n_top_error", "n_in_errors", "n_occurrences", "mean_score",
                                "train_label_skew") if c in drivers]
            body.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
            for r in drivers.to_dict(orient="records"):
                body.append("<tr>" + "".join(f"<td>{e(_fmt(r[c], False) if isinstance(r[c], float) else str(r[c]))}</td>"
                                             for c in cols) + "</tr>")
            body.append("</table>")
        body.append("<h2>Driver-word flip rates</h2>")
        groups = self.flip_rates()
        if not groups:
            body.append("<p>No driver word was measured.</p>")
        for title, rates in groups:
            body.append(f"<h3>{e(title)}</h3>")
            body.append("<table><tr><th>word</th><th>swap</th><th>texts</th><th>flipped</th><th>rate</th></tr>")
            for r in rates.to_dict(orient="records"):
                a, b = self.swap_text(r)
                body.append(f"<tr><td>{e(str(r['word']))}</td><td>{e(str(a))} &rarr; {e(str(b))}</td>"
                            f"<td>{r['n_texts']}</td><td>{r['n_flipped']}</td><td>{e(_fmt(r['rate'], True))}</td></tr>")
            body.append("</table>")
        body.append("<h2>Sample failures</h2>")
        fails = self.failures()
        if fails.empty:
            body.append("<p>No misclassified texts.</p>")
        for r in fails.to_dict(orient="records"):
            title = (f"{r['dataset']}#{r['example_id']}: gold {_label(self.labels, r['gold'])}, "
                     f"predicted {_label(self.labels, r['pred'])}")
            tokens, scores = self.tokens_of(r["dataset"], r["example_id"])
            block = _heatmap(tokens, scores, title=title) if tokens else (
                f"<div><b>{e(title)}</b></div><div>{e(str(r['text']))}</div>")
            reasons, fix = self.reasons(r["dataset"], r["example_id"])
            if reasons:
                block += "<div>verified reasons: " + "; ".join(_drivers.reason_text(x, e) for x in reasons) + "</div>"
            if fix is not None:
                block += f"<div>minimal fix: {_drivers.fix_text(fix, e)}</div>"
            body.append(f'<div class="sample">{block}</div>')
        body.append("<h2>Sample flips</h2>")
        flips = self.flips()
        if flips.empty:
            body.append("<p>No adversarial variant flipped a prediction.</p>")
        for r in flips.to_dict(orient="records"):
            swapped = {int(s["position"]) for s in _swaps(r.get("swaps"))}
            words = " ".join(f"<mark>{e(w)}</mark>" if i in swapped else e(w)
                             for i, w in enumerate(str(r["variant"]).split()))
            body.append(f'<div class="sample"><div><b>{e(str(r["dataset"]))}#{r["example_id"]} '
                        f'({e(str(r.get("kind", "text")))}): '
                        f"{e(_label(self.labels, r['pred_before']))} &rarr; {e(_label(self.labels, r['pred_after']))}"
                        f"</b></div><div>{e(str(r['original']))}</div><div>&rArr; {words}</div></div>")
        style = ("body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px}.pass{color:#1a7f37}.fail{color:#cf222e}"
                 "mark{background:#ffd33d}.sample{margin:.8em 0}")
        return ("<!doctype html><html><head><meta charset=\"utf-8\">"
                f"<title>Audit run {e(str(self.m.get('run_id', '?')))}</title><style>{style}</style></head><body>"
                + "\n".join(body) + "</body></html>\n")


def write_run_report(source: RunWriter | RunRecord | Path | str, *, manifest: Mapping[str, Any] | None = None,
                     tables: Mapping[str, pd.DataFrame] | None = None, diff: RunDiff | None = None,
                     out_dir: Path | str | None = None, max_samples: int = MAX_SAMPLES) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html``; returns their paths.

    ``source`` is a :class:`RunWriter` (written into its staging folder), a
    :class:`RunRecord` or a directory.  ``manifest``/``tables`` default to the
    source's own; ``out_dir`` overrides where the files go.
    """
    writer = source if isinstance(source, RunWriter) else None
    record = writer.record() if writer is not None else source if isinstance(source, RunRecord) else None
    source_dir = record.path if record is not None else Path(source)  # type: ignore[arg-type]
    folder = Path(out_dir) if out_dir is not None else source_dir
    if out_dir is None and record is not None and writer is None and record.status == "complete":
        raise StoreError(f"run {record.run_id} is published and immutable", path=record.path,
                         hint="pass out_dir= to write its report elsewhere")
    if manifest is None:
        manifest = record.manifest if record is not None else {}
    lazy_tokens: Path | None = None
    lazy_predictions: Path | None = None
    if tables is None:
        # the per-token tables are the run's big ones: only the sampled failures' tokens are read
        paths = {p.stem: p for p in sorted(source_dir.glob("*.parquet"))}  # never out_dir's
        lazy_tokens = paths.pop("token_attributions", None)
        paths.pop("segments", None)
        lazy_predictions = paths.pop("predictions", None)  # one row per text: only the top errors are kept
        if record is not None:
            tables = {name: record.table(name) for name in paths}
        else:
            tables = {name: pd.read_parquet(p) for name, p in paths.items()}
    labels = record.label_names() if record is not None else [str(x) for x in (manifest.get("labels") or [])]
    if not labels and "driver_words" in tables:
        labels = labels_from_columns(tables["driver_words"].columns)
    report = _Report(manifest, tables, diff, labels, max_samples)
    if lazy_predictions is not None:
        batches = (record.iter_table("predictions", batch_size=PREDICTION_BATCH_ROWS) if record is not None
                   else iter_parquet(lazy_predictions, batch_size=PREDICTION_BATCH_ROWS))
        report._failures = _streamed_failures(iter(batches), max_samples)
    if lazy_tokens is not None:
        report.t = {**tables, "token_attributions": _tokens_of_rows(lazy_tokens, report.failures())}
    md, page = report.markdown().translate(_CONTROLS), report.html().translate(_CONTROLS)  # no control char, ever
    if writer is not None and out_dir is None:
        writer.write_text("report.md", md)
        writer.write_text("report.html", page)
    else:
        for name, text in (("report.md", md), ("report.html", page)):
            try:
                write_bytes_atomic(folder / name, text.encode("utf-8"))
            except OSError as exc:
                raise store_error(exc, action=f"writing {name}", path=folder / name) from exc
    log.info("wrote run report to %s", folder)
    return folder / "report.md", folder / "report.html"


__all__ = ["write_run_report"]
