"""``stream: true`` end to end in bounded memory: the final tables are written chunk by chunk, the findings,
driver words and POS statistics are accumulated per chunk, and the result is the in-memory run's tables,
identically; the findings' error cap is deterministic and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from audit.engine import job as job_module
from audit.engine import stream_findings
from audit.engine.config import load_config, parse_config
from audit.engine.executors.work import STAGE_PRED, STAGE_SEGMENTS, STAGE_TOKENS
from audit.engine.job import run_job
from audit.errors import StoreError
from audit.store import RunStore
from audit.store.records import RunRecord
from audit.store.writer import RunWriter
from tests.test_engine_job import assert_same_tables, make_setup, tables_of

NO_FLIPS = {"flip_top_words": 0, "flip_words": []}


def _count_tokenized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Per call of the job's ``attack_tokens``: how many texts of dataset ``tiny`` it tokenized."""
    tokenized: list[int] = []
    real_attack_tokens = job_module.attack_tokens

    def attack_tokens(*args: Any, **kw: Any) -> dict[str, list[list[str]]]:
        out = real_attack_tokens(*args, **kw)
        tokenized.append(sum(1 for toks in out["tiny"] if toks))
        return out

    monkeypatch.setattr(job_module, "attack_tokens", attack_tokens)
    return tokenized


def _streamed(config: Path, **overrides: Any) -> Any:
    data = yaml.safe_load(config.read_text())
    return parse_config({**data, "stream": True, **overrides})


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings blocks of 3 chunks of 8 texts (the default joins chunks up to 4096 texts: one block here)."""
    monkeypatch.setattr(stream_findings, "BLOCK_TEXTS", 20)


def test_a_streamed_run_of_a_few_hundred_texts_equals_the_in_memory_run(tmp_path: Path) -> None:
    config = make_setup(tmp_path, n_test=240, batch_size=8)  # 30 chunks, 10 blocks; attack + driver-word flips on
    whole = run_job(load_config(config), store_root=tmp_path / "a", progress=False)
    streamed = run_job(_streamed(config), store_root=tmp_path / "b", progress=False)
    a, b = tables_of(whole.record), tables_of(streamed.record)
    assert_same_tables(a, b)  # every run table, exactly (check_exact=True)
    assert len(a["predictions"]) == 240 and len(a["driver_stats"]) and len(a["driver_words"])
    assert len(a["minimal_fixes"]) == int((~a["predictions"]["correct"]).sum())
    ma, mb = whole.record.manifest, streamed.record.manifest
    assert ma["findings_sample"] == mb["findings_sample"]
    assert ma["findings_sample"]["capped"] is False
    assert ma["metrics"] == mb["metrics"] and ma["confirmed_drivers"] == mb["confirmed_drivers"]


def test_the_streamed_job_never_assembles_a_per_token_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails if the job (or its report) reads the token or segment chunks whole, or the final per-token table
    whole; the attack tokenizes only the texts it attacks."""
    config = make_setup(tmp_path, n_test=60, batch_size=8, attack={"max_texts": 4, **NO_FLIPS})
    whole = run_job(load_config(config), store_root=tmp_path / "a", progress=False)

    real_read_chunks, real_table = RunWriter.read_chunks, RunRecord.table

    def read_chunks(self: RunWriter, stage: str, **kw: Any) -> pd.DataFrame:
        if stage in (STAGE_TOKENS, STAGE_SEGMENTS):
            raise AssertionError(f"assembled the {stage} chunks")
        return real_read_chunks(self, stage, **kw)

    def table(self: RunRecord, name: str) -> pd.DataFrame:
        if name in ("token_attributions", "segments"):
            raise AssertionError(f"read the whole {name} table")
        return real_table(self, name)

    monkeypatch.setattr(RunWriter, "read_chunks", read_chunks)
    monkeypatch.setattr(RunRecord, "table", table)
    tokenized = _count_tokenized(monkeypatch)
    streamed = run_job(_streamed(config), store_root=tmp_path / "b", progress=False)
    for target in (RunWriter, RunRecord):
        monkeypatch.setattr(target, "read_chunks" if target is RunWriter else "table",
                            real_read_chunks if target is RunWriter else real_table)
    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    assert tokenized == [4]  # attack.max_texts texts, not all 60

    def failures(record: RunRecord) -> str:  # the report's heatmaps: read from the sampled failures' tokens only
        html = (record.path / "report.html").read_text()
        return html[html.index("<h2>Sample failures</h2>"):html.index("<h2>Sample flips</h2>")]

    assert failures(streamed.record) == failures(whole.record) and "<span" in failures(whole.record)


