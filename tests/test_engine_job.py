"""The nightly job end to end on a tiny GRU: tables, resume after a crash, determinism.

``make_setup`` (also used by tests/test_cli_run.py) writes a tiny trained model,
tiny TSV datasets and a nightly config into ``tmp_path``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from audit.data.tokenize import tokenize
from audit.data.vocab import PAD, UNK, Vocab
from audit.engine.config import load_config
from audit.engine.job import run_job
from audit.models.base import AuditModel, RecurrentClassifier
from audit.models.io import save_model
from audit.store import RunStore
from audit.store.schemas import SCHEMAS, columns

POS = ["good", "great", "fun", "charming", "wonderful", "outstanding", "effective"]
NEG = ["bad", "dull", "terrible", "boring", "awful", "tedious", "slow"]
ADV = ["very", "extremely", "terribly", "really"]
NOUN = ["movie", "film", "plot", "story", "cast"]
SYNONYMS = {"really": ["very", "extremely"], "terribly": ["extremely"], "fun": ["charming"], "good": ["great"],
            "bad": ["awful"], "dull": ["boring"], "little": ["bit"], "cast": ["film"], "plot": ["story"]}
TABLES = (*SCHEMAS, "driver_words")  # every run table (schemas owned by audit.store.schemas)


def _sentence(rng: random.Random, label: int) -> str:
    adj = rng.choice(POS if label else NEG)
    other = rng.choice(NEG if label else POS)
    noun, adv = rng.choice(NOUN), rng.choice(ADV)
    forms = [
        f"the {noun} is {adv} {adj} .",
        f"a {adj} {noun} .",
        f"the {noun} was {adj} and {adv} {adj} .",
        f"it is {adv} {adj} , but a little {other} .",
        f"{adv} {adj} {noun} , the cast is {adj} .",
    ]
    return rng.choice(forms)


def _rows(n: int, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    return [(i % 2, _sentence(rng, i % 2)) for i in range(n)]


def _write_tsv(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("label\ttext\n" + "".join(f"{lab}\t{text}\n" for lab, text in rows), encoding="utf-8")
    return path


def tiny_model(train: list[tuple[int, str]], *, seed: int = 0, steps: int = 8) -> AuditModel:
    """A GRU trained for a few steps: mostly right, with some errors left to audit."""
    words = sorted({t for _, text in train for t in tokenize(text)} | set(POS + NEG + ADV + NOUN + ["big", "tough"]))
    vocab = Vocab([PAD, UNK] + words)
    torch.manual_seed(seed)
    module = RecurrentClassifier(nn.Embedding(len(vocab), 8, padding_idx=0), nn.GRU(8, 8, batch_first=True),
                                 nn.Linear(8, 2))
    model = AuditModel(module=module, vocab=vocab, tokenizer=tokenize, labels=("negative", "positive"), name="tiny")
    enc = model.encode([text for _, text in train])
    gold = torch.tensor([lab for lab, _ in train])
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(module(enc.ids, enc.lengths), gold).backward()
        opt.step()
    module.eval()
    return model


def make_setup(tmp_path: Path, *, n_test: int = 20, attack: dict[str, Any] | None = None,
               gate: dict[str, Any] | None = None, **overrides: Any) -> Path:
    """Model dir + train/test TSVs + nightly.yaml in ``tmp_path``; returns the config path."""
    train = _rows(60, seed=1)
    model_dir = tmp_path / "model"
    if not model_dir.exists():
        save_model(tiny_model(train), model_dir)
    _write_tsv(tmp_path / "train.tsv", train)
    _write_tsv(tmp_path / "test.tsv", _rows(n_test, seed=2))
    config = {
        "model": str(model_dir),
        "datasets": [{"name": "tiny", "path": str(tmp_path / "test.tsv")}],
        "train_data": {"path": str(tmp_path / "train.tsv")},
        "batch_size": 4,
        "max_len": 9,
        "seed": 3,
        "store": str(tmp_path / "runs"),
        "attack": {"max_texts": 3, "flip_top_words": 3, "query_budget": 60, "max_candidates": 5,
                   "extra_synonyms": SYNONYMS, **(attack or {})},
        "gate": gate or {"min_accuracy": 0.0},
        **overrides,
    }
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def tables_of(record: Any) -> dict[str, pd.DataFrame]:
    return {name: record.table(name) for name in TABLES}


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def setup_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_setup(tmp_path_factory.mktemp("job")).parent


@pytest.fixture(scope="module")
def baseline(setup_dir: Path) -> Any:
    cfg = load_config(setup_dir / "nightly.yaml")
    return run_job(cfg, store_root=setup_dir / "runs-a", progress=False)


def test_end_to_end_tables_and_manifest(baseline: Any) -> None:
    rec = baseline.record
    assert rec.status == "complete" and rec.path.name == baseline.run_id
    t = tables_of(rec)
    preds, toks = t["predictions"], t["token_attributions"]
    assert len(preds) == 20 and preds["example_id"].tolist() == list(range(20))
    for name in TABLES:
        assert list(t[name].columns) == columns(name, label_names=rec.label_names()), name
    assert preds["line"].tolist() == list(range(2, 22))
    assert preds["completeness_delta"].max() < 1e-4  # REAT is exact up to float32 rounding
    assert (preds["n_tokens"] <= 9).all()
    # every token row belongs to a prediction; scores toward pred sum to the logit minus bias
    assert len(toks) == preds["n_tokens"].sum()
    assert set(toks["pos"]) and toks["upos"].notna().all()
    assert set(t["segments"]["level"]) <= {"phrase", "clause"}
    errors = preds[~preds["correct"]]
    assert set(t["failure_drivers"]["example_id"]) <= set(errors["example_id"])
    assert {"train_count_negative", "train_count_positive", "train_label_skew"} <= set(t["driver_words"].columns)
    assert t["pos_stats"]["n"].sum() == len(toks)
    text_variants = t["variants"][t["variants"]["kind"] == "text"]
    assert len(text_variants) == min(3, int(preds["correct"].sum()))
    assert text_variants["example_id"].tolist() == preds[preds["correct"]]["example_id"].head(3).tolist()
    assert t["variants"]["variant_id"].tolist() == list(range(len(t["variants"])))
    assert list(t["driver_flip_rates"].columns) == ["word", "replacement", "direction", "n_texts", "n_flipped", "rate",
                                                    "declared", "n_breaks", "n_fixes", "n_texts_raw", "n_flipped_raw"]
    m = rec.manifest
    for key in ("config", "config_hash", "model_ref", "model_hash", "data", "code_version", "seed", "timings",
                "metrics", "gate", "previous_run_id"):
        assert key in m, key
    assert m["seed"] == 3 and m["status"] == "complete" and m["previous_run_id"] is None
    assert set(m["data"]) == {"tiny", "train_data"}
    assert {"attribution", "findings", "attack", "attribution_and_findings"} <= set(m["timings"])
    metrics = m["metrics"]
    assert metrics["n_examples"] == 20 and metrics["n_errors"] == int((~preds["correct"]).sum())
    assert metrics["accuracy"] == pytest.approx(preds["correct"].mean())
    assert metrics["n_truncated"] == int((preds["text"].map(lambda s: len(tokenize(s))) > 9).sum())
    assert metrics["n_attacked"] == len(text_variants)
    assert m["gate"]["passed"] is True
    assert (rec.path / "report.md").is_file() and (rec.path / "report.html").is_file()


class _Crash(Exception):
    pass


def _crash_after(stage: str, index: int):  # noqa: ANN202
    def hook(s: str, i: int) -> None:
        if s == stage and i == index:
            raise _Crash(f"killed after {s}/{i}")

    return hook


@pytest.mark.parametrize("stage,index", [("predict_attr", 2), ("attack", 0), ("flip_candidates", 1), ("flip_counts", 1)])
def test_crash_then_resume_equals_uninterrupted(setup_dir: Path, baseline: Any, stage: str, index: int) -> None:
    cfg = load_config(setup_dir / "nightly.yaml")
    store_dir = setup_dir / f"runs-crash-{stage}"
    with pytest.raises(_Crash):
        run_job(cfg, store_root=store_dir, progress=False, on_chunk=_crash_after(stage, index))
    store = RunStore(store_dir)
    assert store.latest_complete() is None  # the half-written run is not listed as complete
    assert [r.status for r in store.list_runs()] == ["failed"]

    done: list[tuple[str, int]] = []
    resumed = run_job(cfg, store_root=store_dir, progress=False, on_chunk=lambda s, i: done.append((s, i)))
    assert resumed.resumed
    assert (stage, index) not in done and (stage, 0) not in done  # completed chunks were skipped
    assert_same_tables(tables_of(resumed.record), tables_of(baseline.record))
    assert [r.status for r in store.list_runs()] == ["complete"]


def test_no_resume_starts_a_fresh_run(setup_dir: Path) -> None:
    cfg = load_config(setup_dir / "nightly.yaml")
    store_dir = setup_dir / "runs-noresume"
    cfg = cfg.model_copy(update={"attack": cfg.attack.model_copy(update={"enabled": False})})
    with pytest.raises(_Crash):
        run_job(cfg, store_root=store_dir, progress=False, on_chunk=_crash_after("predict_attr", 1))
    done: list[tuple[str, int]] = []
    fresh = run_job(cfg, store_root=store_dir, resume=False, progress=False, on_chunk=lambda s, i: done.append((s, i)))
    assert not fresh.resumed and ("predict_attr", 0) in done
    assert fresh.record.table("variants").empty and fresh.metrics["attack_success_rate"] is None
    # the abandoned run is discarded, folder and index row: nothing left to resume by mistake, no disk leak
    assert list((store_dir / ".staging").iterdir()) == []
    assert [r.run_id for r in RunStore(store_dir).list_runs()] == [fresh.run_id]


def test_flip_words_are_measured_besides_the_top_drivers(setup_dir: Path) -> None:
    cfg = load_config(setup_dir / "nightly.yaml")
    attack = cfg.attack.model_copy(update={"flip_top_words": 0, "flip_words": ["Terribly"], "max_texts": 0})
    result = run_job(cfg.model_copy(update={"attack": attack}), store_root=setup_dir / "runs-flipwords", progress=False)
    flips = result.record.table("driver_flip_rates")
    # only the declared word; its declared synonym (plus WordNet's) in both directions
    assert set(flips["word"]) == {"terribly"} and "extremely" in set(flips["replacement"])
    pair = flips[flips["replacement"] == "extremely"]
    assert set(pair["direction"]) == {"from", "to"} and (pair["n_texts"] > 0).all()


def test_same_inputs_and_seed_give_identical_tables(setup_dir: Path, baseline: Any) -> None:
    cfg = load_config(setup_dir / "nightly.yaml")
    again = run_job(cfg, store_root=setup_dir / "runs-a", progress=False)
    assert again.run_id != baseline.run_id
    assert again.previous_run_id == baseline.run_id  # diffed against the previous complete run
    assert again.diff is not None and again.diff.new_failures == []
    assert_same_tables(tables_of(again.record), tables_of(baseline.record))



def test_tables_do_not_draw_on_the_global_random_state(setup_dir: Path, baseline: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of reat-audit in the job (REAT, findings, the greedy attack, driver flips) draws from the
    global random state that ``seed_everything`` sets: other global seeds give the same tables.  The seeding
    stays for code the job runs but does not own (a ``module:function`` model, third-party libraries)."""
    from audit.engine.meta import seed_everything

    def other_seed(seed: int) -> None:
        seed_everything(seed + 7919)

    for module in ("audit.engine.job", "audit.engine.executors.work"):  # the flip probes seed in work.py
        monkeypatch.setattr(f"{module}.seed_everything", other_seed)
    cfg = load_config(setup_dir / "nightly.yaml")
    other = run_job(cfg, store_root=setup_dir / "runs-other-global-seed", progress=False)
    assert_same_tables(tables_of(other.record), tables_of(baseline.record))

