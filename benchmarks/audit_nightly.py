"""Benchmark: one full nightly audit run (configs/nightly.yaml) on the SST-2 test set.

Measures wall time per stage (attribution + findings against the 60 s goal; the
attack reported separately) and the peak resident memory, and writes
``reports/benchmarks/audit.json`` and ``audit.md``.

    AUDIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/audit_nightly.py [--attack-max-texts N]

Needs the reference model (``artifacts/models/gru``); with ``--train`` it is
trained from ``configs/train/gru.yaml`` first when missing (``--model DIR`` audits
another model directory instead).  The run goes to a throw-away store (``--store``,
default a temporary directory) so benchmarking never adds runs to ``reports/runs``.

**Driver-statistics overhead** (issue 11: "the driver statistics add at most 1x
to today's attribution + findings time"), measured in the same process right
after the job, on the job's own tables: the baseline is the job's attribution
stage plus *today's* findings functions (``failure_drivers``, ``driver_words``,
``pos_stats``, re-timed here), against the new findings stage
(:func:`audit.findings.analyze`: driver statistics with every counterfactual
re-prediction, failure reasons, minimal fixes; and ``driver_statistics`` alone).
Each findings timing is the median of ``--repeats`` calls (CPU is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 60.0


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / (1024.0 * 1024.0)


def _median_cpu(fn: Any, repeats: int) -> tuple[float, float, Any]:
    """(median wall s, median CPU s, last result) of ``repeats`` calls of ``fn``."""
    walls, cpus, out = [], [], None
    for _ in range(max(1, repeats)):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def _driver_overhead(cfg: Any, record: Any, manifest: dict[str, Any], *, repeats: int) -> dict[str, Any]:
    """Time today's findings and the new findings stage on the job's tables (see the module docstring)."""
    import torch

    from audit.engine.drivers import driver_words, failure_drivers
    from audit.engine.job import load_model_for_job
    from audit.engine.pos_stats import pos_stats
    from audit.findings import FindingsConfig, analyze, driver_statistics
    from audit.findings.analyze import default_stopwords

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        model, _ = load_model_for_job(cfg)
        preds, toks, segs = (record.table(n) for n in ("predictions", "token_attributions", "segments"))
        fcfg = cfg.findings if isinstance(getattr(cfg, "findings", None), FindingsConfig) else FindingsConfig()
        stops = frozenset(default_stopwords())

        def today() -> Any:
            drivers = failure_drivers(preds, toks, segs, top_k=cfg.findings.top_k)
            driver_words(preds, toks, drivers, label_names=model.labels, train_counts=None,
                         words_only=cfg.findings.words_only)
            return pos_stats(toks)

        def attribution() -> None:  # the job's attribution stage again, on its own tokens (for CPU seconds)
            from audit.engine.attribute import BatchInput, attribute_batch

            lists = toks.groupby(["dataset", "example_id"], sort=False)["token"].agg(list)
            rows = preds[["dataset", "example_id", "line", "text", "gold"]].itertuples(index=False)
            items = [(r, lists[(r.dataset, r.example_id)]) for r in rows]
            for start in range(0, len(items), cfg.batch_size):
                part = items[start:start + cfg.batch_size]
                for name in dict.fromkeys(r.dataset for r, _ in part):
                    sub = [(r, t) for r, t in part if r.dataset == name]
                    attribute_batch(model, BatchInput(
                        dataset=name, example_ids=[int(r.example_id) for r, _ in sub],
                        lines=[int(r.line) for r, _ in sub], texts=[str(r.text) for r, _ in sub],
                        golds=[int(r.gold) for r, _ in sub], tokens=[t for _, t in sub]))

        att_w, att_c, _ = _median_cpu(attribution, 1)
        old_w, old_c, _ = _median_cpu(today, repeats)
        new_w, new_c, found = _median_cpu(lambda: analyze(preds, toks, segs, model=model, config=fcfg,
                                                          stopwords=stops), repeats)
        ds_w, ds_c, _ = _median_cpu(lambda: driver_statistics(preds, toks, model=model, config=fcfg,
                                                               segments=segs, stopwords=stops), repeats)
    finally:
        torch.set_num_threads(threads)
    timings = manifest["timings"]
    attribution = float(timings["attribution"])
    baseline = attribution + old_w
    job_new = timings.get("driver_statistics")  # the job's own stage, when the job runs audit.findings
    job_base = attribution + float(timings.get("findings", 0.0))
    stats = found.driver_stats
    allscope = stats[stats["scope"] == "all"]
    conf = allscope[allscope["confirmed"].astype(bool)].sort_values("rank")
    return {
        "repeats": repeats,
        "attribution_s": attribution,
        "attribution_retimed_s": att_w, "attribution_retimed_cpu_s": att_c,
        "findings_today_s": old_w, "findings_today_cpu_s": old_c,
        "baseline_cpu_s": att_c + old_c,
        "ratio_analyze_to_baseline_cpu": new_c / (att_c + old_c) if att_c + old_c else None,
        "baseline_attribution_plus_findings_s": baseline,
        "analyze_s": new_w, "analyze_cpu_s": new_c,
        "driver_statistics_s": ds_w, "driver_statistics_cpu_s": ds_c,
        "n_variants": found.n_variants,
        "job_driver_statistics_s": job_new,
        "job_attribution_plus_findings_s": job_base,
        "ratio_job_stage_to_job_baseline": float(job_new) / job_base if job_new is not None and job_base else None,
        "ratio_analyze_to_baseline": new_w / baseline if baseline else None,
        "ratio_driver_statistics_to_baseline": ds_w / baseline if baseline else None,
        "goal_ratio": 1.0,
        "goal_met": bool(baseline and new_w / baseline <= 1.0 and (att_c + old_c) and new_c / (att_c + old_c) <= 1.0),
        "job_timings_s": dict(manifest["timings"]),
        "n_candidates_tested": int((allscope["status"] != "below_support").sum()),
        "n_confirmed": len(conf),
        "confirmed": [{"unit": str(r.unit), "kind": str(r.kind), "is_punct": bool(r.is_punct),
                       "is_stopword": bool(r.is_stopword), "n_errors": int(r.n_errors),
                       "fix_rate": float(r.fix_rate_remove), "control_fix_rate": float(r.control_fix_rate),
                       "q_fix": float(r.q_fix)} for r in conf.itertuples()],
    }


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _overhead_md(o: dict[str, Any]) -> str:
    conf = ", ".join(f"`{c['unit']}` ({c['kind']}, fix {100 * c['fix_rate']:.0f}% vs control "
                     f"{100 * c['control_fix_rate']:.0f}%)" for c in o["confirmed"]) or "none"
    return f"""
