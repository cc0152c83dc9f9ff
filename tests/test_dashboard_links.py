"""Deep links and cross-page links of the dashboard (AppTest), on stores with and without the findings tables.

The findings tables (``driver_stats``, the extended ``failure_drivers``, ``minimal_fixes``, the
extended ``variants``) are synthetic here and follow CONTRACTS.md; an *old* run lacks them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from audit.dashboard.store import STORE_ENV
from audit.store import RunStore
from tests._timeouts import HANG_GUARD_S
from tests.fixtures_runs import BASE_TEXTS, make_manifest, make_tables, metrics_of, publish_run
from tests.test_dashboard_views import driver_stats_frame
from tests.test_dashboard_app import html_bodies, texts

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGES = ["runs", "failures", "drivers", "pos_patterns", "variants", "explain"]
TIMEOUT = HANG_GUARD_S


def findings_tables() -> dict[str, pd.DataFrame]:
    """make_tables plus the new tables, as the drivers/attack branches write them."""
    tables = make_tables(wrong={1, 3, 5}, drivers=["dull", "tedious", "worst"])
    fd = tables["failure_drivers"]
    extra = pd.DataFrame([{"example_id": 1, "dataset": "sst2_test", "rank": 2, "kind": "word", "text": "dull",
                           "start": 3, "end": 4, "score": 0.9}])
    fd = pd.concat([fd, extra], ignore_index=True)
    fd["fixes_error"] = fd["text"] == "dull"
    fd["delta_prob_gold"] = [0.45 if t == "dull" else 0.02 for t in fd["text"]]
    fd["verified"] = True
    tables["failure_drivers"] = fd
    tables["driver_stats"] = driver_stats_frame().assign(scope=lambda f: f["scope"].replace("sst2_test", "sst2_test"))
    tables["minimal_fixes"] = pd.DataFrame({"example_id": [1], "dataset": ["sst2_test"], "positions": [[3]],
                                            "words": [["dull"]], "size": [1], "prob_gold_after": [0.8],
                                            "found": [True]})
    var = tables["variants"]
    var["recipe"] = "strict"
    var["valid"] = [i % 2 == 0 for i in range(len(var))]
    var["direction"] = ["break"] * (len(var) - 1) + ["fix"]
    var["declared"] = False
    var["evidence"] = json.dumps({"pos": {"passed": True, "value": "JJ", "threshold": "JJ"},
                                  "cosine": {"passed": True, "value": 0.71, "threshold": 0.6}, "sense": "nice.a.01"})
    tables["variants"] = var
    return tables


def publish_tables(store: RunStore, run_key: str, tables: dict[str, pd.DataFrame], *, model_ref: str) -> str:
    writer = store.begin(run_key, make_manifest(model_ref=model_ref))
    for name, df in tables.items():
        writer.write_table(name, df)
    record = writer.publish(manifest_updates={"metrics": metrics_of(tables), "gate": {
        "passed": True, "breaches": [], "checks": [{"name": "min_accuracy", "threshold": 0.5, "value": 0.62,
                                                    "status": "pass", "passed": True, "message": "ok"}]}})
    return record.run_id


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, tuple[Path, dict[str, str]]]:
    base = tmp_path_factory.mktemp("links")
    one = RunStore(base / "one")
    new_only = publish_tables(one, "ffffff0001", findings_tables(), model_ref="models/gru")
    multi = RunStore(base / "multi")
    old = publish_run(multi, run_key="aaaaaa0001", wrong={1, 3}, findings=False).run_id  # before the findings tables
    new = publish_tables(multi, "bbbbbb0002", findings_tables(), model_ref="models/lstm")
    return {"one": (base / "one", {"new": new_only}), "multi": (base / "multi", {"old": old, "new": new})}


def open_url(monkeypatch, root: Path, page: str, **params: str) -> AppTest:
    """Open ``/page?params`` as a fresh session would."""
    monkeypatch.setenv(STORE_ENV, str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page != "runs":
        at.switch_page(f"app_pages/{page}.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at




def page_links(at: AppTest) -> list[tuple[str, dict[str, str]]]:
    return [(e.proto.page, dict(parse_qsl(e.proto.query_string))) for e in at.get("page_link")]


@pytest.mark.parametrize("kind", ["empty", "one", "multi"])
def test_every_page_on_empty_one_run_and_multi_run_stores(monkeypatch, tmp_path, stores, kind):
    root = tmp_path / "runs" if kind == "empty" else stores[kind][0]
    if kind == "empty":
        root.mkdir()
    for page in PAGES:
        at = open_url(monkeypatch, root, page)
        assert at.title, page
        if kind == "empty":
            assert "make nightly" in texts(at.info), page
        elif page != "explain":  # explain: the synthetic manifests name a model directory that does not exist
            assert not at.error, (page, texts(at.error))


def test_failures_deep_link_selects_run_word_and_level(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "failures", run=ids["old"], word="tedious", level="clause")
    assert at.selectbox(key="run_id").value == ids["old"]  # not the newest run
    assert at.text_input(key="f_query").value == "tedious" and at.radio(key="f_level").value == "clause"
    assert "**1** of 2 failures match" in texts(at.markdown)
    assert '<mark style=' in html_bodies(at) and ">tedious</mark>" in html_bodies(at)  # the word highlighted
    assert at.query_params["run"] == ids["old"] and at.query_params["word"] == "tedious"  # the URL can be shared
    # a user's change is not undone by the URL of the previous rerun, and is written back
    at.text_input(key="f_query").set_value("dull").run()
    assert at.text_input(key="f_query").value == "dull" and at.query_params["word"] == "dull"
    assert "**1** of 2 failures match" in texts(at.markdown)
    # failure -> Explain with the text pre-filled, and -> its variants
    links = page_links(at)
    assert ("explain", {"run": ids["old"], "example": "sst2_test:1"}) in links
    assert ("variants", {"run": ids["old"], "example": "sst2_test:1"}) in links


def test_failure_cards_show_verified_reasons_and_old_runs_say_so(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "failures", run=ids["new"])
    bodies = html_bodies(at)
    assert "&#10004; <b>dull</b>" in bodies  # verified by removal
    assert "&#10008; <b>the</b>" in bodies  # tested, does not fix
    assert "Removing 1 word ('dull') makes the prediction right" in texts(at.caption)
    overview = [c for c in at.get("dataframe") if "error_rate_without" in c.value.columns]
    assert overview and list(overview[0].value["unit"]) == ["dull"]  # slices by confirmed driver
    old = open_url(monkeypatch, root, "failures", run=ids["old"])
    assert "did not verify reasons by removal (made with an older version)" in texts(old.caption)
    assert "no driver statistics (made with an older version)" in texts(old.caption)


def test_drivers_deep_link_confirmed_first_and_links(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "drivers", run=ids["new"], word="dull")
    assert at.selectbox(key="d_word").value == "dull"
    assert texts(at.success).startswith("1 confirmed driver word in this run")
    table = at.dataframe[0].value
    assert list(table["unit"]) == ["dull"]  # candidates hidden
    assert table.loc[0, "failures"] == f"/failures?run={ids['new']}&word=dull"
    assert table.loc[0, "variants"] == f"/variants?run={ids['new']}&word=dull"
    assert table.loc[0, "details"] == f"/drivers?run={ids['new']}&word=dull"  # its flip rates
    assert ("failures", {"run": ids["new"], "word": "dull"}) in page_links(at)
    at.toggle(key="d_candidates").set_value(True).run()
    assert list(at.dataframe[0].value["unit"]) == ["dull", "."]
    # flip rates of the word (driver_flip_rates) next to its scores
    flips = [d.value for d in at.dataframe if "n_flipped" in d.value.columns]
    assert flips and flips[0].loc[0, "replacement"] == "boring"
    # an old run: the raw ranking, said plainly
    old = open_url(monkeypatch, root, "drivers", run=ids["old"], word="dull")
    assert "no driver statistics (made with an older version)" in texts(old.info)
    assert old.selectbox(key="d_word").value == "dull"


def test_no_confirmed_driver_is_said_plainly(monkeypatch, tmp_path):
    tables = findings_tables()
    tables["driver_stats"] = tables["driver_stats"].assign(confirmed=False, status="candidate")
    publish_tables(RunStore(tmp_path / "runs"), "cccccc0003", tables, model_ref="models/gru")
    at = open_url(monkeypatch, tmp_path / "runs", "drivers")
    assert "No confirmed driver words in this run." in texts(at.info)
    assert "2 candidate(s) were tested" in texts(at.caption) and not at.dataframe
    at.toggle(key="d_candidates").set_value(True).run()
    assert list(at.dataframe[0].value["unit"]) == ["dull", "."]


def test_variants_open_on_strict_valid_breaks_and_follow_links(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "variants", run=ids["new"])
    assert at.selectbox(key="v_valid").value is True and at.selectbox(key="v_direction").value == "break"
    assert at.selectbox(key="v_flipped").value is True
    var = findings_tables()["variants"]
    n_valid_breaks = int((var["valid"] & var["flipped"] & (var["direction"] == "break")).sum())
    assert n_valid_breaks >= 1
    assert f"**{n_valid_breaks}** of {len(var)} variants match" in texts(at.markdown)
    bodies = html_bodies(at)
    assert "gold <b>negative</b>" in bodies or "gold <b>positive</b>" in bodies
    assert "sst2_test #0" in bodies  # example id on the card
    evidence = [d.value for d in at.dataframe if "threshold" in d.value.columns]
    assert evidence and list(evidence[0]["check"]) == ["pos", "cosine", "sense"]
    # a driver's variants, and one text's variants
    by_word = open_url(monkeypatch, root, "variants", run=ids["new"], word="nice")
    assert by_word.text_input(key="v_query").value == "nice"
    one = open_url(monkeypatch, root, "variants", run=ids["new"], example="sst2_test:2")
    assert "variants of sst2_test #2 only" in texts(one.info)
    assert "**1** of" in texts(one.markdown)
    # an old run has no verdicts: it says so and opens on verified meaning-keeping breaks
    old = open_url(monkeypatch, root, "variants", run=ids["old"])
    assert "no validity verdicts" in texts(old.caption)


def test_explain_deep_link_prefills_text_level_and_methods(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "explain", run=ids["old"], example="sst2_test:3", level="clause",
                  method="reat,grad_input")
    assert at.text_area(key="e_text").value == BASE_TEXTS[3]
    assert at.radio(key="e_level").value == "clause"
    assert at.multiselect(key="e_methods").value == ["reat", "grad_input"]
    assert at.query_params["example"] == "sst2_test:3"
    missing = open_url(monkeypatch, root, "explain", run=ids["old"], example="sst2_test:99")
    assert "is not in run" in texts(missing.warning)


def test_runs_page_links_gate_table_and_comparability(monkeypatch, stores):
    root, ids = stores["multi"]
    at = open_url(monkeypatch, root, "runs", run=ids["old"])
    runs = at.dataframe[0].value.set_index("run_id")
    assert list(at.dataframe[0].value.columns[:2]) == ["run_id", "gate"]  # on screen at 1400 px
    assert runs.loc[ids["old"], "run_failures"] == f"/failures?run={ids['old']}"
    assert runs.loc[ids["new"], "model"] == "lstm"
    assert ("failures", {"run": ids["old"]}) in page_links(at)
    assert "models/lstm" in at.selectbox(key="diff_new").format_func(ids["new"]) or \
        "lstm" in at.selectbox(key="diff_new").format_func(ids["new"])
    assert "No gate checks were configured for this run." in texts(at.caption)  # its manifest has none
    assert "not directly comparable" in texts(at.warning) and "model" in texts(at.warning)
    new = open_url(monkeypatch, root, "runs", run=ids["new"])
    gate = [d.value for d in new.dataframe if list(d.value.columns[:2]) == ["check", "status"]]
    assert gate and gate[0].loc[0, "check"] == "min_accuracy"  # the gate's checks as a table, not JSON


@pytest.mark.parametrize("params", [{"run": "nope"}, {"example": "zz"}, {"level": "sentence"},
                                    {"word": "<img src=x onerror=alert(1)>"}])
def test_bad_parameters_never_crash(monkeypatch, stores, params):
    root, _ = stores["multi"]
    for page in PAGES:
        at = open_url(monkeypatch, root, page, **params)
        assert at.title, page
        assert "<img" not in html_bodies(at), page
    if "run" in params:
        assert "is not a complete run of this store" in texts(at.warning)