def test_the_error_cap_samples_deterministically_and_keeps_exact_counts(tmp_path: Path) -> None:
    config = make_setup(tmp_path, n_test=80, batch_size=8, attack={"enabled": False})
    full = run_job(load_config(config), store_root=tmp_path / "full", progress=False)
    n_errors = full.record.manifest["findings_sample"]["n_errors"]
    assert n_errors > 4, "the tiny model must make a few errors for this test"
    data = yaml.safe_load(config.read_text())
    capped_cfg = {**data, "findings": {"max_error_texts": 4}}
    capped = run_job(parse_config(capped_cfg), store_root=tmp_path / "c1", progress=False)
    again = run_job(_streamed(config, findings={"max_error_texts": 4}), store_root=tmp_path / "c2", progress=False)
    assert_same_tables(tables_of(capped.record), tables_of(again.record))  # same sample, in memory or streamed
    sample = capped.record.manifest["findings_sample"]
    assert sample == {"max_error_texts": 4, "n_errors": n_errors, "n_errors_tested": 4, "capped": True, "seed": 3}
    assert "a seeded sample of 4 of the" in (capped.record.path / "report.md").read_text()
    assert "seeded sample" not in (full.record.path / "report.md").read_text()
    t_full, t_cap = tables_of(full.record), tables_of(capped.record)
    assert len(t_cap["minimal_fixes"]) == 4 and t_cap["failure_drivers"][["dataset", "example_id"]].drop_duplicates(
        ).shape[0] <= 4
    # support, lift and contrast count every text: exact whatever the cap
    cols = ["scope", "kind", "unit", "n_texts", "n_errors", "lift", "p_lift", "p_contrast", "contrast_effect"]
    key = ["scope", "kind", "unit"]
    merged = t_cap["driver_stats"][cols].merge(t_full["driver_stats"][cols], on=key, suffixes=("", "_full"))
    assert len(merged) == len(t_cap["driver_stats"])
    for c in cols[3:]:
        pd.testing.assert_series_equal(merged[c], merged[f"{c}_full"], check_names=False, check_exact=True)
    # the raw driver words rank every error's REAT top words, not the sample's
    assert_same = pd.testing.assert_frame_equal
    assert_same(t_cap["driver_words"], t_full["driver_words"], check_exact=True)
    assert_same(t_cap["pos_stats"], t_full["pos_stats"], check_exact=True)


def _writer(tmp_path: Path) -> RunWriter:
    return RunStore(tmp_path / "runs").begin("key", {"test": True})


