"""The Streamlit dashboard, page by page, through streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from audit.cli import main
from audit.dashboard.explain import ALLOW_ADAPTERS_ENV
from audit.dashboard.store import STORE_ENV
from audit.models.io import load_model
from audit.store import RunStore
from tests._timeouts import HANG_GUARD_S
from tests.fixtures_runs import BASE_TEXTS, XSS, make_manifest, publish_run

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGES = ["runs", "failures", "drivers", "pos_patterns", "variants", "explain"]
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
TIMEOUT = HANG_GUARD_S


def make_store(root: Path) -> dict[str, str]:
    """Two complete runs made before the findings stage (the second has the XSS text among its failures) and one
    still running."""
    store = RunStore(root)
    old = publish_run(store, run_key="aaaaaa0001", wrong={1, 3}, texts=[*BASE_TEXTS, XSS], findings=False)
    new = publish_run(store, run_key="bbbbbb0002", wrong={1, 3, 8}, texts=[*BASE_TEXTS, XSS],
                      drivers=["terribly", "dull", "flat"], findings=False)
    writer = store.begin("cccccc0003", make_manifest())  # left running, as a job still being written
    return {"old": old.run_id, "new": new.run_id, "running": writer.run_id}


_REAL: dict[str, Any] = {}


def make_real_store(base: Path) -> dict[str, Any]:
    """Two real ``audit run`` runs of a tiny GRU on a tiny dataset that contains the XSS text as a failure.

    The XSS line's label is the opposite of the model's prediction, so it is always misclassified.
    Built once per session (the browser test reuses it).
    """
    if "root" not in _REAL:
        from tests.test_engine_job import make_setup

        config = make_setup(base, n_test=12)
        model = load_model(base / "model")
        wrong = 1 - int(model.predict_proba([XSS]).argmax())
        with (base / "test.tsv").open("a", encoding="utf-8") as fh:
            fh.write(f"{wrong}\t{XSS}\n")
        root = base / "store"
        for seed in ("3", "7"):
            assert main(["run", "--config", str(config), "--store", str(root), "--seed", seed, "--no-progress"]) == 0
        _REAL.update(root=root, model=base / "model", runs=[s.run_id for s in RunStore(root).list_runs()])
    return _REAL


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> dict[str, Any]:
    return make_real_store(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("dash") / "runs"
    return root, make_store(root)


def open_page(monkeypatch, root: Path, page: str) -> AppTest:
    monkeypatch.setenv(STORE_ENV, str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page != "runs":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def html_bodies(at: AppTest) -> str:
    return "\n".join(e.proto.body for e in at.get("html"))


@pytest.mark.parametrize("which", ["synthetic", "real"])
def test_every_page_renders_on_fixture_store(monkeypatch, request, which):
    root = request.getfixturevalue("store")[0] if which == "synthetic" else request.getfixturevalue("real_store")["root"]
    at = open_page(monkeypatch, root, "runs")
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title, page
        if which == "synthetic" and page == "explain":  # its manifests name a model dir that does not exist
            assert "models/tiny" in texts(at.error)
        else:
            assert not at.error, (page, texts(at.error))
        assert "make nightly" not in texts(at.info), page
        assert "<img" not in html_bodies(at), page


def test_real_run_failure_is_escaped(monkeypatch, real_store):
    at = open_page(monkeypatch, real_store["root"], "failures")
    assert at.selectbox(key="run_id").value == real_store["runs"][-1]
    bodies = html_bodies(at)
    assert XSS_ESCAPED in bodies and "<img" not in bodies
    assert 'class="reat-token"' in bodies  # its tokens are shown as a heatmap too, escaped
    assert "&lt;" in bodies


def test_explain_page_matches_cli_json(monkeypatch, real_store, capsys):
    text = "the plot is really dull , but the cast is fun ."
    at = open_page(monkeypatch, real_store["root"], "explain")
    assert at.selectbox(key="e_ref").options == ["(none)", str(real_store["model"])]  # model refs from the manifests
    at.selectbox(key="e_ref").set_value(str(real_store["model"]))
    at.multiselect(key="e_methods").set_value(["reat", "grad_input"])
    at.text_area(key="e_text").set_value(text).run()
    assert not at.exception and not at.error
    shown = at.dataframe[0].value
    for method in ("reat", "grad_input"):
        capsys.readouterr()
        assert main(["explain", "--model", str(real_store["model"]), "--text", text, "--method", method, "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)
        assert list(shown["token"]) == cli["tokens"]
        assert shown[method].tolist() == pytest.approx(cli["scores"], rel=1e-6, abs=1e-9)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction"] == cli["label"]
    assert metrics["Confidence"] == f"{cli['probabilities'][cli['label']]:.1%}"
    # typing a model directory works as well, and a bad one is a clear error, not a crash
    at.text_input(key="e_model_dir").set_value(str(real_store["root"] / "nope")).run()
    assert not at.exception and at.error


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_every_page_shows_first_run_message_on_empty_store(monkeypatch, tmp_path, kind):
    root = tmp_path / "runs"
    if kind == "empty":
        root.mkdir()
    at = open_page(monkeypatch, root, "runs")
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        info = texts(at.info)
        assert "make nightly" in info and "audit run --config configs/nightly.yaml" in info, page
    if kind == "missing":
        assert not root.exists()  # the dashboard never creates the store


def test_runs_page_history_status_and_diff(monkeypatch, store):
    root, ids = store
    at = open_page(monkeypatch, root, "runs")
    frame = at.dataframe[0].value.set_index("run_id")
    assert frame.loc[ids["running"], "status"] == "in progress"
    assert frame.loc[ids["new"], "n_errors"] == 3 and frame.loc[ids["old"], "n_errors"] == 2
    assert frame.loc[ids["new"], "gate"] == "passed"
    assert "in progress" in texts(at.info)
    # default diff: old vs new; accuracy got worse, one new failure, the XSS text
    assert "**0** metric(s) got better" in texts(at.markdown)
    changes = at.dataframe[1].value.set_index("metric")
    assert changes.loc["accuracy", "verdict"] == "worse"
    broken = at.tabs[1].dataframe[0].value
    assert list(broken["text"]) == [XSS]
    # swapping the two runs swaps better and worse
    at.selectbox(key="diff_old").set_value(ids["new"])
    at.selectbox(key="diff_new").set_value(ids["old"]).run()
    assert at.dataframe[1].value.set_index("metric").loc["accuracy", "verdict"] == "better"


def test_failures_filters_paging_and_escaping(monkeypatch, store):
    root, ids = store
    at = open_page(monkeypatch, root, "failures")
    assert at.selectbox(key="run_id").value == ids["new"]
    assert "**3** of 3 failures match" in texts(at.markdown)
    bodies = html_bodies(at)
    assert XSS_ESCAPED in bodies and "<img" not in bodies
    at.text_input(key="f_query").set_value("tedious").run()
    assert "**1** of 3 failures match" in texts(at.markdown)
    at.text_input(key="f_query").set_value("").run()
    at.multiselect(key="f_gold").set_value([1]).run()  # gold positive: only the XSS text (id 8)
    assert "**1** of 3 failures match" in texts(at.markdown)
    at.radio(key="f_level").set_value("clause").run()
    assert not at.exception and XSS_ESCAPED in html_bodies(at)
    at.slider(key="f_conf").set_value((0.5, 0.85)).run()  # example 8 was predicted with 0.9
    assert "**0** of 3 failures match" in texts(at.markdown)
    # the run picker switches the page to the other run
    at.slider(key="f_conf").set_value((0.0, 1.0))
    at.multiselect(key="f_gold").set_value([])
    at.selectbox(key="run_id").set_value(ids["old"]).run()
    assert "**2** of 2 failures match" in texts(at.markdown)  # the XSS text is right in the old run


def test_driver_words_selection(monkeypatch, store):
    root, _ = store
    at = open_page(monkeypatch, root, "drivers")
    assert list(at.dataframe[0].value["word"]) == ["terribly", "dull", "flat"]
    at.selectbox(key="d_word").set_value("dull").run()
    assert "dull: 1 occurrences" in texts(at.text)
    counts = at.dataframe[1].value.set_index("label")["count"].to_dict()
    assert counts == {"negative": 5, "positive": 1}
    at.text_input(key="d_query").set_value("fla").run()
    assert list(at.dataframe[0].value["word"]) == ["flat"]


def test_pos_page_compares_two_runs(monkeypatch, store):
    root, ids = store
    at = open_page(monkeypatch, root, "pos_patterns")
    n_single = len(at.get("vega_lite_chart"))
    assert n_single == 1
    at.selectbox(key="p_other").set_value(ids["old"]).run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == n_single + 1


def test_variants_filters(monkeypatch, store):
    root, _ = store
    at = open_page(monkeypatch, root, "variants")
    # an older run (no validity verdicts) opens on verified flips that keep the meaning and broke a correct text
    assert "**1** of 6 variants match" in texts(at.markdown)
    assert "no validity verdicts" in texts(at.caption)
    for key in ("v_direction", "v_flipped", "v_constrained"):
        at.selectbox(key=key).set_value(None)
    at.run()
    assert "**6** of 6 variants match" in texts(at.markdown)
    assert html_bodies(at).count("queries</div>") == 6  # one card per variant
    at.selectbox(key="v_flipped").set_value(True).run()
    assert "**2** of 6 variants match" in texts(at.markdown)
    at.selectbox(key="v_constrained").set_value(True).run()
    assert "**1** of 6 variants match" in texts(at.markdown)
    assert html_bodies(at).count("queries</div>") == 1
    assert "<mark" in html_bodies(at)
    assert len(at.get("download_button")) == 4  # jsonl, csv, pytest, junit


def test_cli_dashboard_starts_streamlit_on_localhost(monkeypatch, tmp_path):
    import audit.cli.dashboard as cli_dashboard

    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli_dashboard.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    assert main(["dashboard", "--store", str(tmp_path / "runs"), "--port", "8765"]) == 0
    [(cmd, env)] = calls
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == APP
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    assert opts == {"--server.address": "127.0.0.1", "--server.port": "8765", "--server.headless": "true",
                    "--browser.gatherUsageStats": "false", "--client.toolbarMode": "minimal"}  # no "Deploy" button
    assert env[STORE_ENV] == str((tmp_path / "runs").resolve())
    assert ALLOW_ADAPTERS_ENV not in env  # typed module:function models are off by default
    monkeypatch.setattr(cli_dashboard.subprocess, "call", lambda cmd, env: 3)
    assert main(["dashboard", "--store", str(tmp_path)]) == 1  # streamlit failed: not a silent success
    monkeypatch.setenv("AUDIT_DASHBOARD_APP", str(tmp_path / "nope.py"))
    assert main(["dashboard"]) == 4  # ResourceMissingError: app not found, named


def test_cli_dashboard_allow_adapters_and_public_host_warning(monkeypatch, tmp_path, capsys):
    import audit.cli.dashboard as cli_dashboard

    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli_dashboard.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    monkeypatch.setenv(ALLOW_ADAPTERS_ENV, "1")  # a stray variable does not turn adapters on; only the flag does
    capsys.readouterr()
    assert main(["dashboard", "--store", str(tmp_path)]) == 0
    assert ALLOW_ADAPTERS_ENV not in calls[-1][1] and "warning" not in capsys.readouterr().err
    assert main(["dashboard", "--store", str(tmp_path), "--allow-adapters", "--host", "0.0.0.0"]) == 0
    cmd, env = calls[-1]
    assert env[ALLOW_ADAPTERS_ENV] == "1" and dict(zip(cmd[5::2], cmd[6::2]))["--server.address"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0 is not a loopback address" in err and "run code" in err
    for host in ("localhost", "127.0.0.2", "::1"):
        assert main(["dashboard", "--store", str(tmp_path), "--host", host]) == 0
        assert "warning" not in capsys.readouterr().err, host
    assert main(["dashboard", "--store", str(tmp_path), "--host", "dash.example.org"]) == 0
    assert "warning: --host dash.example.org" in capsys.readouterr().err


def test_explain_page_refuses_typed_adapter_refs(monkeypatch, real_store, tmp_path):
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef build():\n    return None\n", encoding="utf-8")
    monkeypatch.delenv(ALLOW_ADAPTERS_ENV, raising=False)
    at = open_page(monkeypatch, real_store["root"], "explain")
    at.text_input(key="e_model_dir").set_value(f"{evil}:build").run()
    assert not at.exception and "--allow-adapters" in texts(at.error)
    assert not marker.exists()  # the file was never imported


def test_explain_warns_on_unknown_words_notes_unsigned_methods_and_compares_models(monkeypatch, real_store, tmp_path):
    import shutil

    store_copy = tmp_path / "store"
    shutil.copytree(real_store["root"], store_copy)
    second = tmp_path / "model2"
    shutil.copytree(real_store["model"], second)
    publish_run(RunStore(store_copy), run_key="dddddd0004", model_ref=str(second))  # a run of another model
    at = open_page(monkeypatch, store_copy, "explain")
    at.selectbox(key="e_ref").set_value(str(real_store["model"]))
    at.multiselect(key="e_methods").set_value(["reat", "vanilla_grad", "grad_input"])
    at.text_area(key="e_text").set_value("zzqx blorf wibble .").run()
    assert not at.exception and not at.error
    warning = texts(at.warning)
    assert "% of the tokens" in warning and "'zzqx'" in warning and "unknown to this model" in warning
    assert "VanillaGrad is unsigned" in texts(at.info)
    agreement = next(d.value for d in at.dataframe if "spearman" in d.value.columns)
    assert len(agreement) == 3 and agreement["spearman"].between(-1, 1).all()
    # phrase level, another target class, and the second model side by side
    at.radio(key="e_level").set_value("clause")
    at.selectbox(key="e_second").set_value(str(second))
    at.text_area(key="e_text").set_value("the plot is really dull , but the cast is fun .").run()
    assert not at.exception and not at.error
    assert str(second) in texts(at.markdown) and len([m for m in at.metric if m.label == "Prediction"]) == 2
    labels = at.radio(key="e_target").options
    other = [label for label in labels if label not in ("the predicted class",)][-1]
    at.radio(key="e_target").set_value(other.removeprefix("class ")).run()
    assert not at.exception and f"Scores toward class {other.removeprefix('class ')}" in texts(at.caption)
    assert at.query_params["level"] == "clause"
