"""Store faults of issue 10 (4.3-4.5): corrupt index, a job killed after the publish rename, stray temporaries."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.errors import EXIT_CODES, StoreError
from audit.store import RunStore
from tests._timeouts import HANG_GUARD_S
from tests.fixtures_runs import make_manifest, publish_run

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _is_sealed(folder: Path) -> bool:
    return all(not (p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) for p in _files(folder))


# ------------------------------------------------------------------------ 4.3 corrupt index
def _corrupt(index: Path) -> None:
    index.write_bytes(b"this is not a SQLite database\x00" * 64)
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)


def test_corrupt_index_blocks_jobs_with_the_fix_named_then_reindex_rebuilds(tmp_path, capsys) -> None:
    store = RunStore(tmp_path)
    first = publish_run(store)
    _corrupt(store.index.path)
    with pytest.raises(StoreError, match="audit runs reindex") as info:
        store.begin("another-key", make_manifest())
    assert info.value.exit_code == EXIT_CODES["store"]
    assert not store.staging_root.exists() or not any(store.staging_root.iterdir())  # nothing half-started

    assert main(["runs", "reindex", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "reindexed 1 runs" in out.out and "corrupt" in out.err
    kept = list(tmp_path.glob("index.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a SQLite database")
    conn = sqlite3.connect(store.index.path)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert [r[0] for r in conn.execute("SELECT run_id FROM runs")] == [first.run_id]
    finally:
        conn.close()
    assert [r.run_id for r in store.list_runs()] == [first.run_id]
    writer = store.begin("another-key", make_manifest())  # jobs work again
    writer.fail("test done")


def test_reindex_keeps_a_healthy_index_in_place(tmp_path) -> None:
    store = RunStore(tmp_path)
    publish_run(store)
    assert store.rebuild_index() is None
    assert not list(tmp_path.glob("index.sqlite.corrupt-*"))


def test_index_truncated_mid_page_is_rebuilt(tmp_path) -> None:
    store = RunStore(tmp_path)
    for _ in range(3):
        publish_run(store)
    data = store.index.path.read_bytes()
    store.index.path.write_bytes(data[:100] + b"\xff" * 3000)  # valid header, garbage pages
    assert store.rebuild_index() is not None
    assert len(store.list_runs()) == 3


# ------------------------------------------------------------------------ 4.4 killed after the publish rename
_KILLED_AFTER_RENAME = """
    import os, signal, sys, pathlib
    import pandas as pd
    from audit.store import RunStore
    root = pathlib.Path(sys.argv[1])
    real_rename = os.rename
    def rename_then_die(src, dst):
        real_rename(src, dst)
        if pathlib.Path(src).parent.name == ".staging":
            os.kill(os.getpid(), signal.SIGKILL)  # the job dies right after publishing
    os.rename = rename_then_die
    w = RunStore(root).begin("samekey", {"model_ref": "m"})
    w.write_chunk("predict", 0, pd.DataFrame({"a": [1, 2]}))
    w.write_table("predictions", pd.DataFrame({"a": [1, 2]}))
    (root / "run_id").write_text(w.run_id)
    w.publish(manifest_updates={"metrics": {"accuracy": 1.0}})