def test_a_table_written_from_chunks_reads_back_as_the_assembled_table(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    chunks = [
        pd.DataFrame({"a": [1, 2], "s": [None, None], "probs": [[0.1, 0.9], [0.5, 0.5]]}),
        pd.DataFrame(),  # an empty chunk (no columns) is skipped, as read_chunks skips it
        pd.DataFrame({"a": [3], "s": ["x"], "probs": [[1.0, 0.0]]}),
    ]
    for i, df in enumerate(chunks):
        writer.write_chunk("stage", i, df)
    assert writer.write_table_from_chunks("streamed", "stage") == 3
    writer.write_table("assembled", writer.read_chunks("stage"))
    got = pd.read_parquet(writer.staging_dir / "streamed.parquet")
    want = pd.read_parquet(writer.staging_dir / "assembled.parquet")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    writer.fail("test over")


def test_a_failed_chunk_copy_leaves_no_table_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    writer = _writer(tmp_path)
    for i in range(3):
        writer.write_chunk("stage", i, pd.DataFrame({"a": [i]}))

    def boom(self: Any, table: Any, *args: Any, **kw: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", boom)
    with pytest.raises(StoreError, match="table t"):
        writer.write_table_from_chunks("t", "stage")
    assert not any(p.name.startswith((".t.", "t.")) for p in writer.staging_dir.iterdir())
    writer.fail("test over")


def test_stage_names_are_the_attribution_chunks() -> None:
    assert job_module.FINAL_CHUNK_TABLES == {"predictions": STAGE_PRED, "token_attributions": STAGE_TOKENS,
                                             "segments": STAGE_SEGMENTS}


def test_the_flip_probes_hold_only_the_texts_under_their_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_setup(tmp_path, n_test=48, batch_size=8, attack={"max_texts": 3, "flip_top_words": 3,
                                                                   "flip_max_texts": 10})
    whole = run_job(load_config(config), store_root=tmp_path / "a", progress=False)
    tokenized = _count_tokenized(monkeypatch)
    streamed = run_job(_streamed(config), store_root=tmp_path / "b", progress=False)
    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    assert 10 <= tokenized[0] <= 13  # the probed texts (example ids 0-9) and the attacked ones, not all 48
    rates = tables_of(streamed.record)["driver_flip_rates"]
    assert len(rates) and (rates["n_texts_raw"] <= 10).all()


def test_tables_from_chunks_are_written_in_row_groups_of_whole_chunks(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A row group per 64-text chunk made a 1M-row table's footer ~30 MB (~200 MB of RSS for every reader):
    chunks are joined into row groups of up to ROW_GROUP_ROWS rows (here 20), never splitting a chunk,
    and the table is the chunks end to end."""
    import pyarrow.parquet as pq

    from audit.store import writer as writer_module

    monkeypatch.setattr(writer_module, "ROW_GROUP_ROWS", 20)
    store = RunStore(tmp_path / "store")
    writer = store.begin("key", {"config": {}})
    chunks = [pd.DataFrame({"example_id": range(8 * i, 8 * i + 8), "text": [f"t{j}" for j in range(8)]})
              for i in range(7)]
    for i, df in enumerate(chunks):
        writer.write_chunk("stage", i, df)
    assert writer.write_table_from_chunks("table", "stage") == 56
    pf = pq.ParquetFile(writer.staging_dir / "table.parquet")
    assert [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)] == [24, 24, 8]
    pd.testing.assert_frame_equal(pd.read_parquet(writer.staging_dir / "table.parquet"),
                                  pd.concat(chunks, ignore_index=True))
    writer.fail("test over")


def test_the_findings_read_each_chunk_once_then_only_the_blocks_with_errors(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Pass 1 reads every chunk's three tables; pass 2 only the blocks holding a tested error; the driver-word
    scores only the token tables (fails if a later pass rereads every chunk's predictions or segments)."""
    config = make_setup(tmp_path, n_test=240, batch_size=8, attack={"enabled": False})  # 30 chunks, 10 blocks
    reads: list[str] = []
    real = RunWriter.read_chunk

    def read_chunk(self: RunWriter, stage: str, index: int, **kw: Any) -> pd.DataFrame | None:
        reads.append(stage)
        return real(self, stage, index, **kw)

    monkeypatch.setattr(RunWriter, "read_chunk", read_chunk)
    res = run_job(_streamed(config, findings={"max_error_texts": 2}), store_root=tmp_path / "s", progress=False)
    assert res.record.manifest["findings_sample"]["capped"] is True  # 2 tested errors: in 1 or 2 of the 10 blocks
    pass2 = reads.count(STAGE_SEGMENTS) - 30
    assert 1 <= pass2 <= 6  # the chunks with an error of the 1 or 2 blocks (3 chunks each) holding the 2 tested
    assert reads.count(STAGE_TOKENS) == 30 + pass2 + 30  # + the driver-word scores, token tables only
