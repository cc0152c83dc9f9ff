"""Run-wide statistics that need every row (ranks, order statistics) in bounded memory: the rows go to a
bucketed :class:`audit._spill.Spill`, on disk past a limit, and every table is the one computed in memory."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from audit._spill import Spill
from audit.engine.drivers import DriverWordCounts, driver_words, failure_drivers
from audit.engine.pos_stats import PosScores, pos_stats
from audit.findings import association
from audit.findings._inputs import build_inputs
from audit.findings.config import FindingsConfig
from audit.metrics import ALL_SCOPE

ROW = np.dtype([("k", "<i8"), ("v", "<f8")])
VOCAB = [f"w{i}" for i in range(40)] + ["the", "a", ",", "."]
TAGS = ["NN", "VBD", "VBZ", "JJ", "DT", "RB"]


def _rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.empty(n, dtype=ROW)
    rows["k"] = rng.integers(0, 1_000_000, n)
    rows["v"] = rng.normal(size=n)
    return rng.integers(0, 9, n), rows


def test_a_spill_gives_each_bucket_back_in_append_order_in_memory_and_on_disk() -> None:
    rng = np.random.default_rng(1)
    batches = [_rows(rng, n) for n in (50, 0, 13, 200, 1)]
    with Spill(ROW, memory_rows=10**9) as mem, Spill(ROW, memory_rows=60, name="test") as disk:
        for bucket, rows in batches:
            mem.append(bucket, rows)
            disk.append(bucket, rows)
        assert not mem.spilled and disk.spilled
        assert mem.n_rows == disk.n_rows == 264
        assert mem.bucket_ids == disk.bucket_ids == sorted({int(b) for b, _ in zip(*_cat(batches), strict=True)})
        every_bucket, every_row = _cat(batches)
        for b, rows in disk.buckets():
            expected = every_row[every_bucket == b]  # this bucket's rows, in the order appended
            np.testing.assert_array_equal(rows, expected)
            np.testing.assert_array_equal(mem.bucket(b), expected)
            np.testing.assert_array_equal(mem.bucket(b), expected)  # a second read is the same
        assert len(disk.bucket(99)) == len(mem.bucket(99)) == 0


def _cat(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b for b, _ in batches]), np.concatenate([r for _, r in batches])


def test_a_spill_moves_to_disk_past_its_limit_and_removes_its_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    spill = Spill(ROW, memory_rows=100, directory=tmp_path)
    spill.append(*_rows(rng, 100))
    assert not spill.spilled and not list(tmp_path.iterdir())  # at the limit: still in memory
    spill.append(*_rows(rng, 1))
    assert spill.spilled
    (folder,) = tmp_path.iterdir()
    assert sum(p.stat().st_size for p in folder.iterdir()) == 101 * ROW.itemsize
    spill.close()
    assert not folder.exists() and spill.n_rows == 0
    again = Spill(ROW, memory_rows=0, directory=tmp_path)
    again.append(*_rows(rng, 5))
    (folder,) = tmp_path.iterdir()
    del again
    gc.collect()
    assert not folder.exists()  # an abandoned spill leaves nothing behind
    with pytest.raises(ValueError, match="3 rows for 2 bucket ids"):
        Spill(ROW).append(np.zeros(2, dtype=np.int64), np.zeros(3, dtype=ROW))


def _run_tables(n_texts: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random run: predictions of two datasets (25% errors) and their tokens (scores with ties)."""
    rng = np.random.default_rng(seed)
    pred = pd.DataFrame({"dataset": np.where(np.arange(n_texts) < n_texts // 3, "dev", "test"),
                         "example_id": np.arange(n_texts), "gold": rng.integers(0, 2, n_texts)})
    wrong = rng.random(n_texts) < 0.25
    pred["pred"] = np.where(wrong, 1 - pred["gold"], pred["gold"])
    pred["correct"] = ~wrong
    lengths = rng.integers(3, 12, n_texts)
    rows = [(d, e, i, VOCAB[int(rng.integers(0, len(VOCAB)))], TAGS[int(rng.integers(0, len(TAGS)))],
             float(np.round(rng.normal() + (0.8 if w else 0.0), 1)))
            for d, e, w, n in zip(pred["dataset"], pred["example_id"], wrong, lengths, strict=True) for i in range(n)]
    toks = pd.DataFrame(rows, columns=["dataset", "example_id", "position", "token", "pos", "score_pred"])
    return pred, toks


def _blocks(pred: pd.DataFrame, toks: pd.DataFrame, size: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    out = []
    for start in range(0, len(pred), size):
        p = pred.iloc[start:start + size].reset_index(drop=True)
        t = toks[toks["example_id"].between(int(p["example_id"].min()), int(p["example_id"].max()))]
        out.append((p, t.reset_index(drop=True)))
    return out


def _association(pred: pd.DataFrame, toks: pd.DataFrame, *, block: int, memory_rows: int | None,
                 cfg: FindingsConfig) -> tuple[dict[str, pd.DataFrame], association.WholeRun]:
    whole = association.WholeRun(phrases=False, memory_rows=memory_rows)
    for p, t in _blocks(pred, toks, block):
        whole.add(build_inputs(p, t, None, top_k=3, stopwords=frozenset({"the", "a"})))
    return whole.association(cfg), whole


CFG = FindingsConfig(min_texts=5, min_errors=2)


def test_the_association_tests_are_identical_in_memory_spilled_by_block_and_in_runs_of_units(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pred, toks = _run_tables()
    one, w1 = _association(pred, toks, block=len(pred), memory_rows=None, cfg=CFG)
    spilled, w2 = _association(pred, toks, block=37, memory_rows=0, cfg=CFG)
    monkeypatch.setattr(association, "CONTRAST_ROWS", 7)  # one unit per Mann-Whitney call, or a few
    split, _ = _association(pred, toks, block=101, memory_rows=50, cfg=CFG)
    assert not w1.spilled and w2.spilled
    assert list(one) == [ALL_SCOPE, "dev", "test"]
    for scope, table in one.items():
        assert table["supported"].sum() > 10 and table["p_contrast"].notna().sum() > 10, scope
        pd.testing.assert_frame_equal(table, spilled[scope], check_exact=True)
        pd.testing.assert_frame_equal(table, split[scope], check_exact=True)
    with pytest.raises(RuntimeError, match="after association"):
        w2.add(build_inputs(pred, toks, None, top_k=3, stopwords=frozenset()))
    w1.close()
    w2.close()


def test_the_association_counts_and_tests_match_a_direct_computation() -> None:
    pred, toks = _run_tables(seed=3)
    tables, whole = _association(pred, toks, block=50, memory_rows=0, cfg=CFG)
    units = whole.units().set_index("uid")
    err = pred.set_index(["dataset", "example_id"])["correct"].eq(False)
    for scope in (ALL_SCOPE, "test"):
        t = toks if scope == ALL_SCOPE else toks[toks["dataset"] == scope]
        table = tables[scope].set_index("uid")
        table.index = units.loc[table.index, "unit"]
        docs = t.groupby("token")[["dataset", "example_id"]].apply(
            lambda g: g.drop_duplicates().itertuples(index=False, name=None))
        for word in ("w3", "the", ","):
            keys = list(docs[word])
            assert table.loc[word, "n_texts"] == len(keys), (scope, word)
            assert table.loc[word, "n_errors"] == sum(bool(err[k]) for k in keys), (scope, word)
        word = "w5"
        best = t[t["token"] == word].groupby(["dataset", "example_id"])["score_pred"].max()
        in_err = np.array([bool(err[k]) for k in best.index])
        mw = st.mannwhitneyu(best[in_err], best[~in_err], alternative="greater", method="asymptotic")
        assert table.loc[word, "p_contrast"] == pytest.approx(mw.pvalue, rel=1e-9)
    whole.close()


def test_driver_words_and_pos_statistics_are_identical_spilled_and_in_memory() -> None:
    pred, toks = _run_tables(seed=4)
    drivers = failure_drivers(pred, toks, pd.DataFrame(columns=["example_id", "dataset", "level", "start", "end",
                                                                "text", "score_pred"]), top_k=3, levels=("word",))
    labels = ["negative", "positive"]
    expected = driver_words(pred, toks, drivers, label_names=labels)
    counts = DriverWordCounts(memory_rows=10)
    pos = PosScores(memory_rows=10)
    blocks = _blocks(pred, toks, 23)
    for p, t in blocks:
        keys = set(zip(p["dataset"], p["example_id"], strict=True))
        counts.add(p, t, drivers[[k in keys for k in zip(drivers["dataset"], drivers["example_id"], strict=True)]])
        pos.add(t)
    for _, t in blocks:
        counts.add_scores(t)
    assert counts._occurrences.spilled and pos._scores.spilled
    assert len(expected) > 20
    pd.testing.assert_frame_equal(counts.finish(label_names=labels), expected, check_exact=True)
    pd.testing.assert_frame_equal(pos.finish(), pos_stats(toks), check_exact=True)
    the = toks.loc[toks["token"] == "the", "score_pred"]
    row = expected.set_index("word").loc["the"]
    assert row["n_occurrences"] == len(the) and row["mean_score"] == pytest.approx(the.mean(), rel=1e-12)


def test_a_streamed_job_that_spills_gives_the_in_memory_run_and_leaves_no_scratch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from audit import _spill
    from audit.engine import stream_findings
    from audit.engine.config import load_config, parse_config
    from audit.engine.job import run_job
    from tests.test_engine_job import assert_same_tables, make_setup, tables_of

    monkeypatch.setattr(stream_findings, "BLOCK_TEXTS", 20)
    config = make_setup(tmp_path, n_test=120, batch_size=8, attack={"max_texts": 4, "flip_top_words": 2})
    whole = run_job(load_config(config), store_root=tmp_path / "a", progress=False)
    folders: list[Path] = []
    real_to_disk = _spill.Spill._to_disk

    def to_disk(self: _spill.Spill) -> None:
        real_to_disk(self)
        assert self._dir is not None
        folders.append(self._dir)

    monkeypatch.setattr(_spill, "SPILL_ROWS", 50)
    monkeypatch.setattr(_spill.Spill, "_to_disk", to_disk)
    data = yaml.safe_load(config.read_text())
    streamed = run_job(parse_config({**data, "stream": True}), store_root=tmp_path / "b", progress=False)
    assert_same_tables(tables_of(whole.record), tables_of(streamed.record))
    names = sorted(f.name.split("-")[3] for f in folders)
    assert names == ["driver", "pos", "presence"], names  # every accumulator spilled ...
    assert all(f.parent.name == "_scratch" and f.parent.parent.name == "chunks" for f in folders)
    assert not any(f.exists() for f in folders)  # ... into the run's scratch folder, removed when done
    assert not (streamed.record.path / "chunks").exists()
