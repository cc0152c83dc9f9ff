"""The Ray executor on a local Ray (2 CPUs, started here): the same tables as the local executor, streamed
blocks read by the workers, and recovery from a worker killed mid-run (Ray retry, or exit 8 then resume).

Skipped only when Ray is not importable (``pip install 'reat-audit[ray]'``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from audit.engine.config import parse_config
from audit.engine.executors import CrashOnce
from audit.engine.job import run_job
from audit.errors import DataError, ExecutorError
from tests.test_engine_job import _rows, _write_tsv, assert_same_tables, make_setup, tables_of

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'reat-audit[ray]'")

# the executor passes no deprecated Ray argument (``**ray_remote_args`` goes in Ray 2.64)
pytestmark = pytest.mark.filterwarnings("error::ray.util.annotations.RayDeprecationWarning")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook below travels to the workers by value

N_TEXTS = 200
MANIFEST_KEYS = ("run_key", "config", "config_hash", "data", "model_hash", "labels", "seed")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("ray")
    config = make_setup(folder, n_test=N_TEXTS, batch_size=25, attack={"max_texts": 6})
    return {"folder": folder, "data": yaml.safe_load(config.read_text())}


@pytest.fixture(scope="module")
def local_run(setup: dict[str, Any]) -> Any:
    return run_job(parse_config(setup["data"]), store_root=setup["folder"] / "local", progress=False)


def _config(setup: dict[str, Any], **extra: Any) -> Any:
    ray_block = {"num_actors": 2, "max_retries": 2, **extra.pop("ray", {})}
    return parse_config({**setup["data"], "executor": "ray", "ray": ray_block, **extra})


ATTRIBUTION_TABLES = ("predictions", "token_attributions", "segments", "failure_drivers", "driver_words", "pos_stats")


def _same_run(local: Any, other: Any, *, attack: bool = True) -> None:
    a, b = local.record.manifest, other.record.manifest
    assert a["executor"] == "local" and b["executor"] == "ray"
    if attack:
        assert_same_tables(tables_of(local.record), tables_of(other.record))
        assert {k: a[k] for k in MANIFEST_KEYS} == {k: b[k] for k in MANIFEST_KEYS}
        assert a["metrics"] == b["metrics"]
        return
    for name in ATTRIBUTION_TABLES:  # the attack is off in this run: the tables before it are the same
        pd.testing.assert_frame_equal(local.record.table(name), other.record.table(name), check_exact=True, obj=name)
    assert a["data"] == b["data"] and a["model_hash"] == b["model_hash"]


def test_ray_gives_the_local_tables(local_ray: None, setup: dict[str, Any], local_run: Any) -> None:
    assert len(local_run.record.table("predictions")) == N_TEXTS
    result = run_job(_config(setup), store_root=setup["folder"] / "local", progress=False)  # same store: same key
    _same_run(local_run, result)
    assert result.record.manifest["execution"]["ray"]["num_actors"] == 2


def test_ray_workers_read_streamed_blocks_and_a_killed_worker_is_retried(
    local_ray: None, setup: dict[str, Any], local_run: Any, tmp_path: Path,
) -> None:
    marker = tmp_path / "crashed"
    cfg = _config(setup, stream=True, attack={**setup["data"]["attack"], "enabled": False})
    result = run_job(cfg, store_root=tmp_path / "runs", progress=False,
                     on_worker_chunk=CrashOnce(str(marker), "predict_attr", 3))
    assert marker.exists()  # a worker did die at chunk 3; Ray restarted it and retried the chunk
    _same_run(local_run, result, attack=False)


def test_worker_killed_past_retries_fails_with_exit_8_and_a_rerun_resumes(
    local_ray: None, setup: dict[str, Any], local_run: Any, tmp_path: Path,
) -> None:
    marker = tmp_path / "crashed"
    cfg = _config(setup, ray={"max_retries": 0, "num_actors": 1}, attack={**setup["data"]["attack"], "enabled": False})
    store = tmp_path / "runs"
    written: list[int] = []
    with pytest.raises(ExecutorError) as exc:
        run_job(cfg, store_root=store, progress=False, on_chunk=lambda s, i: written.append(i),
                on_worker_chunk=CrashOnce(str(marker), "predict_attr", 5))
    assert exc.value.exit_code == 8 and "rerun" in str(exc.value)
    assert "chunk 5 of the attribution stage killed its Ray worker 1 time(s) (ray.max_retries: 0)" in str(exc.value)
    assert 5 not in written  # the chunks written before the crash are kept (see the resume below)
    done: list[int] = []
    resumed = run_job(cfg, store_root=store, progress=False, on_chunk=lambda s, i: done.append(i))
    assert resumed.resumed and sorted(done + written) == list(range(N_TEXTS // 25))  # only the missing chunks ran
    _same_run(local_run, resumed, attack=False)


@dataclass(frozen=True)
class _BadRowInWorker:
    def __call__(self, stage: str, index: int) -> None:
        if index == 1:
            raise DataError("bad row seen by a worker", path="big.tsv", line=77, hint="fix the row")


def test_a_workers_audit_error_reaches_the_driver_as_itself(local_ray: None, setup: dict[str, Any],
                                                              tmp_path: Path) -> None:
    cfg = _config(setup, ray={"num_actors": 1}, attack={**setup["data"]["attack"], "enabled": False})
    with pytest.raises(DataError) as exc:
        run_job(cfg, store_root=tmp_path / "runs", progress=False, on_worker_chunk=_BadRowInWorker())
    assert exc.value.exit_code == 4 and str(exc.value) == "big.tsv:77: bad row seen by a worker (fix: fix the row)"


BAD_LINES = {4: "7x\tan unknown label", 30: "1\t", 77: "0\tthe plot\x00 is dull .", 151: "maybe\tgood fun",
             226: "0\t", 298: "x1\tanother unknown label"}


def test_a_streamed_ray_run_skips_the_same_bad_rows_and_writes_the_local_tables(
    local_ray: None, setup: dict[str, Any], tmp_path: Path,
) -> None:
    """``on_bad_rows: skip`` + ``stream: true`` on Ray (the workers read the blocks, bad rows and all) gives the
    tables and skipped rows of the local whole-file run."""
    path = _write_tsv(tmp_path / "bad.tsv", _rows(300, seed=7))
    lines = path.read_text(encoding="utf-8").splitlines()
    for line, text in BAD_LINES.items():
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {**setup["data"], "datasets": [{"name": "bad", "path": str(path), "on_bad_rows": "skip"}],
            "attack": {**setup["data"]["attack"], "enabled": False}}
    local = run_job(parse_config(data), store_root=tmp_path / "runs", progress=False)
    result = run_job(_config({**setup, "data": data}, stream=True), store_root=tmp_path / "runs", progress=False)
    a, b = local.record.manifest, result.record.manifest
    assert [r["line"] for r in a["skipped_rows"]] == sorted(BAD_LINES)  # the file really has these bad rows
    assert b["skipped_rows"] == a["skipped_rows"] and b["execution"]["stream"] is True
    assert a["metrics"]["n_skipped_rows"] == len(BAD_LINES) and len(local.record.table("predictions")) == 300 - len(BAD_LINES)
    assert a["metrics"] == b["metrics"] and a["run_key"] == b["run_key"]
    _same_run(local, result, attack=False)
    assert not set(BAD_LINES) & set(result.record.table("predictions")["line"])
