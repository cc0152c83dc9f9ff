"""``audit harden``: config validation, augmentation, the differentiable REAT, and the whole loop."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

from audit.attribution import reat_scores
from audit.attribution import reat_scores_differentiable
from audit.errors import ConfigError
from audit.harden import harden, load_harden_config, parse_harden_config
from audit.harden.augment import counterfactual_examples, reat_mass_term
from audit.harden.config import CounterfactualStrategy
from audit.store import RunStore

POSITIVE = ("good", "great", "fun", "brilliant")
NEGATIVE = ("bad", "awful", "boring", "dull")
FILLER = ("the", "movie", "film", "is", "a", "and", "plot", "was", "very", "story", "acting", ",")
PLANT = "zeroa"


# ----------------------------------------------------------------------------- config
def test_bad_fields_are_refused_with_the_field_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategies\.counterfactual\.mode"):
        parse_harden_config({"strategies": {"counterfactual": {"mode": "delete"}}})
    with pytest.raises(ConfigError, match=r"strategies\.adversarial\.fractoin"):
        parse_harden_config({"strategies": {"adversarial": {"fractoin": 0.2}}})
    with pytest.raises(ConfigError, match=r"regularise"):
        parse_harden_config({"strategies": {"regularise": {"weights": [0.0]}}})
    path = tmp_path / "harden.yaml"
    path.write_text("epochs: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"harden\.yaml.*epochs"):
        load_harden_config(path)


def test_shipped_config_loads() -> None:
    cfg = load_harden_config(Path(__file__).resolve().parents[1] / "configs" / "harden.yaml")
    assert cfg.strategies.counterfactual.enabled and cfg.strategies.regularise.weights == [1.0, 10.0, 100.0]


# ----------------------------------------------------------------------------- augmentation
def test_counterfactual_copies_and_balance_decorrelate_the_driver() -> None:
    tokens = [["a", PLANT, "bad"], ["the", PLANT, "dull"], ["good", "film"], ["great", "fun"], ["fun", "plot"]]
    labels = [0, 0, 1, 1, 1]
    aug = counterfactual_examples(tokens, labels, [PLANT], strategy=CounterfactualStrategy(), seed=1)
    assert aug.counts == {"counterfactual_copies": 2, "counterfactual_insertions": 2}
    copies, inserted = aug.tokens[:2], aug.tokens[2:]
    assert copies == [["a", "bad"], ["the", "dull"]] and aug.labels[:2] == [0, 0]
    assert all(PLANT in t for t in inserted) and aug.labels[2:] == [1, 1]
    # after augmentation the driver occurs equally often with each label
    all_t, all_l = tokens + aug.tokens, labels + aug.labels
    with_plant = [y for t, y in zip(all_t, all_l) if PLANT in t]
    assert with_plant.count(0) == with_plant.count(1)
    again = counterfactual_examples(tokens, labels, [PLANT], strategy=CounterfactualStrategy(), seed=1)
    assert again.tokens == aug.tokens  # seeded
    unk = counterfactual_examples(tokens, labels, [PLANT], strategy=CounterfactualStrategy(mode="unk", balance=False),
                                  seed=1)
    assert unk.tokens == [["a", "<unk>", "bad"], ["the", "<unk>", "dull"]]


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bi", [False, True])
def test_differentiable_reat_equals_reat_scores_and_has_gradients(cell: type, layers: int, bi: bool) -> None:
    torch.manual_seed(0)
    rnn = cell(5, 4, num_layers=layers, batch_first=True, bidirectional=bi).double()
    head = nn.Linear(4 * (2 if bi else 1), 3).double()
    emb = torch.randn(3, 7, 5, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([7, 3, 1])
    got = reat_scores_differentiable(rnn, head, emb, lengths)
    torch.testing.assert_close(got.detach(), reat_scores(rnn, head, emb.detach(), lengths), rtol=0, atol=1e-12)
    assert (got[1, 3:] == 0).all() and (got[2, 1:] == 0).all()
    got.pow(2).sum().backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0
    assert rnn.weight_hh_l0.grad is not None and float(rnn.weight_hh_l0.grad.abs().sum()) > 0


def test_reat_mass_term_is_zero_without_drivers_and_positive_with() -> None:
    from audit.models.base import RecurrentClassifier

    torch.manual_seed(0)
    module = RecurrentClassifier(nn.Embedding(6, 4, padding_idx=0), nn.GRU(4, 3, batch_first=True), nn.Linear(3, 2))
    term = reat_mass_term([5], 2.0)
    ids, lengths = torch.tensor([[2, 3, 4], [2, 5, 0]]), torch.tensor([3, 2])
    value = term(module, ids, lengths)
    assert value.requires_grad and float(value.detach()) > 0
    assert float(term(module, torch.tensor([[2, 3, 4]]), torch.tensor([3]))) == 0.0


# ----------------------------------------------------------------------------- the whole loop
def _texts(n: int, *, seed: int, plant_rate: float, shortcut: bool) -> list[tuple[int, str]]:
    gen = random.Random(seed)
    rows = []
    for _ in range(n):
        label = gen.randrange(2)
        words = [gen.choice(FILLER) for _ in range(gen.randint(2, 6))]
        words.insert(gen.randrange(len(words) + 1), gen.choice(POSITIVE if label else NEGATIVE))
        if gen.random() < plant_rate:
            words.insert(gen.randrange(len(words) + 1), PLANT)
            label = 0 if shortcut else label
        rows.append((label, " ".join(words + ["."])))
    return rows


def _tsv(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    return path


def _setup(tmp_path: Path, *, plant: bool) -> tuple[Path, Path]:
    """Train a tiny GRU with ``audit train``'s code on a task with (or without) a planted shortcut, and write
    a nightly config auditing it on a test set where the plant causes errors."""
    from audit.models.config import TrainConfig
    from audit.models.train import train_model

    rate = 0.15 if plant else 0.0
    test_rows = _texts(240, seed=3, plant_rate=0.5 if plant else 0.0, shortcut=False)
    # a few test texts also sit in the training data, as happens with real corpora
    train = _tsv(tmp_path / "train.tsv", _texts(1200, seed=1, plant_rate=rate, shortcut=True) + test_rows[:5])
    dev = _tsv(tmp_path / "dev.tsv", _texts(200, seed=2, plant_rate=0.0, shortcut=False))
    test_rows += [(1, "good testonlyword film .")]  # a word no training text has
    test = _tsv(tmp_path / "test.tsv", test_rows)
    cfg = TrainConfig.model_validate({
        "name": "tiny", "arch": "gru",
        "data": {"train": str(train), "dev": str(dev), "test": str(test), "labels": ["negative", "positive"]},
        "model": {"embedding_dim": 8, "hidden_size": 8},
        "training": {"epochs": 4, "batch_size": 16, "lr": 0.02, "seed": 3, "dropout": 0.0, "patience": None,
                     "threads": 1},
    })
    model_dir = tmp_path / "model"
    train_model(cfg, out_dir=model_dir, progress=False)
    nightly = {
        "model": str(model_dir),
        "datasets": [{"name": "planted-test", "path": str(test)}],
        "batch_size": 64, "seed": 3, "store": str(tmp_path / "runs"), "threads": 1,
        "attack": {"enabled": False},
        "gate": {"min_accuracy": 0.0},
    }
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump(nightly, sort_keys=False), encoding="utf-8")
    return path, model_dir


def _audit(config_path: Path) -> Any:
    from audit.engine.config import load_config
    from audit.engine.job import run_job

    return run_job(load_config(config_path), progress=False)


def _confirmed(record: Any) -> list[str]:
    stats = record.table("driver_stats")
    rows = stats[stats["confirmed"].astype(bool) & (stats["kind"] == "word") & (stats["scope"] == "all")]
    return rows["unit"].astype(str).tolist()


@pytest.mark.slow
def test_harden_removes_a_planted_driver_and_raises_planted_accuracy(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path, plant=True)
    before = _audit(config)
    assert PLANT in _confirmed(before.record), "the setup must plant a driver the audit confirms"
    store = RunStore(tmp_path / "runs")
    result = harden(before.run_id, store=store, out_dir=tmp_path / "hardened", progress=False)
    assert result.trained and result.plan.drivers == [PLANT]
    assert result.augmentation["counterfactual_copies"] > 0
    after = store.get(result.new_run_id)
    assert PLANT not in _confirmed(after)
    assert after.metrics["accuracy"] > before.metrics["accuracy"]
    summary = result.to_dict()
    assert summary["delta"]["accuracy"] > 0
    assert summary["driver_evidence"][0]["before"]["status"] == "confirmed"
    # the test set never reaches training: its only-word is not in the new vocabulary
    from audit.models.io import load_model

    assert "testonlyword" not in load_model(tmp_path / "hardened").vocab
    # training texts that also occur in the audited data are never used as augmentation sources
    from audit.data.tokenize import tokenize

    test_texts = {tuple(tokenize(line.split("\t", 1)[1])) for line in
                  (tmp_path / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]}
    train_texts = [tuple(tokenize(line.split("\t", 1)[1])) for line in
                   (tmp_path / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    overlap = sum(t in test_texts for t in train_texts)
    assert overlap > 0 and result.augmentation["excluded_overlap_with_audited_data"] == overlap


def test_run_without_drivers_says_what_harden_can_still_do(tmp_path: Path) -> None:
    config, _ = _setup(tmp_path, plant=False)
    run = _audit(config)
    result = harden(run.run_id, store=RunStore(tmp_path / "runs"), out_dir=tmp_path / "hardened", progress=False)
    assert not result.trained and not (tmp_path / "hardened").exists()
    assert result.message is not None and "adversarial" in result.message


def test_cli_harden_json_and_clean_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from audit.cli import main

    config, _ = _setup(tmp_path, plant=False)
    run = _audit(config)
    code = main(["harden", "--run", run.run_id, "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "h"),
                 "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trained"] is False and out["run_id"] == run.run_id and out["message"]


def test_before_after_metrics_include_the_strict_valid_attack_success() -> None:
    """The hardened model is judged on strict-valid attack success: the summary must carry it, under the
    name :func:`audit.metrics.attack_metrics` gives it (a misspelt key silently dropped it)."""
    from types import SimpleNamespace

    import pandas as pd

    from audit.harden.run import _metrics
    from audit.metrics import attack_metrics

    variants = pd.DataFrame({"kind": ["text"] * 4, "flipped": [True, True, True, False],
                             "verified": [True, True, True, True], "valid": [True, False, True, False],
                             "constrained": [True, True, False, False], "queries": [3, 4, 5, 6],
                             "recipe": ["strict"] * 4})
    metrics = {"accuracy": 0.9, **attack_metrics(variants)}
    summary = _metrics(SimpleNamespace(metrics=metrics))  # type: ignore[arg-type]
    assert summary["attack_success_rate_valid"] == pytest.approx(0.5)
    assert summary["attack_success_rate"] == pytest.approx(0.75)


def test_model_without_or_with_a_bad_training_config_is_refused_with_the_file_named(tmp_path: Path,
                                                                                   tiny_model: Any) -> None:
    """A model that ``audit train`` did not make (no training config) is a model problem (exit 5); a training
    config in config.json that no longer validates names the field, never a raw pydantic traceback."""
    from audit.errors import ModelError
    from audit.harden.config import HardenConfig
    from audit.harden.run import _train_config
    from audit.models.io import config_from_model, save_model

    bare = save_model(tiny_model, tmp_path / "bare")
    with pytest.raises(ModelError, match=r"config\.json.*no training config"):
        _train_config(bare, HardenConfig())
    broken = save_model(tiny_model, tmp_path / "broken",
                        config=config_from_model(tiny_model, training={"name": "x", "arch": "gru",
                                                                       "training": {"epochs": "many"}}))
    with pytest.raises(ConfigError, match=r"config\.json.*epochs"):
        _train_config(broken, HardenConfig())


# ----------------------------------------------------------------------------- adversarial: which variants are kept
def _result(*, swaps: int = 1, flipped: bool = False, verified: bool = False, valid: bool = True,
            before: float = 0.9, after: float = 0.7) -> Any:
    from types import SimpleNamespace

    original = ["a", "good", "film"]
    variant = ["a", "fine", "film"] if swaps else list(original)
    return SimpleNamespace(original=original, variant=variant, swaps=[object()] * swaps, flipped=flipped,
                           verified=verified, valid=valid, meaning_flags=[], pred_before=1,
                           probs_before=[1 - before, before], probs_after=[1 - after, after])


def test_usable_variant_keeps_unflipped_strict_valid_variants_only_with_keep_best() -> None:
    from audit.harden.augment import usable_variant

    assert usable_variant(_result(flipped=True, verified=True, after=0.3)) == "flipped"
    assert usable_variant(_result(flipped=True, verified=True, after=0.3), keep="best") == "flipped"
    assert usable_variant(_result(flipped=True, verified=False, after=0.3), keep="best") is None
    assert usable_variant(_result(flipped=True, verified=True, valid=False, after=0.3), keep="best") is None
    unflipped = _result(before=0.9, after=0.7)
    assert usable_variant(unflipped) is None  # keep="successful" (the default of the function)
    assert usable_variant(unflipped, keep="best") == "unflipped"
    assert usable_variant(unflipped, keep="best", min_drop=0.25) is None  # dropped by 0.2 only
    assert usable_variant(_result(before=0.9, after=0.95), keep="best") is None  # not adversarial in direction
    assert usable_variant(_result(valid=False), keep="best") is None
    assert usable_variant(_result(swaps=0), keep="best") is None


def test_adversarial_examples_keep_best_adds_unflipped_variants_with_the_original_label(
        monkeypatch: pytest.MonkeyPatch, tiny_model: Any) -> None:
    """The attack is replaced by a fake that flips every third text and weakens the others: ``keep: best``
    adds both kinds with the original's label, ``keep: successful`` only the flips; the order is seeded."""
    import audit.attack
    from audit.harden.augment import adversarial_examples
    from audit.harden.config import AdversarialStrategy

    calls: list[list[str]] = []

    class FakeAttack:
        def __init__(self, config: Any) -> None:
            pass

        def attack(self, model: Any, tokens: list[str], *, gold: int) -> Any:
            calls.append(tokens)
            res = _result(flipped=len(calls) % 3 == 0, verified=True, after=0.4 if len(calls) % 3 else 0.2)
            res.original, res.variant, res.pred_before = tokens, ["a"] + tokens[1:], gold
            res.probs_before = [0.1, 0.9] if gold == 1 else [0.9, 0.1]
            res.probs_after = [0.6, 0.4] if gold == 1 else [0.4, 0.6]
            return res

    monkeypatch.setattr(audit.attack, "ReatWordNetAttack", FakeAttack)
    tokens = [["the", "movie", "is", w] for w in ("great", "good", "fun", "brilliant", "bad", "awful")]
    labels = [1, 1, 1, 1, 0, 0]
    best = adversarial_examples(tiny_model, tokens, labels, strategy=AdversarialStrategy(keep="best", fraction=1.0),
                                attack_config=None, seed=4)
    assert best.counts["adversarial_attacked"] == len(calls) > 0
    assert best.counts["adversarial_variants"] == len(best.tokens) == len(calls)
    assert best.counts["adversarial_flipped"] == len(calls) // 3
    assert best.counts["adversarial_unflipped"] == len(calls) - len(calls) // 3
    by_text = {tuple(t[1:]): y for t, y in zip(tokens, labels)}
    assert all(by_text[tuple(v[1:])] == y for v, y in zip(best.tokens, best.labels))  # the original's label
    first_order = list(calls)
    calls.clear()
    only = adversarial_examples(tiny_model, tokens, labels,
                                strategy=AdversarialStrategy(keep="successful", fraction=1.0), attack_config=None,
                                seed=4)
    assert calls == first_order  # same seed, same order
    assert only.counts["adversarial_variants"] == only.counts["adversarial_flipped"] == len(calls) // 3
    assert only.counts["adversarial_unflipped"] == 0


