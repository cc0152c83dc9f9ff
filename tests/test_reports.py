"""Run report: markdown + html, headline, gate, drivers, heatmaps, flips, escaping."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

from audit.errors import StoreError
from audit.reports import write_run_report
from audit.store import RunStore, diff_runs
from tests.fixtures_runs import BASE_TEXTS, XSS, make_manifest, make_tables, metrics_of, publish_run


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _xss_tables():
    texts = list(BASE_TEXTS)
    texts[1] = XSS + " dull plot"  # misclassified (wrong={1}) and ...
    texts[0] = "<script>alert(2)</script> gripping"  # ... attacked and flipped (flipped={0})
    return make_tables(wrong={1}, flipped={0}, texts=texts)


def test_report_from_writer_escapes_every_text(tmp_path):
    store = RunStore(tmp_path)
    tables = _xss_tables()
    w = store.begin("k", make_manifest())
    for name, df in tables.items():
        w.write_table(name, df)
    w.manifest.update(metrics=metrics_of(tables), gate={"passed": False, "breaches": ["min_accuracy: <b>low</b>"]})
    md_path, html_path = write_run_report(w, manifest=w.manifest, tables=tables)
    assert md_path == w.staging_dir / "report.md" and html_path.is_file()
    page, md = html_path.read_text(), md_path.read_text()
    for raw in (XSS, "<script>", "<b>low</b>"):
        assert raw not in page and raw not in md
    parser = _Tags()
    parser.feed(page)
    assert "img" not in parser.tags and "script" not in parser.tags and "b" in parser.tags
    assert "<img" in parser.text and "onerror=alert(1)>" in parser.text  # heatmap tokens shown as text, not markup
    assert any("<script>alert(2)</script> gripping" in t for t in parser.text)  # the flip's original text
    assert html.escape("<img") in page and "Gate: <span class=\"fail\">FAILED" in page
    assert "87.50%" in page and "## Gate: FAILED" in md and "87.50%" in md
    assert "reat-heatmap" in page  # a word heatmap for the failure (from token_attributions)
    assert "<mark>nice</mark>" in page and "**nice**" in md  # swapped word of the flip highlighted
    assert "| 1 | dull | JJ |" in md  # driver words table
    # flip rates: direction "to" swaps the synonym into the word
    assert "| dull | boring -> dull | 4 | 1 | 25.00% |" in md and "boring &rarr; dull" in page
    assert "gold **negative**, predicted **positive**" in md
    record = w.publish(manifest_updates={})
    assert "report.html" in [p.name for p in record.path.iterdir()]


def test_report_lists_requested_flip_words_first(tmp_path):
    import pandas as pd

    store = RunStore(tmp_path)
    tables = make_tables(wrong={1})
    tables["driver_flip_rates"] = pd.DataFrame([
        {"word": "dull", "replacement": "boring", "direction": "from", "n_texts": 9, "n_flipped": 5, "rate": 5 / 9},
        {"word": "terribly", "replacement": "extremely", "direction": "to", "n_texts": 8, "n_flipped": 2, "rate": 0.25},
        {"word": "terribly", "replacement": "awful", "direction": "to", "n_texts": 0, "n_flipped": 0, "rate": 0.0},
        # the same swap measured from the other word's side: listed once
        {"word": "extremely", "replacement": "terribly", "direction": "from", "n_texts": 8, "n_flipped": 2, "rate": 0.25},
    ])
    w = store.begin("k", make_manifest())
    w.manifest.update(metrics=metrics_of(tables), config={"attack": {"flip_words": ["Terribly", "extremely"]}})
    md_path, html_path = write_run_report(w, manifest=w.manifest, tables=tables)
    md, page = md_path.read_text(), html_path.read_text()
    asked = md.index("**Words measured on request (attack.flip_words)**")
    top = md.index("**Top driver words**")
    assert asked < md.index("| extremely -> terribly | 8 | 2 | 25.00% |") < top
    assert top < md.index("| dull | dull -> boring | 9 | 5 | 55.56% |")
    assert "awful" not in md  # no text to measure
    assert md.count("extremely -> terribly") == 1
    assert "<h3>Words measured on request (attack.flip_words)</h3>" in page
    w.fail("test done")


def test_report_for_record_with_diff_and_out_dir(tmp_path):
    store = RunStore(tmp_path / "runs")
    old = publish_run(store, wrong=set(), drivers=["dull"])
    new = publish_run(store, wrong={4}, drivers=["dull", "clever"])
    diff = diff_runs(old, new)
    md_path, html_path = write_run_report(new, diff=diff, out_dir=tmp_path / "out")
    md = md_path.read_text()
    assert md_path.parent == tmp_path / "out"
    with pytest.raises(StoreError, match="immutable"):
        write_run_report(new, diff=diff)
    assert f"## Compared with {old.run_id}" in md and "new failures: 1" in md and "new confirmed driver words: clever" in md


def test_report_from_directory_without_failures(tmp_path):
    tables = make_tables(wrong=set(), flipped=set())
    for name, df in tables.items():
        df.to_parquet(tmp_path / f"{name}.parquet")
    md_path, html_path = write_run_report(tmp_path, manifest={"run_id": "r1", "metrics": {}})
    md = md_path.read_text()
    assert "No misclassified texts." in md and "No adversarial variant flipped" in md and "Gate: not evaluated" in md
    assert "| Accuracy | n/a |" in md and "<th>Accuracy</th><td>n/a</td>" in html_path.read_text()


def test_report_of_a_directory_into_another_reads_the_source_tables(tmp_path):
    tables = make_tables(wrong={4}, flipped=set())
    source = tmp_path / "run"
    source.mkdir()
    for name, df in tables.items():
        df.to_parquet(source / f"{name}.parquet")
    md_path, _ = write_run_report(source, manifest={"run_id": "r1", "metrics": {}}, out_dir=tmp_path / "out")
    md = md_path.read_text()
    assert md_path.parent == tmp_path / "out" and not (source / "report.md").exists()
    assert "No misclassified texts." not in md  # the failure of the source run, not out_dir's nothing
    wrong = tables["predictions"][~tables["predictions"]["correct"]]
    assert str(wrong["text"].iloc[0]).split()[0] in md


def test_report_write_fault_is_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        write_run_report(blocker, manifest={"run_id": "r"}, tables=make_tables(), out_dir=blocker / "sub")


def test_report_md_escapes_markdown_images_links_and_backticks(tmp_path):
    texts = list(BASE_TEXTS)
    texts[1] = "![](http://tracker/x) see [x](http://url) and `code` dull"  # misclassified (wrong={1})
    tables = make_tables(wrong={1}, flipped=set(), texts=texts)
    md_path, _ = write_run_report(tmp_path, manifest={"run_id": "r1", "metrics": metrics_of(tables)}, tables=tables)
    md = md_path.read_text()
    assert "![](" not in md and "[x](" not in md and "`code`" not in md
    assert "\\!\\[\\]\\(http://tracker/x\\) see \\[x\\]\\(http://url\\) and \\`code\\` dull" in md


def test_driver_sections_confirmed_first_candidates_labelled_and_escaped(tmp_path):
    tables = make_tables(wrong={1, 3}, confirmed=["dull", XSS])
    md_path, html_path = write_run_report(tmp_path, manifest=make_manifest(), tables=tables, out_dir=tmp_path / "o")
    md, page = md_path.read_text(), html_path.read_text()
    conf, cand = md.index("## Confirmed driver words"), md.index("## Candidate drivers (not confirmed)")
    assert conf < cand < md.index("## Raw REAT top contributors (untested counts)")
    section = md[conf:cand]
    assert section.index("| dull | word | 40 / 12 |") < section.index("onerror")  # rank order
    assert "77.8% [45.0%, 94.0%] of 9 | 67.0% | 11.0% | 0.02 |" in section  # fix rate vs control, q
    assert "BH q <= 0.05" in section
    assert "| the | word | candidate |" in md[cand:] and "they are not findings" in md[cand:]
    assert XSS not in md and XSS not in page and html.escape(XSS) in page
    parser = _Tags()
    parser.feed(page)
    assert "img" not in parser.tags
    # the failure's verified reason and minimal fix (from failure_drivers / minimal_fixes)
    assert "verified reasons: the (word, fixes the error alone, gold prob +0.60)" in md
    assert "minimal fix: removing {the} fixes it (gold prob 0.70)" in md


def test_no_confirmed_driver_sentence(tmp_path):
    tables = make_tables(confirmed=[])
    md_path, html_path = write_run_report(tmp_path, manifest=make_manifest(), tables=tables, out_dir=tmp_path / "o")
    md = md_path.read_text()
    assert "## Confirmed driver words\n\nNo confirmed driver words in this run." in md
    assert "<p>No confirmed driver words in this run.</p>" in html_path.read_text()
    assert "## Candidate drivers (not confirmed)" in md  # the tested candidates are still shown, labelled



def test_run_without_driver_stats_says_not_computed_not_none_confirmed(tmp_path):
    """A run made before the findings stage tested nothing: "not computed", never "no confirmed driver words"."""
    from audit.dashboard import findings as dash_findings
    from audit.metrics import NOT_COMPUTED_MESSAGE

    tables = make_tables(findings=False)
    manifest = {**make_manifest(), "metrics": metrics_of(tables)}
    md_path, html_path = write_run_report(tmp_path, manifest=manifest, tables=tables, out_dir=tmp_path / "o")
    md, page = md_path.read_text(), html_path.read_text()
    assert f"## Confirmed driver words\n\n{NOT_COMPUTED_MESSAGE}" in md
    assert f"<p>{html.escape(NOT_COMPUTED_MESSAGE)}</p>" in page
    assert "| Confirmed driver words | not computed |" in md
    assert "<tr><th>Confirmed driver words</th><td>not computed</td></tr>" in page
    assert "No confirmed driver words" not in md and "No confirmed driver words" not in page
    # the dashboard says the same of such a run: no statistics, not "none confirmed"
    assert dash_findings.headline(tables.get("driver_stats")) == dash_findings.NO_STATS_MESSAGE
    assert "no driver statistics" in dash_findings.NO_STATS_MESSAGE
    assert "No confirmed" not in dash_findings.NO_STATS_MESSAGE
    # a run with the table but nothing confirmed keeps saying so, with 0 in the headline
    tables = make_tables(confirmed=[])
    manifest = {**make_manifest(), "metrics": metrics_of(tables)}
    md_path, _ = write_run_report(tmp_path, manifest=manifest, tables=tables, out_dir=tmp_path / "p")
    md = md_path.read_text()
    assert "| Confirmed driver words | 0 |" in md and NOT_COMPUTED_MESSAGE not in md

def test_headline_reports_strict_valid_attack_success_beside_raw(tmp_path):
    """Validity costs success: the headline shows both (metric names from audit.metrics.attack_metrics)."""
    import pandas as pd

    from audit.metrics import attack_metrics

    variants = pd.DataFrame({"kind": ["text"] * 4, "flipped": [True, True, True, False],
                             "verified": [True] * 4, "valid": [True, False, False, False],
                             "constrained": [True, True, False, False], "queries": [1, 2, 3, 4],
                             "recipe": ["loose"] * 4})
    tables = make_tables(wrong=set(), flipped=set())
    md_path, html_path = write_run_report(tmp_path, manifest={"run_id": "r1", "metrics": attack_metrics(variants)},
                                          tables=tables, out_dir=tmp_path / "o")
    md = md_path.read_text()
    assert "| Attack success rate | 75.00% |" in md
    assert "| Attack success rate (strict-valid) | 25.00% |" in md
    assert md.count("Attack success rate (strict-valid)") == 1  # one row, not one per merged branch
    assert "<th>Attack success rate (strict-valid)</th><td>25.00%</td>" in html_path.read_text()


def test_gate_checks_that_could_not_run_are_listed_not_implied_passed(tmp_path):
    from audit.gate import GateConfig, evaluate_gate

    gate = evaluate_gate(GateConfig(min_accuracy=0.5, max_new_failures=0), {"accuracy": 0.9,
                                                                             "max_completeness_delta": 0.0}, None)
    assert gate.passed
    tables = make_tables(wrong=set(), flipped=set())
    md_path, html_path = write_run_report(tmp_path, manifest={"run_id": "r1", "metrics": {},
                                                              "gate": gate.to_manifest()},
                                          tables=tables, out_dir=tmp_path / "o")
    md = md_path.read_text()
    from audit._markdown import md_escape

    assert "## Gate: PASSED\n\n- " + md_escape("max_new_failures: skipped (no previous run to compare with)") in md
    assert "<li>max_new_failures: skipped (no previous run to compare with)</li>" in html_path.read_text()
