"""Benchmark for ``audit harden`` (issue: close the loop) -> ``reports/benchmarks/harden.{json,md}``.

Models (``planted_shortcuts.py``'s, ``artifacts/planted/models/<arch>-<plant>-s<seed>``, 6 epochs, reused
here with their own training configs), one model per seed, so seed variance is visible:
    * planted single-token GRUs ``gru-st<r>-s<seed>`` (``zeroa`` inserted into r% of the negative training
      texts), at two rates;
    * clean GRU and LSTM ``gru-clean-s<seed>`` / ``lstm-clean-s<seed>`` (the same recipe without a plant);
    * optionally (``gru-ref``) the 20-epoch reference GRU ``artifacts/models/gru`` with its own seed only.

For every model and seed: audit it (the nightly job: SST-2 test, plus for planted models the planted test set of
``_planting.plant_test`` for that seed, zeroa inserted into 20 % of the positive test texts; a strict attack on
the first ``--attack-texts`` correctly classified texts of each audited dataset), then ``harden`` it with each
strategy alone and with the best combination, with the model's own seed, and audit the hardened model the
same way (a fresh attack on held-out test texts, never on training variants).  "Before" is always the
same-seed model.  Recovery is measured against the clean model of the same architecture and seed on the same
planted texts.  Reported per seed and as mean +- sd over seeds: clean test accuracy, planted-test accuracy,
strict-valid attack success, confirmed drivers, before / after / difference, and the cost (training and
augmentation seconds, accuracy change).

Goals (issue): recover >= 90 % of the planted-test accuracy the shortcut cost; on clean models cut strict-valid
attack success by >= 30 % relative with at most 0.5 points of clean accuracy lost.

Planted models were trained from a planted training file that ``planted_shortcuts.py`` deletes after
training; it is re-created here with the same rule, writer and seed and checked against the training data
hash in the model's ``metrics.json`` before it is passed to harden as ``train_config``.

Resumable: every finished hardening leaves ``artifacts/harden/models/<model>-s<seed>-<strategy>/harden.json``
(or ``.skipped.json`` when harden had nothing to act on) and its runs in ``artifacts/harden/store``; a rerun skips
them, and ``--collect-only`` rebuilds the report from what is there.

Usage: ``python benchmarks/harden.py [--seeds 1 2 3] [--models gru-st2 gru-st10 gru-clean lstm-clean]
[--strategies counterfactual adversarial regularise combined] [--attack-texts N] [--adv-texts N]``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harden_report import markdown  # noqa: E402
from _planting import plant_test, plant_train  # noqa: E402

from audit.data.readers import read_dataset  # noqa: E402
from audit.engine.config import parse_config  # noqa: E402
from audit.engine.job import run_job  # noqa: E402
from audit.harden import HardenConfig, harden, make_plan  # noqa: E402
from audit.settings import resolve_data_path  # noqa: E402
from audit.store import RunStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "artifacts" / "harden"
OUT = ROOT / "reports" / "benchmarks"
log = logging.getLogger("bench.harden")

OFF = {"counterfactual": {"enabled": False}, "adversarial": {"enabled": False}, "regularise": {"enabled": False}}
KEYS = ("clean_accuracy", "planted_accuracy", "strict_attack_success", "n_confirmed_drivers")


def strategies(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The harden.yaml ``strategies`` block of each benchmarked strategy."""
    on = {
        "counterfactual": {"enabled": True},
        "adversarial": {"enabled": True, "keep": "best", "fraction": args.adv_fraction, "max_texts": args.adv_texts},
        "regularise": {"enabled": True, "weights": list(args.reg_weights)},
    }
    out: dict[str, dict[str, Any]] = {name: {**OFF, name: on[name]} for name in on}
    # the previous adversarial recipe (flipped variants of 20 % of the texts), for comparison
    out["adversarial-flipped"] = {**OFF, "adversarial": {"enabled": True, "keep": "successful", "fraction": 0.2}}
    # harden.yaml's default share (0.5) instead of A2T's 20 %: more variants (an exploratory row, see the report)
    out["adversarial-half"] = {**OFF, "adversarial": {**on["adversarial"], "fraction": 0.5}}
    out["combined"] = {**OFF, **{name: on[name] for name in args.combined}}
    return out