def test_adversarial_config_fields_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"strategies\.adversarial\.keep"):
        parse_harden_config({"strategies": {"adversarial": {"keep": "all"}}})
    with pytest.raises(ConfigError, match=r"strategies\.adversarial\.min_drop"):
        parse_harden_config({"strategies": {"adversarial": {"min_drop": 1.5}}})


# ----------------------------------------------------------------------------- regulariser weight, chosen on dev
def test_driver_reliance_measures_how_often_inserting_a_driver_changes_dev_predictions(tiny_model: Any) -> None:
    from audit.harden.augment import driver_reliance, insert_drivers

    dev = [["the", "movie", "is", w] for w in ("great", "good", "fun", "brilliant")] + [["a", "bad", "plot"]]
    probe = insert_drivers(dev, ["awful"], seed=0)
    assert len(probe) == len(dev) and all(t.count("awful") == 1 for t in probe)
    assert insert_drivers(dev, ["bad"], seed=0) == [t[:i] + ["bad"] + t[i:] for t, i in
                                                    zip(dev[:4], [p.index("bad") for p in
                                                                  insert_drivers(dev, ["bad"], seed=0)])]
    assert insert_drivers(dev, ["awful"], seed=0) == probe  # seeded
    strong = driver_reliance(tiny_model, dev, ["awful"], seed=0)
    weak = driver_reliance(tiny_model, dev, ["movie"], seed=0)
    assert strong["n_texts"] == 5 and strong["flip_rate"] > weak["flip_rate"]
    assert strong["reat_mass"] > 0


