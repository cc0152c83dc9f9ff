"""Run store: begin/chunks/publish, index, listing, get, latest, rebuild."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pandas as pd
import pytest

from audit.errors import StoreError, StoreLockedError
from audit.store import RunStore
from tests.fixtures_runs import make_manifest, make_tables, metrics_of, publish_run


def test_constructor_is_cheap(tmp_path):
    RunStore(tmp_path / "nope" / "runs")
    assert not (tmp_path / "nope").exists()
    assert RunStore(tmp_path / "nope").list_runs() == []


def test_begin_publish_roundtrip(tmp_path):
    store = RunStore(tmp_path / "runs")
    writer = store.begin("deadbeef99", make_manifest())
    assert not writer.resumed
    assert writer.staging_dir.parent == store.root / ".staging"
    assert writer.run_id.endswith("-deadbe") and writer.run_id[8] == "T"
    [row] = store.list_runs()
    assert row.status == "running" and row.run_id == writer.run_id
    assert store.list_runs(include_incomplete=False) == []
    with pytest.raises(StoreError, match="staging"):
        store.get(writer.run_id)

    writer.write_chunk("predict", 1, pd.DataFrame({"x": [3, 4]}))
    writer.write_chunk("predict", 0, pd.DataFrame({"x": [1, 2]}))
    assert writer.has_chunk("predict", 0) and not writer.has_chunk("predict", 2)
    assert writer.read_chunks("predict")["x"].tolist() == [1, 2, 3, 4]
    assert writer.read_chunks("other").empty
    tables = make_tables()
    for name, df in tables.items():
        writer.write_table(name, df)
    writer.write_json("extra", {"a": 1})
    writer.write_text("notes.txt", "hello")
    record = writer.publish(manifest_updates={"metrics": metrics_of(tables), "gate": {"passed": False, "breaches": ["x"]}})

    assert record.path == store.root / writer.run_id and record.status == "complete"
    assert not writer.staging_dir.exists()
    assert not (record.path / "chunks").exists()
    manifest = json.loads((record.path / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["run_id"] == writer.run_id
    assert manifest["model_ref"] == "models/tiny" and manifest["metrics"]["n_errors"] == 2
    got = store.get(writer.run_id)
    assert set(got.tables()) == set(tables)
    pd.testing.assert_frame_equal(got.table("predictions"), tables["predictions"])
    with pytest.raises(StoreError, match="no table 'nope'"):
        got.table("nope")
    mode = os.stat(record.path / "predictions.parquet").st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)

    [row] = store.list_runs()
    assert row.status == "complete" and row.gate_passed is False
    assert row.metrics["accuracy"] == pytest.approx(0.75) and row.model_ref == "models/tiny"
    # the lock was released by publish
    store.begin("other", make_manifest()).fail("test")


def test_index_is_sqlite_wal_with_contract_columns(tmp_path):
    store = RunStore(tmp_path)
    publish_run(store)
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    assert cols == ["run_id", "created_at", "status", "model_ref", "model_hash", "config_hash", "accuracy",
                    "n_examples", "n_errors", "attack_success_rate", "attack_success_rate_constrained",
                    "new_driver_words", "gate_passed", "path", "metrics_json"]
    conn.close()


def test_unknown_run_names_runs_list(tmp_path):
    with pytest.raises(StoreError, match="audit runs list"):
        RunStore(tmp_path).get("20990101T000000Z-ffffff")
    with pytest.raises(StoreError):
        RunStore(tmp_path).get("../etc")


def test_lock_is_exclusive_within_process_and_names_pid(tmp_path):
    store = RunStore(tmp_path)
    writer = store.begin("k1", make_manifest())
    with pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
        store.begin("k2", make_manifest())
    with pytest.raises(StoreLockedError, match="waited"):
        store.begin("k2", make_manifest(), wait_s=0.2)
    writer.fail("boom")
    assert store.list_runs()[0].status == "failed"
    assert store.list_runs(include_incomplete=False) == []


def test_resume_keeps_run_id_and_chunks_or_not(tmp_path):
    store = RunStore(tmp_path)
    w1 = store.begin("samekey", make_manifest())
    w1.write_chunk("attack", 0, pd.DataFrame({"v": [1]}))
    w1.fail("killed")
    w2 = store.begin("samekey", make_manifest())
    assert w2.resumed and w2.run_id == w1.run_id and w2.has_chunk("attack", 0)
    assert w2.manifest["resume_count"] == 1 and w2.manifest["status"] == "running"
    w2.fail("again")
    w3 = store.begin("samekey", make_manifest(), resume=False)
    assert not w3.resumed and w3.run_id != w1.run_id and not w3.has_chunk("attack", 0)
    w3.fail("x")
    w4 = store.begin("otherkey", make_manifest())
    assert not w4.resumed
    w4.fail("x")


def test_latest_complete_and_model_filter(tmp_path):
    store = RunStore(tmp_path)
    assert store.latest_complete() is None
    a = publish_run(store, run_key="aaaaaa1", model_ref="m/a")
    b = publish_run(store, run_key="bbbbbb1", model_ref="m/b")
    c = publish_run(store, run_key="aaaaaa1", model_ref="m/a")
    assert store.latest_complete().run_id == c.run_id
    assert store.latest_complete(before_run_id=c.run_id).run_id == b.run_id
    assert store.latest_complete(before_run_id=c.run_id, model_ref="m/a").run_id == a.run_id
    assert store.latest_complete(before_run_id=a.run_id) is None
    assert [r.run_id for r in store.list_runs()] == [a.run_id, b.run_id, c.run_id]


def test_rebuild_index_from_folders(tmp_path):
    store = RunStore(tmp_path)
    a = publish_run(store)
    w = store.begin("pending1", make_manifest())
    w.write_chunk("s", 0, pd.DataFrame({"a": [1]}))
    w.fail("x")
    (tmp_path / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"index.sqlite{suffix}").unlink(missing_ok=True)
    # a published folder missing from the index is still listed as complete
    assert [(r.run_id, r.status) for r in store.list_runs()] == [(a.run_id, "complete")]
    store.rebuild_index()
    rows = {r.run_id: r for r in store.list_runs()}
    assert rows[a.run_id].status == "complete" and rows[a.run_id].metrics["n_examples"] == 8
    assert rows[w.run_id].status == "failed"


def test_rebuild_index_takes_the_store_lock(tmp_path):
    store = RunStore(tmp_path)
    holder = store.begin("busykey", make_manifest())  # another writer holds the lock
    with pytest.raises(StoreLockedError, match="locked"):
        store.rebuild_index(wait_s=0.2)
    holder.publish(manifest_updates={})
    store.rebuild_index(wait_s=0.2)  # free again
    assert [r.status for r in store.list_runs()] == ["complete"]


def test_killed_job_marked_interrupted_by_next_job(tmp_path):
    store = RunStore(tmp_path)
    w = store.begin("k1", make_manifest())
    w._lock.release()  # as if the process died: the kernel drops the flock, the row stays 'running'
    assert store.list_runs()[0].status == "interrupted"  # readers see that no live process holds the lock
    w2 = store.begin("k2", make_manifest())
    rows = {r.run_id: r.status for r in store.list_runs()}
    assert rows == {w.run_id: "interrupted", w2.run_id: "running"}
    w2.fail("x")


def test_writer_context_manager_fails_on_exception(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.begin("k1", make_manifest()) as w:
            raise RuntimeError("stage crashed")
    assert store.list_runs()[0].status == "failed"
    manifest = json.loads((w.staging_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "stage crashed" in manifest["error"]
    with pytest.raises(StoreError, match="already published or failed"):
        w.write_table("t", pd.DataFrame({"a": [1]}))


def test_bad_names_rejected(tmp_path):
    w = RunStore(tmp_path).begin("k", make_manifest())
    with pytest.raises(StoreError, match="invalid"):
        w.write_table("../escape", pd.DataFrame({"a": [1]}))
    with pytest.raises(StoreError, match="manifest"):
        w.write_json("manifest", {})
    w.fail("x")


def test_cli_runs_list_show(tmp_path, monkeypatch, capsys):
    from audit.cli import main

    store = RunStore(tmp_path / "runs")
    rec = publish_run(store, gate={"passed": False, "breaches": ["min_accuracy: too low"]})
    pending = store.begin("pending", make_manifest())
    capsys.readouterr()
    assert main(["runs", "list", "--store", str(store.root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"]) for r in rows] == [(rec.run_id, "complete"), (pending.run_id, "running")]
    assert rows[0]["gate_passed"] is False and rows[0]["metrics"]["accuracy"] == 0.75
    monkeypatch.setenv("AUDIT_STORE", str(store.root))  # env instead of --store
    assert main(["runs", "list", "--complete"]) == 0
    out = capsys.readouterr().out
    assert rec.run_id in out and pending.run_id not in out and "75.00%" in out and "FAIL" in out
    assert main(["runs", "show", rec.run_id]) == 0
    out = capsys.readouterr().out
    assert "min_accuracy: too low" in out and "predictions" in out
    assert main(["runs", "show", rec.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == rec.run_id
    assert main(["runs", "show", pending.run_id]) == 7
    assert "audit runs list" in capsys.readouterr().err
    pending.fail("x")
    assert main(["runs", "reindex"]) == 0
    assert "reindexed 2 runs" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIT_STORE")
    (tmp_path / "reports").symlink_to(tmp_path)  # default reports/runs relative to cwd -> the same store
    assert main(["runs", "list", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [rec.run_id, pending.run_id]


def test_cli_runs_show_without_driver_stats_says_not_computed(tmp_path, capsys):
    """``confirmed_drivers`` is null (not []) for a run made before driver statistics existed, and says why;
    a run with the table keeps its list, possibly empty."""
    from audit.cli import main
    from audit.metrics import NOT_COMPUTED_MESSAGE

    store = RunStore(tmp_path / "runs")
    old = publish_run(store, run_key="aaaaaa0001", findings=False)
    none = publish_run(store, run_key="bbbbbb0002", confirmed=[])
    some = publish_run(store, run_key="cccccc0003", confirmed=["dull"])
    capsys.readouterr()
    shown = {}
    for rec in (old, none, some):
        assert main(["runs", "show", rec.run_id, "--store", str(store.root), "--json"]) == 0
        shown[rec.run_id] = json.loads(capsys.readouterr().out)
    assert shown[old.run_id]["confirmed_drivers"] is None and shown[old.run_id]["findings"] == "not computed"
    assert shown[none.run_id]["confirmed_drivers"] == [] and shown[none.run_id]["findings"] == "computed"
    assert [d["word"] for d in shown[some.run_id]["confirmed_drivers"]] == ["dull"]
    assert shown[some.run_id]["findings"] == "computed"
    assert main(["runs", "show", old.run_id, "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"confirmed driver words: not computed. {NOT_COMPUTED_MESSAGE}" in out and "no confirmed" not in out
    assert main(["runs", "show", none.run_id, "--store", str(store.root)]) == 0
    assert "confirmed driver words: none (no confirmed driver words in this run)" in capsys.readouterr().out