def _split(name: str) -> tuple[list[str], list[int]]:
    ds = read_dataset(resolve_data_path(f"data:sst2/{name}.tsv"), name=name)
    return list(ds.texts), [int(y) for y in ds.labels]


def _tsv(path: Path, texts: list[str], labels: list[int]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:  # the writer of _planted_train.py
        w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        w.writerow(["label", "text"])
        w.writerows(zip(labels, texts))
    return path


def _model_dir(name: str, seed: int) -> Path:
    if name == "gru-ref":
        return ROOT / "artifacts" / "models" / "gru"
    return ROOT / "artifacts" / "planted" / "models" / f"{name}-s{seed}"


def _model_spec(name: str, seed: int, tmp: Path) -> dict[str, Any]:
    """Model dir, training YAML to retrain with, extra audited datasets (the planted test set of ``seed``)."""
    model_dir = _model_dir(name, seed)
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["training"]
    datasets: list[dict[str, str]] = []
    if name == "gru-ref":
        return {"model": str(model_dir), "train_config": None, "datasets": [], "arch": "gru", "plant": "clean"}
    arch, plant = name.split("-", 1)
    texts, labels = _split("train")
    rate = 0.0 if plant == "clean" else int(plant.removeprefix("st")) / 100
    planted = plant_train("clean" if plant == "clean" else "st", texts, labels, rate=rate, seed=seed)
    train = _tsv(tmp / f"{name}-s{seed}-train.tsv", planted.texts, planted.labels)
    want = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["data_sha256"]["train"]
    got = hashlib.sha256(train.read_bytes()).hexdigest()
    if got != want:
        raise SystemExit(f"{model_dir}: re-created training file does not match the model's (sha256 {got} != {want})")
    cfg["data"]["train"] = str(train)
    if plant != "clean":
        test_texts, test_labels = _split("test")
        pt = plant_test("st", test_texts, test_labels, seed=seed)
        path = _tsv(tmp / f"{name}-s{seed}-planted-test.tsv", pt.texts, pt.labels)
        datasets = [{"name": "planted-test", "path": str(path)}]
    cfg_path = tmp / f"{name}-s{seed}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return {"model": str(model_dir), "train_config": str(cfg_path), "datasets": datasets, "arch": arch,
            "plant": plant}


def _nightly(spec: dict[str, Any], store: Path, attack_texts: int, *, with_sst2: bool = True) -> Any:
    base = yaml.safe_load((ROOT / "configs" / "nightly.yaml").read_text(encoding="utf-8"))
    base.update({"model": spec["model"], "train_config": None, "store": str(store)})
    base["datasets"] = (base["datasets"] if with_sst2 else []) + spec["datasets"]
    base["attack"] = {**base.get("attack", {}), "max_texts": attack_texts, "enabled": attack_texts > 0,
                      "flip_top_words": 0, "flip_words": []}  # driver-word flip probes: not in the metric, CPU
    return parse_config(base)


def _first_runs(store: RunStore) -> dict[str, Any]:
    """model_ref -> its first complete run in ``store``."""
    if not store.root.is_dir():
        return {}
    return {r.model_ref: r for r in reversed(store.list_runs(include_incomplete=False))}


def _seeds_of(name: str, args: argparse.Namespace) -> list[int]:
    if name == "gru-ref":
        return [int(json.loads((_model_dir(name, 0) / "config.json").read_text())["training"]["training"]["seed"])]
    return list(args.seeds)


def _out(name: str, seed: int, strat: str) -> Path:
    return WORK / "models" / f"{name}-s{seed}-{strat}"


def _skipped(out: Path) -> Path:
    return out.with_name(out.name + ".skipped.json")