def test_nan_completeness_delta_is_not_skipped_and_breaches_the_gate() -> None:
    import math

    from audit.engine.job import compute_metrics
    from audit.gate import GateConfig, evaluate_gate

    preds = pd.DataFrame({"correct": [True, False], "completeness_delta": [1e-6, float("nan")]})
    metrics = compute_metrics(preds, pd.DataFrame(), n_truncated=0, max_len=None)
    assert math.isnan(metrics["max_completeness_delta"])
    result = evaluate_gate(GateConfig(), metrics, None)
    assert not result.passed and any("max_completeness_delta" in b for b in result.breaches)


def test_source_version_marks_uncommitted_audit_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from audit.engine import meta

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "m.py").write_text("x = 1\n")
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(git + ["add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "c"], cwd=tmp_path, check=True)
    clean = meta.source_version(tmp_path)
    assert clean is not None and len(clean) == 40
    (tmp_path / "notes.txt").write_text("outside audit/: not code")
    assert meta.source_version(tmp_path) == clean
    (tmp_path / "audit" / "m.py").write_text("x = 2\n")
    assert meta.source_version(tmp_path) == clean + "+dirty"

    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("git")

    monkeypatch.setattr(meta.subprocess, "run", no_git)
    assert meta.source_version(tmp_path) is None and meta.code_version()["git_commit"] is None
