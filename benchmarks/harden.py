"""Benchmark for ``audit harden`` (issue: close the loop) -> ``reports/benchmarks/harden.{json,md}``.

Models (all from ``planted_shortcuts.py``, ``artifacts/planted/models/<arch>-<plant>-s1``, trained there with
its compute budget and reused here with their own training configs):
    * planted single-token GRUs (``gru-st<r>``: ``zeroa`` inserted into r% of the negative training texts);
    * clean GRU and LSTM trained the same way (``gru-clean``, ``lstm-clean``).

For every model: audit it (the nightly job: SST-2 test, plus for planted models the planted test set of
``_planting.plant_test``, zeroa inserted into 20 % of the positive test texts; strict attack on the first
``--attack-texts`` correct texts), then ``harden`` it with each strategy alone and with all combined, for
each seed, and audit the hardened model the same way (a fresh attack on the same held-out test texts,
never on training variants).  Reported: clean test accuracy, planted-test accuracy, strict-valid attack
success, the confirmed drivers' fix rate before/after, training time; mean +- sd over seeds.

Goals (issue): recover >= 90 % of the planted-test accuracy the shortcut cost, measured against the clean
GRU (``gru-clean-s1``, same training recipe) on the same texts; on clean models cut strict-valid attack success by >= 30 % relative with
at most 0.5 points of clean accuracy lost.

Planted models were trained from a planted training file that ``planted_shortcuts.py`` deletes after
training; it is re-created here with the same rule and seed (``plant_train``) in a temporary folder and
passed to harden as ``train_config``.

Usage: ``python benchmarks/harden.py [--seeds 1 2 3] [--models gru-st2 gru-st10 gru-clean lstm-clean]
[--strategies counterfactual adversarial regularise combined] [--epochs N] [--attack-texts N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _planting import plant_test, plant_train  # noqa: E402

from audit.data.readers import read_dataset  # noqa: E402
from audit.engine.config import parse_config  # noqa: E402
from audit.engine.job import run_job  # noqa: E402
from audit.harden import HardenConfig, harden  # noqa: E402
from audit.settings import resolve_data_path  # noqa: E402
from audit.store import RunStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "artifacts" / "harden"
OUT = ROOT / "reports" / "benchmarks"
log = logging.getLogger("bench.harden")

STRATEGIES: dict[str, dict[str, Any]] = {
    "counterfactual": {"counterfactual": {"enabled": True}, "adversarial": {"enabled": False},
                       "regularise": {"enabled": False}},
    "adversarial": {"counterfactual": {"enabled": False}, "adversarial": {"enabled": True, "fraction": 0.2},
                    "regularise": {"enabled": False}},
    "regularise": {"counterfactual": {"enabled": False}, "adversarial": {"enabled": False},
                   "regularise": {"enabled": True, "weights": [0.1, 1.0]}},
    "combined": {"counterfactual": {"enabled": True}, "adversarial": {"enabled": True, "fraction": 0.2},
                 "regularise": {"enabled": True, "weights": [0.1, 1.0]}},
}


def _split(name: str) -> tuple[list[str], list[int]]:
    ds = read_dataset(resolve_data_path(f"data:sst2/{name}.tsv"), name=name)
    return list(ds.texts), [int(y) for y in ds.labels]


def _tsv(path: Path, texts: list[str], labels: list[int]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        w.writerow(["label", "text"])
        w.writerows(zip(labels, texts))
    return path


def _model_spec(name: str, tmp: Path, *, seed: int = 1) -> dict[str, Any]:
    """Model dir, training YAML to retrain with, extra audited datasets.

    ``<arch>-st<r>`` and ``<arch>-clean`` are the models of ``planted_shortcuts.py`` (seed ``seed``):
    their training config (from ``config.json``) is reused as it is, with the planted training file
    re-created by the same rule and seed (the original was a deleted temporary file).
    """
    arch, plant = name.split("-", 1)
    model_dir = ROOT / "artifacts" / "planted" / "models" / f"{name}-s{seed}"
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["training"]
    texts, labels = _split("train")
    datasets: list[dict[str, str]] = []
    if plant == "clean":
        cfg["data"]["train"] = "data:sst2/train.tsv"
    else:
        rate = int(plant.removeprefix("st")) / 100
        planted = plant_train("st", texts, labels, rate=rate, seed=seed)
        cfg["data"]["train"] = str(_tsv(tmp / f"{name}-train.tsv", planted.texts, planted.labels))
        test_texts, test_labels = _split("test")
        pt = plant_test("st", test_texts, test_labels, seed=seed)
        datasets = [{"name": "planted-test", "path": str(_tsv(tmp / f"{name}-planted-test.tsv", pt.texts, pt.labels))}]
    cfg_path = tmp / f"{name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return {"model": str(model_dir), "train_config": str(cfg_path), "datasets": datasets}


def _nightly(spec: dict[str, Any], store: Path, attack_texts: int, *, with_sst2: bool = True) -> Any:
    base = yaml.safe_load((ROOT / "configs" / "nightly.yaml").read_text(encoding="utf-8"))
    base.update({"model": spec["model"], "train_config": None, "store": str(store)})
    base["datasets"] = (base["datasets"] if with_sst2 else []) + spec["datasets"]
    base["attack"] = {**base.get("attack", {}), "max_texts": attack_texts, "enabled": attack_texts > 0}
    return parse_config(base)


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
    }


def _mean_sd(values: list[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0, "n": len(xs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["gru-st2", "gru-st10", "gru-clean", "lstm-clean"])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=None, help="cap retraining epochs (default: the model's config)")
    ap.add_argument("--attack-texts", type=int, default=200)
    ap.add_argument("--collect-only", action="store_true",
                    help="do not train: rebuild the report from the runs already in artifacts/harden/store")
    ap.add_argument("--tag", default="", help="suffix of the report files (e.g. _reduced)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.collect_only:
            for name in args.models:
                _run_model(name, tmp, args)
        results = collect(args, tmp)
    _goals(results)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"harden{args.tag}.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    (OUT / f"harden{args.tag}.md").write_text(_markdown(results), encoding="utf-8")


def _run_model(name: str, tmp: Path, args: argparse.Namespace) -> None:
    """Audit ``name`` once, then harden it with every strategy and seed (each new run lands in its store)."""
    spec = _model_spec(name, tmp)
    store = RunStore(WORK / "store" / name)
    before = run_job(_nightly(spec, store.root, args.attack_texts), progress=False)
    for strat in args.strategies:
        for seed in args.seeds:
            cfg = HardenConfig.model_validate({"strategies": STRATEGIES[strat], "seed": seed,
                                               "epochs": args.epochs, "train_config": spec["train_config"]})
            out = WORK / "models" / f"{name}-{strat}-s{seed}"
            if out.exists():
                shutil.rmtree(out)
            res = harden(before.run_id, store=store, out_dir=out, config=cfg, progress=False)
            (out / "harden.json").write_text(json.dumps(res.to_dict(), indent=2, default=str), encoding="utf-8")
            log.info("%s %s seed %d: %s", name, strat, seed, res.after)


def _train_seconds(model_dir: Path) -> float | None:
    summary = model_dir / "harden.json"
    if summary.is_file():
        return json.loads(summary.read_text(encoding="utf-8")).get("train_seconds")
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    return sum(h["seconds"] for h in metrics.get("history", []))  # the chosen model's epochs only


def collect(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The report, from the runs in each model's store (the first run of the original model is "before";
    the run of ``models/<name>-<strategy>-s<seed>`` is that hardening's "after")."""
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                           "threads": 1, "host": "2-core shared dev box"},
                               "args": vars(args), "models": {}}
    for name in args.models:
        spec = _model_spec(name, tmp)
        store = RunStore(WORK / "store" / name)
        if not store.root.is_dir():
            continue
        runs = {r.model_ref: r for r in reversed(store.list_runs(include_incomplete=False))}  # first run wins
        before = runs.get(spec["model"])
        if before is None:
            continue
        entry: dict[str, Any] = {"spec": spec, "before_run": before.run_id,
                                 "before": _summary(store.get(before.run_id).metrics), "strategies": {}}
        for strat in args.strategies:
            per_seed = []
            for seed in args.seeds:
                out = WORK / "models" / f"{name}-{strat}-s{seed}"
                run = runs.get(str(out))
                if run is None:
                    continue
                per_seed.append({"seed": seed, "run_id": run.run_id, "train_seconds": _train_seconds(out),
                                 "after_summary": _summary(store.get(run.run_id).metrics)})
            if per_seed:
                entry["strategies"][strat] = {"runs": per_seed, "aggregate": {
                    k: _mean_sd([r["after_summary"].get(k) for r in per_seed])
                    for k in ("clean_accuracy", "planted_accuracy", "strict_attack_success", "n_confirmed_drivers")
                } | {"train_seconds": _mean_sd([r["train_seconds"] for r in per_seed])}}
        if spec["datasets"]:  # the clean GRU on the same planted texts: what a shortcut-free model gets there
            ref_spec = {"model": str(ROOT / "artifacts" / "planted" / "models" / "gru-clean-s1"),
                        "datasets": spec["datasets"]}
            ref = run_job(_nightly(ref_spec, WORK / "store" / "reference", 0, with_sst2=False), progress=False)
            entry["clean_reference_planted_accuracy"] = _metric(ref.metrics, "accuracy", "planted-test")
        results["models"][name] = entry
    return results