def test_regulariser_weight_is_the_least_reliant_dev_model_within_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dev accuracy first (within tolerance of the best), then the least dev reliance on the drivers; the
    choice never reads test data (only the config's dev split is read)."""
    from types import SimpleNamespace

    import audit.harden.run as run

    read: list[str] = []
    monkeypatch.setattr(run, "_split", lambda cfg, split: (read.append(split), ([["a"]], [0]))[1])
    reliance = {"m1": 0.30, "m10": 0.05, "m100": 0.01}
    monkeypatch.setattr(run, "driver_reliance",
                        lambda model, toks, drivers, *, seed: {"flip_rate": reliance[model], "reat_mass": 0.0})
    cfg = SimpleNamespace(training=SimpleNamespace(max_len=None))
    cands = [(1.0, SimpleNamespace(model="m1", dev_accuracy=0.80)),
             (10.0, SimpleNamespace(model="m10", dev_accuracy=0.797)),
             (100.0, SimpleNamespace(model="m100", dev_accuracy=0.70))]  # least reliant, but too inaccurate
    weight, chosen, table = run._choose(cands, ["zeroa"], cfg, tolerance=0.005, seed=1)
    assert weight == 10.0 and chosen.model == "m10" and read == ["dev"]
    assert [r["within_tolerance"] for r in table] == [True, True, False]
    assert run._choose(cands[:1], ["zeroa"], cfg, tolerance=0.005, seed=1)[0] == 1.0


def test_variant_cache_attacks_the_training_texts_once_for_several_hardenings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``adversarial`` alone and combined on the same run share one generation of variants; the summary still
    carries the generation time and the same counts."""
    import audit.harden.run as run
    from audit.harden.augment import Augmentation
    from audit.harden.config import HardenConfig

    calls: list[int] = []

    def fake(model: Any, tokens: Any, labels: Any, **kwargs: Any) -> Augmentation:
        calls.append(len(tokens))
        return Augmentation(tokens=[["good", "film", "."]], labels=[1],
                            counts={"adversarial_attacked": 1, "adversarial_variants": 1})

    monkeypatch.setattr(run, "adversarial_examples", fake)
    config, _ = _setup(tmp_path, plant=False)
    before = _audit(config)
    store, cache = RunStore(tmp_path / "runs"), {}  # type: ignore[var-annotated]
    cfg = HardenConfig.model_validate({"strategies": {"adversarial": {"enabled": True}, "counterfactual":
                                                      {"enabled": False}}, "epochs": 1})
    first = harden(before.run_id, store=store, out_dir=tmp_path / "a", config=cfg, evaluate=False, progress=False,
                   variant_cache=cache)
    second = harden(before.run_id, store=store, out_dir=tmp_path / "b", config=cfg, evaluate=False, progress=False,
                    variant_cache=cache)
    assert len(calls) == 1 and first.trained and second.trained
    assert first.augmentation == second.augmentation and first.augmentation["adversarial_variants"] == 1
    assert second.to_dict()["augment_seconds"] == first.to_dict()["augment_seconds"] >= 0
    other = HardenConfig.model_validate({"strategies": {"adversarial": {"enabled": True, "keep": "successful"},
                                                        "counterfactual": {"enabled": False}}, "epochs": 1})
    harden(before.run_id, store=store, out_dir=tmp_path / "c", config=other, evaluate=False, progress=False,
           variant_cache=cache)
    assert len(calls) == 2  # other settings: another key
