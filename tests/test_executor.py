"""Executor settings (no Ray needed): the `ray:` block's validation, the missing-extra error, the config hash,
and the local streamed path giving the same tables as the whole-file path."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.cli import main
from audit.engine.config import load_config, parse_config
from audit.engine.job import run_job
from audit.errors import ConfigError
from tests.test_engine_job import assert_same_tables, make_setup, tables_of

BASE: dict[str, Any] = {"model": "m", "datasets": [{"path": "d.tsv"}]}


@pytest.mark.parametrize(("ray", "field"), [
    ({"num_actors": 0}, "ray.num_actors"),
    ({"cpus_per_actor": -1}, "ray.cpus_per_actor"),
    ({"gpus_per_actor": "many"}, "ray.gpus_per_actor"),
    ({"batch_size": 0}, "ray.batch_size"),
    ({"adress": "auto"}, "ray.adress"),
    ({"max_retries": -2}, "ray.max_retries"),
])
def test_a_bad_ray_block_is_refused_naming_the_field(ray: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({**BASE, "executor": "ray", "ray": ray}, source="nightly.yaml")
    assert f"{field}:" in str(exc.value) and "nightly.yaml" in str(exc.value)


def test_an_unknown_executor_is_refused_naming_the_field_and_the_choices() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({**BASE, "executor": "spark"}, source="nightly.yaml")
    assert exc.value.exit_code == 3
    assert str(exc.value).startswith("nightly.yaml: executor:") and "'local' or 'ray'" in str(exc.value)


def test_execution_settings_do_not_change_the_config_hash() -> None:
    local = parse_config(BASE)
    ray = parse_config({**BASE, "executor": "ray", "stream": True, "ray": {"num_actors": 8, "address": "auto"}})
    assert local.config_hash() == ray.config_hash()
    assert local.job_dict() == ray.job_dict() and "executor" not in local.job_dict()
    assert ray.execution_dict()["ray"]["num_actors"] == 8 and local.execution_dict()["ray"] is None
    assert parse_config({**BASE, "seed": 1}).config_hash() != local.config_hash()


def _hide_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_executor_ray_without_ray_names_the_extra_before_a_run_opens(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(make_setup(tmp_path, n_test=6))
    _hide_ray(monkeypatch)
    with pytest.raises(ConfigError) as exc:
        run_job(cfg, executor="ray", progress=False)
    assert "reat-audit[ray]" in str(exc.value) and "executor: ray" in str(exc.value)
    assert not (tmp_path / "runs").exists()  # nothing opened, nothing half-written


def test_cli_executor_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_setup(tmp_path, n_test=6)
    assert main(["run", "--config", str(config), "--executor", "dask", "--no-progress"]) == 64  # a usage error
    err = capsys.readouterr().err
    assert "--executor" in err and "'dask'" in err and "local, ray" in err and "Usage:" in err
    assert not (tmp_path / "runs").exists()
    _hide_ray(monkeypatch)
    assert main(["run", "--config", str(config), "--executor", "ray", "--no-progress"]) == 3
    assert "pip install 'reat-audit[ray]'" in capsys.readouterr().err


def test_streamed_datasets_give_the_same_tables_and_run_key(tmp_path: Path) -> None:
    config = make_setup(tmp_path, n_test=30)
    cfg = load_config(config)
    whole = run_job(cfg, store_root=tmp_path / "a", progress=False)
    data = yaml.safe_load(config.read_text())
    streamed = run_job(parse_config({**data, "stream": True}), store_root=tmp_path / "a", progress=False)
    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    a, b = whole.record.manifest, streamed.record.manifest
    assert a["run_key"] == b["run_key"] and a["config_hash"] == b["config_hash"] and a["data"] == b["data"]
    assert {k: v for k, v in a["metrics"].items() if "new" not in k} == {k: v for k, v in b["metrics"].items() if "new" not in k}
    assert a["execution"] == {"stream": False, "ray": None} and b["execution"]["stream"] is True
    assert a["executor"] == b["executor"] == "local"


def test_a_worker_refuses_a_model_that_is_not_the_drivers(tmp_path: Path) -> None:
    from audit.engine.executors.work import load_worker_model
    from audit.errors import ModelError
    from audit.models.io import model_fingerprint

    make_setup(tmp_path, n_test=4)
    model_dir = str(tmp_path / "model")
    assert load_worker_model(model_dir, model_fingerprint(model_dir)).labels == ("negative", "positive")
    with pytest.raises(ModelError, match="not the one the driver audits"):
        load_worker_model(model_dir, "0" * 64)


def test_a_workers_encoded_chunk_is_written_as_write_chunk_writes_it(tmp_path: Path) -> None:
    import pandas as pd

    from audit.errors import StoreError
    from audit.store import RunStore
    from audit.store.writer import chunk_bytes

    writer = RunStore(tmp_path / "runs").begin("key", {"test": True})
    df = pd.DataFrame({"text": ["a", "b"], "score": [0.5, -1.25]}, index=[7, 9])
    writer.write_chunk("direct", 0, df)
    writer.write_chunk_bytes("encoded", 0, chunk_bytes(df))
    chunks = writer.staging_dir / "chunks"
    assert (chunks / "encoded" / "000000.parquet").read_bytes() == (chunks / "direct" / "000000.parquet").read_bytes()
    pd.testing.assert_frame_equal(writer.read_chunks("encoded"), df.reset_index(drop=True))
    with pytest.raises(StoreError, match="not a Parquet file"):
        writer.write_chunk_bytes("encoded", 1, b'{"not": "parquet"}')
    assert not writer.has_chunk("encoded", 1)
    writer.fail("test")