def _goals(results: dict[str, Any]) -> None:
    for name, entry in results["models"].items():
        before = entry["before"]
        for s in entry["strategies"].values():
            agg = s["aggregate"]
            goal: dict[str, Any] = {}
            ref = entry.get("clean_reference_planted_accuracy")
            if ref is not None and before.get("planted_accuracy") is not None and agg["planted_accuracy"]["mean"]:
                cost = ref - before["planted_accuracy"]
                gain = agg["planted_accuracy"]["mean"] - before["planted_accuracy"]
                goal["recovered_share"] = gain / cost if cost > 0 else None
                goal["recovery_goal_met"] = bool(cost > 0 and gain / cost >= 0.9)
            elif name.endswith("-clean") and before.get("strict_attack_success") and \
                    agg["strict_attack_success"]["mean"] is not None:
                cut = 1 - (agg["strict_attack_success"]["mean"] or 0) / before["strict_attack_success"]
                loss = (before["clean_accuracy"] or 0) - (agg["clean_accuracy"]["mean"] or 0)
                goal.update({"relative_attack_cut": cut, "clean_accuracy_loss_points": 100 * loss,
                             "robustness_goal_met": bool(cut >= 0.3 and loss <= 0.005)})
            s["goal"] = goal


def _fmt(x: Any, pct: bool = True) -> str:
    if not isinstance(x, dict):
        return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.2f}")
    if x.get("mean") is None:
        return "-"
    return f"{100 * x['mean']:.1f} ± {100 * x['sd']:.1f}%" if pct else f"{x['mean']:.1f} ± {x['sd']:.1f}"


