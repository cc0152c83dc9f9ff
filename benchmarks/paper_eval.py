"""Wall time of the whole paper evaluation (``audit evaluate``), with and without training.

    AUDIT_DATA_DIR=../shared/data NLTK_DATA=../shared/data/nltk_data \
        python benchmarks/paper_eval.py                      # evaluate configs/paper/sst2.yaml into reports/paper
    python benchmarks/paper_eval.py --retrain               # also train fresh copies of the models (timed)

Without ``--retrain`` the models named by the config are used as they are (they
are trained first only when missing, and that time is then measured), and the
"training included" figure adds the training wall time each reference model
recorded when it was trained (``artifacts/models/<name>/benchmark.json``, else
``metrics.json``: seconds per epoch x epochs run); the report says which source
each number came from.  With ``--retrain`` every model is trained again into a
scratch directory and that measured time is used instead.

Writes reports/benchmarks/paper_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from audit.evaluation.config import load_config, resolve_path
from audit.evaluation.runner import run_evaluation
from audit.models.io import read_metrics

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 15 * 60
log = logging.getLogger("benchmarks.paper_eval")


def _recorded_training(model_dir: Path) -> tuple[float | None, str]:
    bench = model_dir / "benchmark.json"
    if bench.is_file():
        data = json.loads(bench.read_text(encoding="utf-8"))
        if "wall_seconds" in data:
            return float(data["wall_seconds"]), f"{bench.relative_to(ROOT) if bench.is_relative_to(ROOT) else bench}"
    metrics = read_metrics(model_dir)
    spe, epochs = metrics.get("seconds_per_epoch"), metrics.get("epochs_run") or metrics.get("epochs")
    if spe is not None and epochs is not None:
        return float(spe) * float(epochs), "metrics.json seconds_per_epoch x epochs"
    return None, "not recorded"


def _retrain(config: Path) -> dict[str, float]:
    from audit.models.config import load_train_config
    from audit.models.train import train_model

    cfg, _ = load_config(config)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="paper-eval-retrain-") as tmp:
        for entry in cfg.models:
            if entry.train_config is None:
                continue
            tc = load_train_config(resolve_path(entry.train_config, base=ROOT))
            t0 = time.perf_counter()
            train_model(tc, out_dir=Path(tmp) / entry.name, progress=False)
            out[entry.name] = time.perf_counter() - t0
            shutil.rmtree(Path(tmp) / entry.name, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "paper" / "sst2.yaml")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "paper")
    ap.add_argument("--bench-dir", type=Path, default=ROOT / "reports" / "benchmarks")
    ap.add_argument("--retrain", action="store_true", help="train fresh copies of the models and time that too")
    args = ap.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    os.chdir(ROOT)

    load_before = os.getloadavg()
    cfg_rel = args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
    out_rel = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    t0 = time.perf_counter()
    results = run_evaluation(cfg_rel, out_dir=out_rel, command=f"audit evaluate --config {cfg_rel} --out {out_rel}")
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    timings: dict[str, Any] = results["timings"]
    trained_now = {k.split(":", 1)[1]: v for k, v in timings.items() if k.startswith("train:")}
    eval_wall = wall - sum(trained_now.values())

    training: dict[str, dict[str, Any]] = {}
    retrained = _retrain(args.config) if args.retrain else {}
    for name, info in results["provenance"]["models"].items():
        if name in retrained:
            training[name] = {"seconds": retrained[name], "source": "measured now (--retrain)"}
        elif name in trained_now:
            training[name] = {"seconds": trained_now[name], "source": "measured now (model was missing)"}
        else:
            secs, src = _recorded_training(Path(info["dir"]))
            training[name] = {"seconds": secs, "source": f"recorded at training time ({src})"}
    train_total = sum(v["seconds"] for v in training.values() if v["seconds"] is not None)
    methods = {m["name"]: m["options"] for m in results["provenance"]["methods"]}
    report = {
        "benchmark": "paper_eval",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": str(cfg_rel),
        "config_sha256": results["provenance"]["config_sha256"],
        "methods": methods,
        "evaluation_seconds": round(eval_wall, 1),
        "training_seconds": round(train_total, 1),
        "total_with_training_seconds": round(eval_wall + train_total, 1),
        "budget_seconds": BUDGET_SECONDS,
        "within_budget": eval_wall <= BUDGET_SECONDS,
        "training": training,
        "stages": timings,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads_eval": results["provenance"].get("torch_threads"),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
    }
    args.bench_dir.mkdir(parents=True, exist_ok=True)
    (args.bench_dir / "paper_eval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.bench_dir / "paper_eval.md").write_text(_markdown(report), encoding="utf-8")
    log.info("evaluation %.0f s, with training %.0f s", eval_wall, eval_wall + train_total)


def _markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Paper evaluation wall time",
        "",
        f"`python benchmarks/paper_eval.py` on {r['config']} (sha256 `{r['config_sha256'][:16]}…`), {r['created_at']}.",
        "",
        "| what | seconds | minutes |",
        "|---|---|---|",
        f"| evaluation, models already trained | {r['evaluation_seconds']:.0f} | {r['evaluation_seconds'] / 60:.1f} |",
        f"| training of the models | {r['training_seconds']:.0f} | {r['training_seconds'] / 60:.1f} |",
        f"| evaluation including training | {r['total_with_training_seconds']:.0f} | {r['total_with_training_seconds'] / 60:.1f} |",
        "",
        f"Budget for the evaluation with trained models: {r['budget_seconds'] // 60} minutes "
        f"({'met' if r['within_budget'] else 'NOT met'}).",
        "",
        "Cost knobs: " + ", ".join(f"{k} `{v}`" for k, v in r["methods"].items() if v) + " (LIME and IG dominate).",
        "",
        "| model | training seconds | source |",
        "|---|---|---|",
    ]
    for name, t in r["training"].items():
        secs = "–" if t["seconds"] is None else f"{t['seconds']:.0f}"
        lines.append(f"| {name} | {secs} | {t['source']} |")
    lines += ["", "Stages (seconds):", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["stages"].items()]
    lines += [
        "",
        f"Machine: {m['cpus']} CPUs shared with other jobs (load average {m['load_average_before'][0]:.1f} before, "
        f"{m['load_average_after'][0]:.1f} after), torch {m['torch']} with {m['torch_threads_eval']} thread(s) for the "
        f"evaluation, Python {m['python']}, {m['platform']}. Timings on a shared machine vary with its load.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
