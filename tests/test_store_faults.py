"""Store faults: read-only store, disk full, two concurrent jobs, a job killed mid-run."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from audit.errors import StoreError, StoreLockedError
from audit.store import RunStore
from audit.store import _atomic
from tests._timeouts import HANG_GUARD_S
from tests.fixtures_runs import make_manifest, make_tables, metrics_of

REPO = Path(__file__).resolve().parents[1]


def _fill(writer) -> dict[str, pd.DataFrame]:
    tables = make_tables()
    for name, df in tables.items():
        writer.write_table(name, df)
    return tables


def _assert_not_published(store: RunStore, writer) -> None:
    assert store.list_runs(include_incomplete=False) == []
    assert [p.name for p in store.root.iterdir() if not p.name.startswith((".", "index"))] == []
    assert writer.staging_dir.is_dir()
    assert not list(writer.staging_dir.rglob(".*.tmp-*"))  # no temp file left behind


@pytest.mark.parametrize("code,pattern", [(errno.EACCES, "read-only"), (errno.EROFS, "read-only"),
                                          (errno.ENOSPC, "no space left")])
def test_write_fault_is_store_error_and_keeps_staging(tmp_path, monkeypatch, code, pattern):
    store = RunStore(tmp_path)
    writer = store.begin("k1", make_manifest())
    writer.write_chunk("predict", 0, pd.DataFrame({"a": [1]}))
    real_replace = os.replace

    def broken(src, dst):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(_atomic.os, "replace", broken)
    with pytest.raises(StoreError, match=pattern) as info:
        writer.write_chunk("predict", 1, pd.DataFrame({"a": [2]}))
    assert "staging kept" in str(info.value) and info.value.exit_code == 7
    with pytest.raises(StoreError, match=pattern):
        writer.write_table("predictions", pd.DataFrame({"a": [2]}))
    _assert_not_published(store, writer)
    monkeypatch.setattr(_atomic.os, "replace", real_replace)
    assert writer.has_chunk("predict", 0) and not writer.has_chunk("predict", 1)
    writer.fail("disk")


def test_disk_full_on_fsync_during_publish(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    writer = store.begin("k1", make_manifest())
    tables = _fill(writer)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", full)
    with pytest.raises(StoreError, match="no space left"):
        writer.publish(manifest_updates={"metrics": metrics_of(tables)})
    monkeypatch.setattr(_atomic.os, "fsync", real_fsync)
    _assert_not_published(store, writer)
    assert json.loads((writer.staging_dir / "manifest.json").read_text())["status"] == "running"
    assert store.list_runs()[0].status == "running"
    # space freed: the same writer (still holding the lock) can publish
    record = writer.publish(manifest_updates={"metrics": metrics_of(tables)})
    assert store.list_runs(include_incomplete=False)[0].run_id == record.run_id


def test_rename_failure_during_publish_publishes_nothing(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    writer = store.begin("k1", make_manifest())
    _fill(writer)

    def broken(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr("audit.store.runs.os.rename", broken)
    with pytest.raises(StoreError, match="read-only"):
        writer.publish(manifest_updates={})
    _assert_not_published(store, writer)
    writer.fail("publish failed")
    monkeypatch.undo()
    resumed = store.begin("k1", make_manifest())
    assert resumed.resumed and resumed.run_id == writer.run_id and set(resumed.record().tables()) >= {"predictions"}
    resumed.publish(manifest_updates={})
    assert store.get(writer.run_id).status == "complete"


def test_store_root_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = RunStore(blocker / "runs")
    assert store.list_runs() == []
    with pytest.raises(StoreError, match="while opening the store lock"):
        store.begin("k1", make_manifest())


def test_read_only_store_at_begin(tmp_path, monkeypatch):
    real_open = os.open

    def deny(path, flags, *args):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr("audit.store.lock.os.open", deny)
    with pytest.raises(StoreError, match="read-only or not writable while opening the store lock") as info:
        RunStore(tmp_path).begin("k1", make_manifest())
    assert "AUDIT_STORE" in str(info.value)
    assert RunStore(tmp_path).list_runs() == []


def _spawn(code: str, root: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(root)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("child did not get ready")
        time.sleep(0.05)


_JOB = """
    import sys, time, pathlib
    import pandas as pd
    from audit.store import RunStore
    root = pathlib.Path(sys.argv[1])
    w = RunStore(root).begin("samekey", {"model_ref": "m"})
    w.write_chunk("predict", 0, pd.DataFrame({"a": [1, 2]}))
    w.write_chunk("predict", 1, pd.DataFrame({"a": [3]}))
    (root / "ready").write_text(w.run_id)
    while not (root / "release").exists():
        time.sleep(0.05)
    w.publish(manifest_updates={"metrics": {"accuracy": 1.0}})
"""


def test_second_job_is_refused_then_waits(tmp_path):
    store = RunStore(tmp_path)
    holder = _spawn(_JOB, tmp_path)
    try:
        _wait_for(tmp_path / "ready", holder)
        with pytest.raises(StoreLockedError, match=f"process {holder.pid}"):
            store.begin("otherkey", make_manifest())
        assert len(list(store.staging_root.iterdir())) == 1  # the refused job touched nothing
        assert [r.status for r in store.list_runs()] == ["running"]
        (tmp_path / "release").write_text("")
        waiter = store.begin("otherkey", make_manifest(), wait_s=120)  # blocks until the holder publishes
        assert holder.wait(timeout=HANG_GUARD_S) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    first = (tmp_path / "ready").read_text()
    published = store.get(first)
    assert published.status == "complete" and published.metrics == {"accuracy": 1.0}
    assert not (published.path / "chunks").exists()
    assert [r.status for r in store.list_runs()] == ["complete", "running"]
    waiter.fail("done")


def test_killed_job_resumes_with_same_run_id_and_chunks(tmp_path):
    store = RunStore(tmp_path)
    job = _spawn(_JOB, tmp_path)
    try:
        _wait_for(tmp_path / "ready", job)
        run_id = (tmp_path / "ready").read_text()
        assert store.list_runs(include_incomplete=False) == []
        assert [(r.run_id, r.status) for r in store.list_runs()] == [(run_id, "running")]
        with pytest.raises(StoreError):
            store.get(run_id)
        assert store.latest_complete() is None
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=HANG_GUARD_S)
    assert store.list_runs(include_incomplete=False) == []
    assert [(r.run_id, r.status) for r in store.list_runs()] == [(run_id, "interrupted")]  # its holder is dead
    writer = store.begin("samekey", {"model_ref": "m"})  # the kernel released the dead job's lock
    assert writer.resumed and writer.run_id == run_id
    assert writer.read_chunks("predict")["a"].tolist() == [1, 2, 3]
    assert store.list_runs(include_incomplete=False) == []
    writer.publish(manifest_updates={})
    assert [(r.run_id, r.status) for r in store.list_runs()] == [(run_id, "complete")]
    assert not (store.staging_root / run_id).exists()
