"""Benchmark: the streamed findings stage (``findings_of_blocks``) of this code against a baseline checkout,
on the same texts, in the same session, with the tables compared.

Writes ``reports/benchmarks/findings_speed.json`` and ``findings_speed.md``.

    AUDIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/findings_speed.py --model artifacts/models/gru \
        --texts 20000 --baseline-tree /tmp/old-checkout [--repeats 2] [--note "..."]

Data: ``--texts`` texts by the rule of ``benchmarks/scale_out.py`` (recombined SST-2 training sentences,
seed 20261201), one Parquet file.  Each run is the nightly job with ``stream: true`` on the local
executor, 1 torch thread, attack and driver-word flips off, in its own subprocess whose ``PYTHONPATH``
is the tree under test (this one or ``--baseline-tree``, e.g. a ``git worktree`` of an older commit);
the runs alternate baseline / current ``--repeats`` times.  Measured: the wall and process CPU time of
the findings stage (the job's ``findings_of_blocks`` call) and of the whole job.  The findings tables of
every run are compared with the first baseline run's (exact equality).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TABLES = ("driver_stats", "failure_drivers", "minimal_fixes", "driver_words", "pos_stats")


def worker(args: dict[str, Any]) -> dict[str, Any]:
    """One streamed job on the tree first on ``sys.path``; times its findings stage."""
    sys.path.insert(0, str(Path(args["tree"]) / "benchmarks"))
    import scale_out  # the tree's own copy: its config rule

    import audit
    import audit.engine.job as job

    real = job.findings_of_blocks
    timing: dict[str, float] = {}

    def timed(*a: Any, **k: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return real(*a, **k)
        finally:
            timing["findings_wall_s"] = time.perf_counter() - w
            timing["findings_cpu_s"] = time.process_time() - c

    job.findings_of_blocks = timed  # type: ignore[assignment]
    cfg = scale_out._config({"model": args["model"], "store": args["store"], "data": args["data"],
                             "no_driver_flips": True}, executor="local", threads=1, attack_texts=0, stream=True)
    w, c = time.perf_counter(), time.process_time()
    res = job.run_job(cfg, progress=False)
    return {"tree": args["tree"], "package": str(Path(audit.__file__).parent), **timing,
            "job_wall_s": time.perf_counter() - w, "job_cpu_s": time.process_time() - c,
            "n_errors": res.metrics.get("n_errors"), "run": str(res.record.path)}


def _spawn(tree: Path, args: dict[str, Any]) -> dict[str, Any]:
    out = Path(args["store"]) / "result.json"
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--_worker", json.dumps({**args, "tree": str(tree)}), "--_out", str(out)]
    subprocess.run(cmd, check=True, cwd=tree, env=env)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _same(a: str, b: str) -> dict[str, bool]:
    import pandas as pd

    out = {}
    for name in TABLES:
        x, y = pd.read_parquet(Path(a) / f"{name}.parquet"), pd.read_parquet(Path(b) / f"{name}.parquet")
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
            out[name] = True
        except AssertionError:
            out[name] = False
    return out


def _md(r: dict[str, Any]) -> str:
    lines = ["# Streamed findings stage: this code vs a baseline checkout", "",
             f"{r['machine']}; load at start {r['load_start']}, at end {r['load_end']}. {r['note']}", "",
             f"{r['texts']} texts (the rule of `benchmarks/scale_out.py`), the nightly job with `stream: true`, local "
             "executor, 1 torch thread, attack and driver-word flips off; runs alternate baseline / current, each in "
             "its own process.", "",
             f"Baseline: `{r['baseline_tree']}` ({r['baseline_commit']}); current: `{r['current_tree']}` "
             f"({r['current_commit']}).", "",
             "| run | tree | findings wall s | findings CPU s | job wall s | errors | findings tables equal to baseline #1 |",
             "|---|---|---|---|---|---|---|"]
    for i, run in enumerate(r["runs"]):
        eq = "all" if all(run["same_tables"].values()) else ", ".join(k for k, v in run["same_tables"].items() if not v)
        lines.append(f"| {i + 1} | {run['label']} | {run['findings_wall_s']:.1f} | {run['findings_cpu_s']:.1f} | "
                     f"{run['job_wall_s']:.1f} | {run['n_errors']} | {eq} |")
    s = r["summary"]
    lines += ["", f"Findings CPU, mean over runs: baseline {s['baseline_cpu_s']:.1f} s, current {s['current_cpu_s']:.1f} s: "
              f"**{s['ratio']:.2f}x** ({1e3 * s['current_cpu_s'] / r['texts']:.2f} ms per text, baseline "
              f"{1e3 * s['baseline_cpu_s'] / r['texts']:.2f}). CPU time is the figure to read on a shared box; wall "
              "times are shown for completeness.", ""]
    return "\n".join(lines)


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(REPO / "artifacts" / "models" / "gru"))
    p.add_argument("--texts", type=int, default=20000)
    p.add_argument("--baseline-tree", type=Path, required=False)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    p.add_argument("--note", default="")
    p.add_argument("--_worker")
    p.add_argument("--_out")
    a = p.parse_args(argv)
    if a._worker:
        Path(a._out).write_text(json.dumps(worker(json.loads(a._worker))))
        return 0
    if a.baseline_tree is None:
        p.error("--baseline-tree is required (a checkout of the code to compare with, e.g. a git worktree)")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import scale_out

    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="findings_speed_"))
    texts, labels = scale_out.build_texts(a.texts)
    data = scale_out.write_parquet(tmp / "texts.parquet", texts, labels)
    runs = []
    for rep in range(a.repeats):
        for label, tree in (("baseline", a.baseline_tree.resolve()), ("current", REPO)):
            store = tmp / f"{label}{rep}"
            store.mkdir()
            run = _spawn(tree, {"model": str(Path(a.model).resolve()), "store": str(store), "data": str(data)})
            runs.append({"label": label, **run})
            print(f"{label} #{rep + 1}: findings {run['findings_wall_s']:.1f} s wall, {run['findings_cpu_s']:.1f} s CPU",
                  file=sys.stderr)
    first = next(r["run"] for r in runs if r["label"] == "baseline")
    for run in runs:
        run["same_tables"] = _same(first, run["run"])

    def mean(label: str) -> float:
        xs = [r["findings_cpu_s"] for r in runs if r["label"] == label]
        return sum(xs) / len(xs)

    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "load_start": load_start, "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()), "note": a.note,
              "texts": a.texts, "baseline_tree": str(a.baseline_tree), "baseline_commit": _commit(a.baseline_tree),
              "current_tree": str(REPO), "current_commit": _commit(REPO), "runs": runs,
              "summary": {"baseline_cpu_s": mean("baseline"), "current_cpu_s": mean("current"),
                          "ratio": mean("current") / mean("baseline")}}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "findings_speed.json").write_text(json.dumps(report, indent=1))
    (a.out / "findings_speed.md").write_text(_md(report))
    print(_md(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