def _markdown(results: dict[str, Any]) -> str:
    a = results["args"]
    lines = ["# `audit harden` benchmark", "",
             f"Machine: {results['machine']['host']}, 1 torch thread. Seeds {a['seeds']}, epochs "
             f"{a['epochs'] or 'as configured'}, strict attack on {a['attack_texts']} test texts per audited dataset.",
             "",
             "- Models: those of `planted_shortcuts.py` (trained there for 2 epochs under its compute budget), "
             "retrained by harden with the same training config; 'before' and 'after' are audited the same way.",
             "- Values are mean ± sd over the seeds run (sd 0.0 with one seed). 'train s': training time of the "
             "kept model (from its metrics.json); wall times are load-bound on this shared machine.",
             "- Recovery = (planted acc after - before) / (clean reference - before), on the same planted texts; "
             "robustness = relative cut of strict-valid attack success and the clean accuracy lost.",
             ""]
    for name, entry in results["models"].items():
        b = entry["before"]
        lines += [f"## {name}", "",
                  f"Before: clean acc {_fmt(b['clean_accuracy'])}, planted acc {_fmt(b['planted_accuracy'])}, "
                  f"strict attack success {_fmt(b['strict_attack_success'])}, confirmed drivers "
                  f"{b['n_confirmed_drivers']}."]
        if entry.get("clean_reference_planted_accuracy") is not None:
            lines.append(f"Clean reference GRU on the same planted texts: "
                         f"{_fmt(entry['clean_reference_planted_accuracy'])}.")
        lines += ["", "| strategy | clean acc | planted acc | strict attack success | train s | goal |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for strat, s in entry["strategies"].items():
            g = s["aggregate"]
            goal = s.get("goal", {})
            verdict = ("recovered {:.0%} ({})".format(goal["recovered_share"], "met" if goal["recovery_goal_met"]
                                                       else "not met") if goal.get("recovered_share") is not None
                       else "attack cut {:.0%}, acc loss {:.2f} pt ({})".format(
                           goal["relative_attack_cut"], goal["clean_accuracy_loss_points"],
                           "met" if goal["robustness_goal_met"] else "not met")
                       if "relative_attack_cut" in goal else "-")
            lines.append(f"| {strat} | {_fmt(g['clean_accuracy'])} | {_fmt(g['planted_accuracy'])} | "
                         f"{_fmt(g['strict_attack_success'])} | {_fmt(g['train_seconds'], pct=False)} | {verdict} |")
        skipped = [s for s in a["strategies"] if s not in entry["strategies"]]
        if skipped:
            lines += ["", f"Not trained: {', '.join(skipped)} -- the run has no confirmed driver words, so harden "
                      "had nothing for these strategies to act on (it says so and exits cleanly)."]
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