## Driver-statistics overhead (same run, same tables; median of {o['repeats']} calls)

| | seconds |
|---|---|
| attribution (job stage) | {o['attribution_s']:.2f} |
| today's findings (failure_drivers + driver_words + pos_stats) | {o['findings_today_s']:.2f} |
| **baseline: attribution + today's findings** | **{o['baseline_attribution_plus_findings_s']:.2f}** |
| new findings stage `audit.findings.analyze` ({o['n_variants']} counterfactual variants) | {o['analyze_s']:.2f} |
| of which `driver_statistics` alone | {o['driver_statistics_s']:.2f} |

- added by the new findings stage: **{o['ratio_analyze_to_baseline']:.2f}x** the baseline in wall time
  (goal <= 1x: {'met' if o['goal_met'] else 'NOT met'}); driver statistics alone
  {o['ratio_driver_statistics_to_baseline']:.2f}x
- in CPU seconds (less sensitive to the shared machine's load): attribution re-timed on the same tokens
  {o['attribution_retimed_cpu_s']:.2f} + today's findings {o['findings_today_cpu_s']:.2f} =
  {o['baseline_cpu_s']:.2f} CPU s against {o['analyze_cpu_s']:.2f} CPU s for the new stage:
  **{o['ratio_analyze_to_baseline_cpu']:.2f}x**
- the job's own stages in the same run: `driver_statistics` {_s(o['job_driver_statistics_s'])} s against
  attribution + findings {o['job_attribution_plus_findings_s']:.2f} s (its findings no longer include
  failure_drivers, which now come from the new stage): {_x(o['ratio_job_stage_to_job_baseline'])}
- job stage timings: {', '.join(f'{k} {v:.2f} s' for k, v in o['job_timings_s'].items())}
- on this model: {o['n_candidates_tested']} candidates with enough support, {o['n_confirmed']} confirmed: {conf}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "nightly.yaml")
    ap.add_argument("--store", type=Path, default=None, help="run store (default: a temporary directory)")
    ap.add_argument("--attack-max-texts", type=int, default=None, help="cap the attacked texts (default: config)")
    ap.add_argument("--no-attack", action="store_true", help="skip the attack stage")
    ap.add_argument("--train", action="store_true", help="train the reference model if it is missing")
    ap.add_argument("--model", type=str, default=None, help="audit this model directory instead of the config's")
    ap.add_argument("--repeats", type=int, default=3, help="calls per findings timing (median is reported)")
    ap.add_argument("--note", type=str, default="", help="a line added to the report (e.g. why another model)")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    args = ap.parse_args(argv)

    os.chdir(REPO)
    t_import = time.perf_counter()
    import torch

    from audit.engine.config import load_config
    from audit.engine.job import run_job

    import_s = time.perf_counter() - t_import
    cfg = load_config(args.config)
    if args.model is not None:
        cfg = cfg.model_copy(update={"model": args.model})
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

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        store = args.store or Path(tmp) / "runs"
        t0 = time.perf_counter()
        result = run_job(cfg, config_path=args.config, resume=False, store_root=store, progress=False)
        wall = time.perf_counter() - t0
        manifest = dict(result.record.manifest)
        n_tokens = int(result.record.table("token_attributions").shape[0])
        overhead = _driver_overhead(cfg, result.record, manifest, repeats=args.repeats)

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
        "driver_statistics_overhead": overhead,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "note": args.note,
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
  success {100 * (m.get('attack_success_rate') or 0):.1f}% raw,
  {100 * (m.get('attack_success_rate_constrained') or 0):.1f}% with no meaning flag,
  {m.get('mean_queries') or 0:.1f} model queries per attacked text
- wall time of the job: {wall:.2f} s (imports {import_s:.2f} s before it)
- peak resident memory: {report['peak_rss_mb']:.0f} MB
- accuracy: {report['accuracy']:.4f}
- 1-minute load average before / after: {report['load_avg_before'][0]:.1f} / {report['load_avg_after'][0]:.1f}
  ({report['cpu_count']} CPUs shared with other jobs: wall times are load-bound, CPU seconds less so)
{('- ' + args.note) if args.note else ''}
{_overhead_md(overhead)}"""
    (args.out / "audit.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
