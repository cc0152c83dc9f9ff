"""Faults of issue 10 found through the CLI: 4.6 (export file name injection), 4.11 (--config's store),
4.12 (precise path and permission errors, a lock hint naming an option that exists)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.errors import DataError, ModelError, StoreLockedError
from audit.store import RunStore
from tests.fixtures_runs import make_manifest, make_tables, metrics_of


# ------------------------------------------------------------------------ 4.6 export --out NAME
def test_pytest_export_file_name_cannot_inject_code(tmp_path: Path, monkeypatch) -> None:
    tables = make_tables()
    tables["variants"] = pd.DataFrame([{
        "variant_id": "t-0", "kind": "text", "example_id": 0, "dataset": "toy", "original": "the movie is good",
        "variant": "the movie is great",
        "swaps": json.dumps([{"position": 3, "original": "good", "replacement": "great", "pos": "JJ"}]),
        "gold": 1, "pred_before": 1, "probs_before": [0.5, 0.5], "pred_after": 1, "probs_after": [0.5, 0.5],
        "flipped": False, "verified": True, "queries": 3, "words_changed": 1, "meaning_flags": [],
        "constrained": True}])
    store = RunStore(tmp_path / "runs")
    writer = store.begin("toykey", make_manifest())
    for name, df in tables.items():
        writer.write_table(name, df)
    record = writer.publish(manifest_updates={"metrics": metrics_of(tables)})
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "PWNED"
    name = 'x""" + str(open("PWNED", "w").write("1")) + """.py'  # one path component, no "/"
    out = tmp_path / "suite" / name
    assert out.name == name
    # a run without validity evidence (made before the strict recipe) exports with --recipe loose
    assert main(["export", record.run_id, "--format", "pytest", "--out", str(out), "--recipe", "loose",
                 "--store", str(store.root)]) == 0
    source = out.read_text(encoding="utf-8")
    namespace: dict = {"__name__": "generated_suite"}
    exec(compile(source, str(out), "exec"), namespace)  # what importing the suite does
    assert not marker.exists(), "the file name ran as code"
    doc = namespace["__doc__"]
    assert '"""' not in doc and "open(" not in doc and "<this file>" in doc
    assert namespace["RUN_ID"] == record.run_id and len(namespace["CASES"]) == 1


# ------------------------------------------------------------------------ 4.11 --config's store
def test_commands_find_runs_in_the_store_named_by_the_config(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.test_engine_job import make_setup

    config = make_setup(tmp_path / "setup")  # its `store:` is setup/runs
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("AUDIT_STORE", raising=False)
    assert main(["run", "--config", str(config), "--no-progress"]) in (0, 2)
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert (tmp_path / "setup" / "runs" / run_id).is_dir()

    assert main(["runs", "show", run_id]) == 7  # the default store (reports/runs here) does not have it
    capsys.readouterr()
    assert main(["runs", "show", run_id, "--config", str(config)]) == 0
    assert f"run {run_id}" in capsys.readouterr().out
    assert main(["runs", "list", "--config", str(config), "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run_id]
    assert main(["runs", "diff", run_id, run_id, "--config", str(config), "--json"]) == 0
    assert main(["runs", "reindex", "--config", str(config)]) == 0
    assert "reindexed 1 runs" in capsys.readouterr().out
    out = tmp_path / "suite.jsonl"
    assert main(["export", run_id, "--config", str(config), "--out", str(out)]) == 0 and out.is_file()
    assert main(["runs", "show", run_id, "--config", str(config), "--store", str(tmp_path / "none")]) == 7

    from audit.cli import dashboard as cli_dashboard

    calls: list = []
    monkeypatch.setattr(cli_dashboard, "find_app", lambda: Path("app.py"))
    monkeypatch.setattr(cli_dashboard.subprocess, "call", lambda cmd, env: calls.append(env) or 0)
    assert main(["dashboard", "--config", str(config)]) == 0
    assert calls[0]["AUDIT_STORE"] == str((tmp_path / "setup" / "runs").resolve())


def test_a_bad_config_given_to_runs_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: [1, 2\n")
    assert main(["runs", "list", "--config", str(bad)]) == 3
    assert main(["runs", "list", "--config", str(tmp_path / "absent.yaml")]) == 3


# ------------------------------------------------------------------------ 4.12 precise errors
def test_dataset_path_that_is_a_directory_or_a_symlink_loop(tmp_path: Path) -> None:
    from audit.data.readers import read_dataset

    folder = tmp_path / "data.tsv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory") as info:
        read_dataset(folder)
    assert "does not exist" not in str(info.value)
    loop = tmp_path / "loop.tsv"
    loop.symlink_to(tmp_path / "loop.tsv")
    with pytest.raises(DataError, match="symbolic link loop"):
        read_dataset(loop)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(DataError, match="symbolic link loop"):
        read_dataset(a)
    with pytest.raises(DataError, match="does not exist"):
        read_dataset(tmp_path / "absent.tsv")


def test_unreadable_weights_are_a_permission_error(tmp_path: Path, tiny_model, monkeypatch) -> None:
    from audit.models import io

    model_dir = io.save_model(tiny_model, tmp_path / "m")
    weights = model_dir / io.WEIGHTS_FILE
    real_open = os.open

    def denied(path, flags, *args):  # noqa: ANN001, ANN202 - what open(2) says to another user
        if Path(path) == weights:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ModelError, match="permission denied") as info:
        io.load_model(model_dir)
    assert "truncated or corrupt" not in str(info.value) and "No such file" not in str(info.value)
    assert str(weights) in str(info.value)
    with pytest.raises(ModelError, match="permission denied"):
        io.model_fingerprint(model_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file")
def test_unreadable_weights_for_real(tmp_path: Path, tiny_model) -> None:
    from audit.models import io

    model_dir = io.save_model(tiny_model, tmp_path / "m")
    (model_dir / io.WEIGHTS_FILE).chmod(0)
    with pytest.raises(ModelError, match="permission denied"):
        io.load_model(model_dir)


def test_lock_refusal_hint_names_an_option_that_exists(tmp_path: Path, capsys) -> None:
    holder = RunStore(tmp_path).begin("k", make_manifest())
    try:
        with pytest.raises(StoreLockedError) as info:
            RunStore(tmp_path).begin("k2", make_manifest())
        assert "--wait SECONDS" in str(info.value)
        assert main(["run", "--help"]) == 0
        assert "--wait" in capsys.readouterr().out
    finally:
        holder.fail("test done")