def tasks(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """(model, seed, strategy) in priority order: each (model, strategy) cell for every seed before the next
    cell, the cells of the goals first, so a run cut short by the CPU budget still has whole cells."""
    cells = [(m, s) for m, s in PRIORITY if m in args.models and s in args.strategies]
    cells += [(m, s) for m in args.models for s in args.strategies if (m, s) not in cells]
    # within a cell the grid seeds come first (regularise: the other seeds reuse the weight chosen there)
    return [(m, seed, s) for m, s in cells
            for seed in sorted(_seeds_of(m, args), key=lambda sd: sd not in args.reg_grid_seeds)]


PRIORITY = [("gru-st10", "counterfactual"), ("gru-st2", "counterfactual"), ("gru-clean", "adversarial"),
            ("lstm-clean", "adversarial"), ("gru-st10", "regularise"), ("gru-st10", "combined"),
            ("gru-st2", "combined"), ("gru-st10", "adversarial"), ("gru-st2", "regularise"),
            ("gru-st2", "adversarial"), ("gru-clean", "counterfactual"), ("gru-clean", "regularise"),
            ("lstm-clean", "counterfactual"), ("lstm-clean", "regularise"), ("gru-ref", "adversarial")]


def run_one(name: str, seed: int, args: argparse.Namespace, tmp: Path, *, only: tuple[str, ...] | None = None,
            cache: dict[Any, Any] | None = None) -> None:
    """Audit ``name`` at ``seed`` once, then harden it with every strategy (or ``only`` these); each new run
    lands in its store.  ``cache``: adversarial variants shared between calls on the same model and seed."""
    if not (_model_dir(name, seed) / "metrics.json").is_file():
        log.warning("%s seed %d: model not there (yet): skipped", name, seed)
        return
    spec = _model_spec(name, seed, tmp)
    store = RunStore(WORK / "store" / f"{name}-s{seed}")
    attack_texts = args.attack_texts if spec["plant"] == "clean" else args.planted_attack_texts
    before = _first_runs(store).get(spec["model"])
    if before is not None:
        _restore_inputs(store.get(before.run_id), spec)
    before_id = before.run_id if before is not None else \
        run_job(_nightly(spec, store.root, attack_texts), progress=False).run_id
    cache = {} if cache is None else cache
    no_drivers = not make_plan(store.get(before_id), HardenConfig()).drivers
    for strat in only or args.strategies:
        out = _out(name, seed, strat)
        if (out / "harden.json").is_file() or _skipped(out).is_file():
            continue
        if strat == "combined" and no_drivers and set(args.combined) - {"counterfactual", "regularise"} == \
                {"adversarial"}:
            out.parent.mkdir(parents=True, exist_ok=True)
            _skipped(out).write_text(json.dumps({"message": "no spurious driver confirmed: the combination would "
                                                 "train the same model as `adversarial` alone"}), encoding="utf-8")
            continue
        if out.exists():  # an interrupted hardening: start it again
            import shutil

            shutil.rmtree(out)
        block = strategies(args)[strat]
        if block["regularise"]["enabled"] and seed not in args.reg_grid_seeds:
            weight = _grid_weight(name, args)
            if weight is not None:  # the weight chosen on dev at the grid seed, reused (CPU budget)
                block = {**block, "regularise": {**block["regularise"], "weights": [weight]}}
        cfg = HardenConfig.model_validate({"strategies": block, "seed": seed, "train_config": spec["train_config"]})
        t0 = time.perf_counter()
        res = harden(before_id, store=store, out_dir=out, config=cfg, progress=False, variant_cache=cache)
        summary = res.to_dict() | {"bench_wall_seconds": round(time.perf_counter() - t0, 1)}
        if not res.trained:
            out.parent.mkdir(parents=True, exist_ok=True)
            _skipped(out).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
            log.info("%s s%d %s: not trained: %s", name, seed, strat, res.message)
            continue
        (out / "harden.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        log.info("%s s%d %s: %s (%.0f s)", name, seed, strat, res.after, summary["bench_wall_seconds"])
    if spec["datasets"]:
        _reference(spec, seed)


def _restore_inputs(before: Any, spec: dict[str, Any]) -> None:
    """A resumed benchmark: the recorded "before" run read its planted test set from an earlier process's
    temporary folder, and harden re-audits the hardened model on the run's own datasets.  Re-create the file
    at the recorded path from this process's copy (the same seeded rule) when it is gone, and refuse unless
    its sha256 is the one the run recorded."""
    recorded = {d["name"]: d["path"] for d in before.manifest["config"]["datasets"]}
    for ds in spec["datasets"]:
        path = Path(recorded.get(ds["name"], ""))
        if not recorded.get(ds["name"]) or path.is_file():
            continue
        data = Path(ds["path"]).read_bytes()
        want = before.manifest["data"][ds["name"]]
        if hashlib.sha256(data).hexdigest() != want:
            raise SystemExit(f"{ds['name']}: re-created file does not match run {before.run_id}'s sha256 {want}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        log.info("%s: re-created %s for the recorded run %s (sha256 verified)", ds["name"], path, before.run_id)


def _grid_weight(name: str, args: argparse.Namespace) -> float | None:
    """The regulariser weight chosen on dev by the full grid at the first grid seed (``regularise`` run)."""
    for seed in args.reg_grid_seeds:
        summary = _out(name, seed, "regularise") / "harden.json"
        if summary.is_file():
            weight = json.loads(summary.read_text(encoding="utf-8")).get("regulariser_weight")
            return None if weight is None else float(weight)
    return None


def _reference(spec: dict[str, Any], seed: int, *, create: bool = True) -> float | None:
    """Planted-test accuracy of the clean model of the same arch and seed (what a shortcut-free model gets);
    audited here unless ``create`` is false."""
    ref_model = ROOT / "artifacts" / "planted" / "models" / f"{spec['arch']}-clean-s{seed}"
    if not (ref_model / "metrics.json").is_file():
        return None
    store = RunStore(WORK / "store" / f"reference-{spec['arch']}-s{seed}")
    run = _first_runs(store).get(str(ref_model))
    if run is None and not create:
        return None
    metrics = store.get(run.run_id).metrics if run is not None else run_job(
        _nightly({"model": str(ref_model), "datasets": spec["datasets"]}, store.root, 0, with_sst2=False),
        progress=False).metrics
    return _metric(metrics, "accuracy", "planted-test")


def _metric(metrics: dict[str, Any], key: str, dataset: str | None = None) -> float | None:
    if dataset is not None:
        per = (metrics.get("per_dataset") or {}).get(dataset) or {}
        value = per.get(key)
    else:
        value = metrics.get(key)
    return None if value is None else float(value)


def _summary(metrics: dict[str, Any]) -> dict[str, float | None]:
    strict = metrics.get("attack_success_rate_valid", metrics.get("attack_success_rate_constrained"))
    return {
        "clean_accuracy": _metric(metrics, "accuracy", "sst2-test"),
        "planted_accuracy": _metric(metrics, "accuracy", "planted-test"),
        "strict_attack_success": None if strict is None else float(strict),
        "n_confirmed_drivers": _metric(metrics, "n_confirmed_drivers"),
        "n_attacked": _metric(metrics, "n_attacked"),
    }


def _paired_attack_test(before: Any, after: Any) -> dict[str, Any] | None:
    """Exact McNemar test on the texts attacked in both runs (same dataset and example id): texts broken
    (strict-valid, verified flip) before only vs after only; two-sided binomial p.  None without attacks."""
    import math

    def broken(record: Any) -> dict[tuple[str, int], bool]:
        if not record.has_table("variants"):
            return {}
        v = record.table("variants")
        v = v[v["kind"] == "text"] if "kind" in v else v
        ok = v["flipped"].astype(bool) & v["verified"].astype(bool) & v["valid"].astype(bool)
        return {(str(d), int(e)): bool(o) for d, e, o in zip(v["dataset"], v["example_id"], ok)}

    b, a = broken(before), broken(after)
    both = sorted(set(b) & set(a))
    if not both:
        return None
    only_before = sum(b[k] and not a[k] for k in both)
    only_after = sum(a[k] and not b[k] for k in both)
    n, k = only_before + only_after, min(only_before, only_after)
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
    return {"n_paired_texts": len(both), "broken_before_only": only_before, "broken_after_only": only_after,
            "broken_both": sum(b[k] and a[k] for k in both), "mcnemar_exact_p": p}


def _mean_sd(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def _goal(before: dict[str, Any], after: dict[str, Any], reference: float | None) -> dict[str, Any]:
    """Per seed: recovery of the planted accuracy (planted models) and the attack cut / accuracy cost."""
    out: dict[str, Any] = {}
    if reference is not None and before.get("planted_accuracy") is not None and after.get("planted_accuracy") is not None:
        cost = reference - before["planted_accuracy"]
        out["recovered_share"] = (after["planted_accuracy"] - before["planted_accuracy"]) / cost if cost > 0 else None
    if before.get("strict_attack_success") and after.get("strict_attack_success") is not None:
        out["relative_attack_cut"] = 1 - after["strict_attack_success"] / before["strict_attack_success"]
    if before.get("clean_accuracy") is not None and after.get("clean_accuracy") is not None:
        out["clean_accuracy_loss_points"] = 100 * (before["clean_accuracy"] - after["clean_accuracy"])
    return out


def collect(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The report, from the runs in each model's store (the first run of the original model is "before";
    the run of ``models/<name>-s<seed>-<strategy>`` is that hardening's "after")."""
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                           "threads": 1, "host": "2-core dev box (what else ran: the notes)"},
                               "args": vars(args),
                               "strategies": strategies(args), "models": {}}
    for name in args.models:
        entry: dict[str, Any] = {"seeds": {}, "strategies": {}}
        for seed in _seeds_of(name, args):
            if not (_model_dir(name, seed) / "metrics.json").is_file():
                continue
            spec = _model_spec(name, seed, tmp)
            store = RunStore(WORK / "store" / f"{name}-s{seed}")
            runs = _first_runs(store)
            before = runs.get(spec["model"])
            if before is None:
                continue
            b_rec = store.get(before.run_id)
            ref = _reference(spec, seed, create=not args.collect_only) if spec["datasets"] else None
            entry["seeds"][str(seed)] = {"model": spec["model"], "before_run": before.run_id,
                                         "before": _summary(b_rec.metrics), "before_timings": b_rec.manifest.get("timings"),
                                         "clean_reference_planted_accuracy": ref}
            for strat in args.strategies:
                out = _out(name, seed, strat)
                s_entry = entry["strategies"].setdefault(strat, {"runs": [], "not_trained": []})
                if _skipped(out).is_file():
                    s_entry["not_trained"].append({"seed": seed, "message": json.loads(
                        _skipped(out).read_text(encoding="utf-8"))["message"]})
                    continue
                if not (out / "harden.json").is_file():
                    continue
                h = json.loads((out / "harden.json").read_text(encoding="utf-8"))
                if not h.get("new_run_id"):
                    continue
                after_rec = store.get(h["new_run_id"])
                b, a = entry["seeds"][str(seed)]["before"], _summary(after_rec.metrics)
                s_entry["runs"].append({
                    "seed": seed, "run_id": h["new_run_id"], "after": a,
                    "paired_attack_test": _paired_attack_test(b_rec, after_rec),
                    "difference": {k: (a[k] - b[k]) if a[k] is not None and b[k] is not None else None for k in KEYS},
                    "goal": _goal(b, a, ref), "train_seconds": h.get("train_seconds"),
                    "augment_seconds": h.get("augment_seconds"), "augmentation": h.get("augmentation"),
                    "regulariser_weight": h.get("regulariser_weight"), "regulariser_dev": h.get("regulariser_dev"),
                    "drivers": h.get("drivers"), "driver_evidence": h.get("driver_evidence"),
                    "wall_seconds": h.get("bench_wall_seconds")})
        seeds_with_before = [s["before"] for s in entry["seeds"].values()]
        entry["before"] = {k: _mean_sd([b[k] for b in seeds_with_before]) for k in KEYS}
        entry["clean_reference_planted_accuracy"] = _mean_sd(
            [s["clean_reference_planted_accuracy"] for s in entry["seeds"].values()])
        for s_entry in entry["strategies"].values():
            rs = s_entry["runs"]
            seeds_run = {r["seed"] for r in rs}
            s_entry["before_same_seeds"] = {k: _mean_sd([entry["seeds"][str(sd)]["before"][k] for sd in seeds_run])
                                            for k in KEYS}
            s_entry["after"] = {k: _mean_sd([r["after"][k] for r in rs]) for k in KEYS}
            s_entry["difference"] = {k: _mean_sd([r["difference"][k] for r in rs]) for k in KEYS}
            s_entry["goal"] = {k: _mean_sd([r["goal"].get(k) for r in rs])
                               for k in ("recovered_share", "relative_attack_cut", "clean_accuracy_loss_points")}
            s_entry["cost"] = {k: _mean_sd([r[k] for r in rs]) for k in ("train_seconds", "augment_seconds")}
            _verdict(s_entry, planted=any(s["clean_reference_planted_accuracy"] is not None
                                          for s in entry["seeds"].values()))
        results["models"][name] = entry
    return results


def _verdict(s_entry: dict[str, Any], *, planted: bool) -> None:
    g = s_entry["goal"]
    if planted and g["recovered_share"]["mean"] is not None:
        s_entry["recovery_goal_met"] = bool(g["recovered_share"]["mean"] >= 0.9)
    if not planted and g["relative_attack_cut"]["mean"] is not None:
        s_entry["robustness_goal_met"] = bool(g["relative_attack_cut"]["mean"] >= 0.3
                                              and g["clean_accuracy_loss_points"]["mean"] <= 0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["gru-st2", "gru-st10", "gru-clean", "lstm-clean"])
    ap.add_argument("--strategies", nargs="+",
                    default=["counterfactual", "adversarial", "regularise", "combined"])
    ap.add_argument("--combined", nargs="+", default=["counterfactual", "adversarial"],
                    help="strategies of the 'combined' run")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--attack-texts", type=int, default=200, help="attacked test texts per dataset, clean models")
    ap.add_argument("--planted-attack-texts", type=int, default=0,
                    help="... planted models (default 0: judged on planted and clean accuracy; CPU budget)")
    ap.add_argument("--reg-grid-seeds", nargs="+", type=int, default=[1],
                    help="seeds where the regulariser's full weight grid is trained; the other seeds reuse the "
                    "weight chosen on dev there (CPU budget)")
    ap.add_argument("--adv-fraction", type=float, default=0.2,
                    help="share of the training texts the adversarial strategy attacks (A2T's 20 %%)")
    ap.add_argument("--adv-texts", type=int, default=None, help="... at most this many")
    ap.add_argument("--reg-weights", nargs="+", type=float, default=[1.0, 10.0, 100.0])
    ap.add_argument("--collect-only", action="store_true",
                    help="do not train: rebuild the report from the runs already in artifacts/harden/store")
    ap.add_argument("--tag", default="", help="suffix of the report files (e.g. _reduced)")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's Notes section")
    ap.add_argument("--stop-at", default=None,
                    help="UTC time HH:MM after which no new task starts (the report is written from what ran)")
    args = ap.parse_args()
    args.stop_at_utc = args.stop_at
    args.stop_at = _stop_time(args.stop_at)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.collect_only:
            caches: dict[tuple[str, int], dict[Any, Any]] = {}
            for name, seed, strat in tasks(args):
                if time.time() > args.stop_at:
                    log.warning("stop time reached: the remaining tasks are left out of this run")
                    break
                run_one(name, seed, args, tmp, only=(strat,), cache=caches.setdefault((name, seed), {}))
        results = collect(args, tmp)
    results["notes"] = list(args.note)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"harden{args.tag}.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    (OUT / f"harden{args.tag}.md").write_text(markdown(results), encoding="utf-8")


def _stop_time(value: str | None) -> float:
    if value is None:
        return float("inf")
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    hh, mm = (int(x) for x in value.split(":"))
    stop = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if stop < now - dt.timedelta(hours=12):
        stop += dt.timedelta(days=1)
    return stop.timestamp()


if __name__ == "__main__":
    main()
