"""The driver-word flip probes run chunk by chunk on the job's executor (:mod:`audit.engine.flips`) and give
exactly what :func:`audit.attack.driver.driver_flip_rates` gives on all the probed texts at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit.attack.driver import driver_flip_rates
from audit.engine.config import load_config
from audit.engine.flips import FLIP_COLUMNS, STAGE_FLIP_CANDIDATES, STAGE_FLIP_COUNTS
from audit.engine.job import run_job
from audit.models.io import load_model_ref
from tests.test_engine_job import make_setup

FLIP_WORDS = ["great", "bad"]


def _expected(record: Any, config: Any, top: list[str]) -> pd.DataFrame:
    """``driver_flip_rates`` of the run's probed texts in one call, as the ``driver_flip_rates`` table."""
    model = load_model_ref(config.model)
    preds = record.table("predictions")
    toks = record.table("token_attributions").sort_values(["example_id", "position"], kind="mergesort")
    groups = dict(tuple(toks.groupby("example_id", sort=True)))
    ids = sorted(preds["example_id"].astype(int))
    tokens = [list(groups[i]["token"]) for i in ids]
    tags = [list(groups[i]["pos"]) for i in ids]
    golds = dict(zip(preds["example_id"].astype(int), preds["gold"].astype(int), strict=True))
    results = driver_flip_rates(model, tokens, top, config=config.attack.library_config(),
                                golds=[golds[i] for i in ids], tags=tags)
    rows = pd.DataFrame([r.to_row() for r in results], columns=FLIP_COLUMNS)
    return rows.astype({"n_texts": "int64", "n_flipped": "int64", "declared": "bool"})


def test_flip_probes_in_chunks_equal_one_call_over_all_texts(tmp_path: Path) -> None:
    path = make_setup(tmp_path, n_test=40, attack={"flip_top_words": 3, "flip_words": FLIP_WORDS, "max_texts": 2})
    config = load_config(path)
    chunks: list[tuple[str, int]] = []
    result = run_job(config, store_root=tmp_path / "runs", progress=False, on_chunk=lambda s, i: chunks.append((s, i)))
    # 40 probed texts in chunks of batch_size (4): both flip stages ran as 10 chunks each
    assert [i for s, i in chunks if s == STAGE_FLIP_CANDIDATES] == list(range(10))
    assert [i for s, i in chunks if s == STAGE_FLIP_COUNTS] == list(range(10))
    rates = result.record.table("driver_flip_rates")
    words = result.record.table("driver_words")
    top = list(dict.fromkeys(words.sort_values("rank")["word"].head(3).astype(str).tolist() + FLIP_WORDS))
    expected = _expected(result.record, config, top)
    assert len(rates) >= 4 and rates["n_texts_raw"].sum() > 10  # a non-trivial table
    pd.testing.assert_frame_equal(rates[FLIP_COLUMNS].reset_index(drop=True), expected[FLIP_COLUMNS],
                                  check_exact=True, check_dtype=False)
    drivers = result.record.table("variants")
    drivers = drivers[drivers["kind"] == "driver"]
    keys = list(zip(drivers["example_id"], drivers["variant"], strict=True))
    assert len(keys) == len(set(keys)) and (drivers["variant"] != drivers["original"]).all()
    assert (drivers["gold"] >= 0).all()


@pytest.mark.parametrize("batch_size", [3, 40])
def test_the_flip_tables_do_not_depend_on_the_chunk_size(tmp_path: Path, batch_size: int) -> None:
    """Chunks of 3 texts, or one chunk of every text: the same flip rates and driver variants as chunks of 4
    (the attribution chunks change with the batch size too, so only the flip tables are compared)."""
    attack = {"flip_top_words": 0, "flip_words": FLIP_WORDS + ["movie"], "max_texts": 0}
    a = run_job(load_config(make_setup(tmp_path / "a", n_test=30, attack=attack)), progress=False)
    b = run_job(load_config(make_setup(tmp_path / "b", n_test=30, attack=attack, batch_size=batch_size)),
                progress=False)
    for name in ("driver_flip_rates", "variants"):
        ta, tb = a.record.table(name), b.record.table(name)
        if name == "variants":
            cols = ["example_id", "original", "variant", "flipped", "valid", "direction", "declared", "swaps"]
            ta, tb = ta.loc[ta["kind"] == "driver", cols], tb.loc[tb["kind"] == "driver", cols]
        assert len(ta)
        pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True), check_exact=False,
                                      rtol=1e-6)