"""


def _kill_after_rename(root: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLED_AFTER_RENAME), str(root)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return (root / "run_id").read_text()


def test_next_job_finishes_a_publish_interrupted_after_the_rename(tmp_path) -> None:
    run_id = _kill_after_rename(tmp_path)
    store = RunStore(tmp_path)
    folder = tmp_path / run_id
    assert (folder / "chunks").is_dir() and not _is_sealed(folder)  # the state the kill leaves
    assert {r["run_id"]: r["status"] for r in store.index.rows()} == {run_id: "running"}

    writer = store.begin("samekey", {"model_ref": "m"})
    assert writer.published is not None and writer.published.run_id == run_id == writer.run_id
    assert writer.published.metrics == {"accuracy": 1.0}
    with pytest.raises(StoreError):
        writer.write_table("x", pd.DataFrame({"a": [1]}))  # nothing is redone
    assert sorted(p.name for p in tmp_path.iterdir() if p.name[0].isdigit()) == [run_id]  # no duplicate run
    assert not store.staging_root.exists() or not any(store.staging_root.iterdir())
    assert not (folder / "chunks").exists() and _is_sealed(folder)
    rows = store.index.rows()
    assert [(r["run_id"], r["status"], r["path"]) for r in rows] == [(run_id, "complete", str(folder))]
    assert [(r.run_id, r.status) for r in store.list_runs()] == [(run_id, "complete")]
    # the store lock was released: the next job starts normally
    again = store.begin("samekey", {"model_ref": "m"})
    assert again.published is None and again.run_id != run_id
    again.fail("test done")


def test_other_key_or_no_resume_still_seals_the_interrupted_run(tmp_path) -> None:
    run_id = _kill_after_rename(tmp_path)
    store = RunStore(tmp_path)
    writer = store.begin("samekey", {"model_ref": "m"}, resume=False)  # --no-resume: a fresh run ...
    assert writer.published is None and writer.run_id != run_id
    folder = tmp_path / run_id
    assert not (folder / "chunks").exists() and _is_sealed(folder)  # ... and the old one is sealed
    assert {r["run_id"]: r["status"] for r in store.index.rows()}[run_id] == "complete"
    writer.fail("test done")


def test_job_returns_the_run_published_by_the_killed_job(tmp_path) -> None:
    from audit.engine.config import load_config
    from audit.engine.job import run_job
    from tests.test_engine_job import make_setup

    cfg = load_config(make_setup(tmp_path))
    first = run_job(cfg, store_root=tmp_path / "runs", progress=False)
    folder = first.record.path
    # recreate what a kill right after the rename leaves: chunks, writable files, index row 'running'
    for p in _files(folder):
        p.chmod(0o644)
    (folder / "chunks" / "predict_attr").mkdir(parents=True)
    (folder / "chunks" / "predict_attr" / "000000.parquet").write_bytes(b"x")
    store = RunStore(tmp_path / "runs")
    row = next(r for r in store.index.rows() if r["run_id"] == first.run_id)
    store.index.upsert({**row, "status": "running", "path": str(store.staging_root / first.run_id)})

    second = run_job(cfg, store_root=tmp_path / "runs", progress=False)
    assert second.run_id == first.run_id and second.resumed
    assert second.metrics == first.metrics and second.gate.passed == first.gate.passed
    assert [r.run_id for r in store.list_runs()] == [first.run_id]
    assert not (folder / "chunks").exists() and _is_sealed(folder)


# ------------------------------------------------------------------------ 4.5 no temporary file is published
def test_temporaries_of_a_killed_write_are_never_published(tmp_path) -> None:
    store = RunStore(tmp_path)
    writer = store.begin("k", make_manifest())
    writer.write_chunk("predict", 0, pd.DataFrame({"a": [1]}))
    writer.fail("killed")  # what a resumed job finds: staging with the killed write's temporaries
    staging = writer.staging_dir
    (staging / ".report.html.tmp-4242").write_text("half a report")
    (staging / ".token_attributions.parquet.tmp-4242").write_bytes(b"PAR1")
    (staging / "chunks" / "predict" / ".000001.parquet.tmp-4242").write_bytes(b"PAR1")

    resumed = store.begin("k", make_manifest())
    assert resumed.resumed and resumed.run_id == writer.run_id
    resumed.write_text("report.html", "<p>full report</p>")
    record = resumed.publish(manifest_updates={})
    names = [p.name for p in record.path.rglob("*")]
    assert not [n for n in names if ".tmp-" in n], names
    assert (record.path / "report.html").read_text() == "<p>full report</p>"


def test_a_published_run_with_a_stray_temporary_is_cleaned_by_the_next_job(tmp_path) -> None:
    store = RunStore(tmp_path)
    record = publish_run(store)
    stray = record.path / ".report.html.tmp-999"
    stray.write_text("x")
    writer = store.begin("other", make_manifest())
    assert not stray.exists() and _is_sealed(record.path)
    writer.fail("test done")


def test_finished_publish_without_a_recorded_verdict_evaluates_the_gate(tmp_path) -> None:
    """A run whose manifest holds no gate verdict must not be reported as 'gate passed': the gate
    is evaluated from its metrics (here min_accuracy 0.99 against 87.5%)."""
    from audit.engine.config import parse_config
    from audit.engine.job import _finished_result
    from tests.fixtures_runs import make_tables, metrics_of

    store = RunStore(tmp_path)
    tables = make_tables(wrong={1})
    writer = store.begin("k", make_manifest())
    for name, df in tables.items():
        writer.write_table(name, df)
    record = writer.publish(manifest_updates={"metrics": metrics_of(tables)})
    assert "gate" not in record.manifest
    cfg = parse_config({"model": "models/tiny", "datasets": [{"path": "x.tsv"}], "gate": {"min_accuracy": 0.99}})
    result = _finished_result(store, record, cfg, {})
    assert not result.gate.passed and any("min_accuracy" in b for b in result.gate.breaches)
