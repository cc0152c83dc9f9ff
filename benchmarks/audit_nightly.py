"""Benchmark: one full nightly audit run (configs/nightly.yaml) on the SST-2 test set.

Measures wall time per stage (attribution + findings against the 60 s goal; the
attack reported separately) and the peak resident memory, and writes
``reports/benchmarks/audit.json`` and ``audit.md``.

    AUDIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/audit_nightly.py [--attack-max-texts N]

Needs the reference model (``artifacts/models/gru``); with ``--train`` it is
trained from ``configs/train/gru.yaml`` first when missing.  The run goes to a
throw-away store (``--store``, default a temporary directory) so benchmarking
never adds runs to ``reports/runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 60.0


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / (1024.0 * 1024.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "nightly.yaml")
    ap.add_argument("--store", type=Path, default=None, help="run store (default: a temporary directory)")
    ap.add_argument("--attack-max-texts", type=int, default=None, help="cap the attacked texts (default: config)")
    ap.add_argument("--no-attack", action="store_true", help="skip the attack stage")
    ap.add_argument("--train", action="store_true", help="train the reference model if it is missing")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    args = ap.parse_args(argv)

    os.chdir(REPO)
    t_import = time.perf_counter()
    import torch

    from audit.engine.config import load_config
    from audit.engine.job import run_job

    import_s = time.perf_counter() - t_import
    cfg = load_config(args.config)
    model_dir = Path(cfg.model)
    if ":" not in cfg.model and not model_dir.is_dir() and not args.train:
        print(f"reference model {model_dir} is missing: train it (`audit train --config {cfg.train_config}`) "
              "or pass --train", file=sys.stderr)
        return 1
    attack = cfg.attack
    if args.no_attack:
        attack = attack.model_copy(update={"enabled": False})
    elif args.attack_max_texts is not None:
        attack = attack.model_copy(update={"max_texts": args.attack_max_texts})
    cfg = cfg.model_copy(update={"attack": attack})

    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        store = args.store or Path(tmp) / "runs"
        t0 = time.perf_counter()
        result = run_job(cfg, config_path=args.config, resume=False, store_root=store, progress=False)
        wall = time.perf_counter() - t0
        manifest = dict(result.record.manifest)
        n_tokens = int(result.record.table("token_attributions").shape[0])

    timings = manifest["timings"]
    af = float(timings["attribution_and_findings"])
    report = {
        "benchmark": "audit_nightly",
        "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "model_ref": manifest["model_ref"],
        "model_hash": manifest["model_hash"],
        "n_texts": manifest["metrics"]["n_examples"],
        "n_tokens": n_tokens,
        "accuracy": manifest["metrics"]["accuracy"],
        "n_attacked": manifest["metrics"].get("n_attacked"),
        "metrics": manifest["metrics"],
        "gate_passed": manifest["gate"]["passed"],
        "attack_max_texts": cfg.attack.max_texts if cfg.attack.enabled else 0,
        "timings_s": timings,
        "attribution_and_findings_s": af,
        "attack_s": float(timings.get("attack", 0.0)),
        "wall_s": wall,
        "import_s": import_s,
        "goal_attribution_and_findings_s": GOAL_S,
        "goal_met": af <= GOAL_S,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "torch_threads": cfg.threads,
        "torch_version": torch.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audit.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rows = "\n".join(f"| {k} | {float(v):.2f} |" for k, v in timings.items())
    m = report["metrics"]
    md = f"""# Nightly audit benchmark

`{report['config']}` on {report['n_texts']} texts ({n_tokens} tokens), model `{report['model_ref']}`
({report['cpu_count']} CPUs, torch {report['torch_version']}, {cfg.threads} torch thread(s)).

| stage | seconds |
|---|---|
{rows}

- attribution + findings: **{af:.2f} s** (goal <= {GOAL_S:.0f} s: {'met' if report['goal_met'] else 'NOT met'})
- attack ({report['n_attacked']} texts attacked, reported separately): {report['attack_s']:.2f} s;
  success {100 * m.get('attack_success_rate', 0):.1f}% raw, {100 * m.get('attack_success_rate_constrained', 0):.1f}% with no meaning flag,
  {m.get('mean_queries', 0):.1f} model queries per attacked text
- wall time of the job: {wall:.2f} s (imports {import_s:.2f} s before it)
- peak resident memory: {report['peak_rss_mb']:.0f} MB
- accuracy: {report['accuracy']:.4f}
"""
    (args.out / "audit.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
