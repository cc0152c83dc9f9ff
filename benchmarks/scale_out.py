"""Benchmark: the nightly audit on the local and the Ray executor at equal cores, plus a 1M-row stream.

Writes ``reports/benchmarks/scale_out.json`` and ``scale_out.md``.

    AUDIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/scale_out.py --model artifacts/models/gru \
        [--texts 100000] [--attr-texts N] [--attack-texts 500] [--stream-rows 1000000] [--stream-chunks N] \
        [--stream-executor ray|local] [--estimate-only]

It prints its expected wall time first (:func:`estimate`, from per-text CPU costs measured here before).

Data (documented rule, fixed seed): ``--texts`` texts built from the SST-2 *training* sentences.  For
text i a label is drawn uniformly, then 2 or 3 distinct training sentences *of that label* are drawn
and joined with a space; a text already produced is drawn again, so no two texts are equal.  The
label of the text is the label its sentences share.  Written as Parquet (text, label) to a temporary
directory, never into the repository.

Runs, each in its own subprocess (so each peak RSS is its own), in the same session:

* ``local-1t``: local executor, torch 1 thread (the per-core baseline; tables compared with Ray's);
* ``ray-2x1``: Ray executor, 2 actors x 1 CPU x 1 thread (2 cores), Ray started with 2 CPUs before the
  job (its start is reported separately); a 1-chunk warm-up job before it measures the actor start;
* ``local-2t``: local executor, torch 2 threads (2 cores);

each on all the texts (``--attr-texts`` fewer): attribution, findings, and the attack on a fixed, seeded
sample (``attack.max_texts = --attack-texts``: the first correctly classified texts in the seeded order),
the full attack projected from its measured CPU per text.  The 1M-row stream: ``--stream-rows`` rows
(the same rule, texts may repeat beyond the unique pool) in one Parquet file, scanned (validated, hashed,
tokenized) whole, then the streamed attribution loop over all its chunks (``--stream-chunks`` fewer) on
``--stream-executor``, attack off, the driver's RSS recorded after each chunk and, with Ray's processes,
every 5 s.  The whole-file reader's RSS on the same file is measured beside it.

``--nightly-stream --rows N [--stream-executor local|ray] [--attack-texts K]`` runs only the FULL nightly
job with ``stream: true`` on an N-row Parquet file built by the same rule (attribution, findings, driver
words, POS statistics, attack on K texts or off at 0, report, publish; driver-word flips off), and writes
``scale_out_nightly.{json,md}`` (``--name`` another name): wall time, the driver's peak RSS, its RSS
every ``--rss-every`` seconds and at the end of each stage.  With ``--reuse DIR`` the Parquet file and
the run store stay in DIR, so a second job there is diffed against the first (a 1M-row run diff).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from typing_extensions import Self

REPO = Path(__file__).resolve().parent.parent
SEED = 20261201
BATCH = 64
FLIP_MAX_TEXTS = 100_000  # attack.flip_max_texts's default: the texts the driver-word flip probes visit


# ----------------------------------------------------------------------------- helpers
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class _RaySampler:
    """This process's descendants (the Ray it started: raylet, workers, actors), sampled every 0.5 s:
    peak summed RSS, peak RSS of one actor, and CPU seconds (exited processes keep their last sample)."""

    def __init__(self) -> None:
        self.peak_mb, self.peak_actor_mb = 0.0, 0.0
        self.children_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        rss = _descendants(os.getpid(), self.children_cpu)
        self.peak_mb = max(self.peak_mb, sum(rss.values()))
        self.peak_actor_mb = max([self.peak_actor_mb, *rss.values()])

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def __enter__(self) -> Self:
        self.sample()  # baseline: CPU the processes alive now already used
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def cpu_s(self) -> float:
        return sum(self.children_cpu.values())


def _descendants(root: int, cpu_seen: dict[int, float]) -> dict[int, float]:
    """RSS (MB) of each live descendant of ``root``; their CPU seconds (user + sys) recorded in ``cpu_seen``."""
    tick = os.sysconf("SC_CLK_TCK")
    page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
    parents: dict[int, int] = {}
    stats: dict[int, tuple[float, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(proc.name)
        parents[pid] = int(fields[1])
        stats[pid] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[21]) * page_mb)
    rss = {}
    for pid, (cpu, mem) in stats.items():
        p, depth = parents.get(pid), 0
        while p is not None and p != root and depth < 50:
            p, depth = parents.get(p), depth + 1
        if p == root:
            cpu_seen[pid] = max(cpu_seen.get(pid, 0.0), cpu)
            rss[pid] = mem
    return rss


def _sentences() -> dict[int, list[str]]:
    from audit.data.readers import read_dataset
    from audit.settings import resolve_data_path

    train = read_dataset(resolve_data_path("data:sst2/train.tsv"), label_map={"0": 0, "1": 1})
    out: dict[int, list[str]] = {0: [], 1: []}
    for text, label in zip(train.texts, train.labels, strict=True):
        out[label].append(text)
    return out


def build_texts(n: int, *, unique: bool = True, seed: int = SEED) -> tuple[list[str], list[int]]:
    """The documented rule (module docstring)."""
    pool = _sentences()
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    while len(texts) < n:
        label = rng.randrange(2)
        text = " ".join(rng.sample(pool[label], rng.choice((2, 3))))
        if unique and text in seen:
            continue
        if unique:
            seen.add(text)
        texts.append(text)
        labels.append(label)
    return texts, labels


def write_parquet(path: Path, texts: list[str], labels: list[int], *, row_group: int = 65536) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": texts, "label": labels}), path, row_group_size=row_group)
    return path


def _config(args: dict[str, Any], *, executor: str, threads: int, attack_texts: int, stream: bool) -> Any:
    import yaml

    from audit.engine.config import parse_config

    data = yaml.safe_load((REPO / "configs" / "nightly.yaml").read_text())
    data.update(model=args["model"], train_config=None, threads=threads, executor=executor, stream=stream,
                store=args["store"], batch_size=BATCH,
                datasets=[{"name": "sst2-recombined", "path": args["data"], "label_map": {"0": 0, "1": 1}}],
                gate={"min_accuracy": 0.0})
    data["attack"] = {**data["attack"], "max_texts": attack_texts, "enabled": attack_texts > 0}
    if args.get("no_driver_flips"):  # the driver-word flip probes (chunked on the executor since 2026-12-02)
        data["attack"].update(flip_top_words=0, flip_words=[])
    data["ray"] = {"num_actors": 2, "cpus_per_actor": 1, "batch_size": 1, "max_retries": 3}
    return parse_config(data)


# ----------------------------------------------------------------------------- worker runs
def _instrument() -> dict[str, dict[str, float]]:
    """Accumulate wall and CPU (this thread) seconds of the driver's parts and of the local chunk work."""
    from audit.engine import adversarial, job
    from audit.engine.executors import base, ray_executor, work
    from audit.store import runs

    acc: dict[str, dict[str, float]] = {}

    def timed(owner: Any, name: str, key: str) -> None:
        fn = getattr(owner, name)
        slot = acc.setdefault(key, {"wall_s": 0.0, "cpu_s": 0.0, "n": 0.0})

        def wrapper(*a: Any, **k: Any) -> Any:
            t, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                slot["wall_s"] += time.perf_counter() - t
                slot["cpu_s"] += time.thread_time() - c
                slot["n"] += 1

        setattr(owner, name, wrapper)

    timed(base, "write_chunk_tables", "write_chunks")
    timed(base, "write_chunk_bytes", "write_chunks")
    ray_executor.write_chunk_bytes = base.write_chunk_bytes  # the same accumulator
    timed(runs.RunWriter, "read_chunks", "read_chunks")
    for name in ("run_findings", "driver_words", "pos_stats", "findings_of_blocks"):
        timed(job, name, "findings")
    timed(adversarial, "run_driver_flips", "driver_flips")
    timed(work._AttributionWork, "__call__", "attribution_chunk")  # local executor only (Ray: in the actors)
    timed(work._AttackWork, "__call__", "attack_chunk")
    close = ray_executor.RayExecutor.close

    def close_and_record(self: Any) -> None:  # the actors' own work CPU, measured in the actors
        acc["ray_actor_work"] = {"wall_s": 0.0, "cpu_s": float(self.stats["actor_work_cpu_s"]),
                                 "n": float(self.stats["chunks"])}
        close(self)

    ray_executor.RayExecutor.close = close_and_record  # type: ignore[method-assign]
    return acc


def worker_job(args: dict[str, Any]) -> dict[str, Any]:
    from audit.engine.job import run_job

    acc = _instrument()
    out: dict[str, Any] = {}
    sampler = _RaySampler()
    if args["executor"] == "ray":
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        out["ray_init_s"] = time.perf_counter() - t
        warm = _config({**args, "data": args["warmup_data"], "store": args["store"] + "-warm"}, executor="ray",
                       threads=args["threads"], attack_texts=0, stream=False)
        t = time.perf_counter()
        with _RaySampler() as warm_sampler:
            before = warm_sampler.cpu_s()
            res = run_job(warm, progress=False)
        out["warmup_one_chunk_attribution_s"] = res.timings["attribution"]
        out["warmup_total_s"] = time.perf_counter() - t
        out["warmup_workers_cpu_s"] = warm_sampler.cpu_s() - before
        acc.clear()
        acc.update(_instrument())
    cfg = _config(args, executor=args["executor"], threads=args["threads"], attack_texts=args["attack_texts"],
                  stream=args.get("stream", False))
    t, cpu0 = time.perf_counter(), time.process_time()
    with sampler:
        cpu_children0 = sampler.cpu_s()
        res = run_job(cfg, progress=False)
    out.update(wall_s=time.perf_counter() - t, driver_cpu_s=time.process_time() - cpu0,
               workers_cpu_s=sampler.cpu_s() - cpu_children0, timings=res.timings, metrics=res.metrics,
               run_path=str(res.record.path), driver_peak_rss_mb=_peak_rss_mb(),
               ray_workers_peak_rss_mb=sampler.peak_mb, ray_actor_peak_rss_mb=sampler.peak_actor_mb, parts=acc)
    chunk_dir = Path(res.record.path)
    out["table_bytes"] = {p.name: p.stat().st_size for p in chunk_dir.glob("*.parquet")}
    return out


class _RssOverTime:
    """The driver's RSS and the summed RSS of its descendants (Ray's processes), sampled every ``every`` s."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.samples: list[tuple[float, float, float]] = []  # (seconds since start, driver MB, Ray MB)
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.perf_counter()

    def _sample(self) -> None:
        ray_mb = sum(_descendants(os.getpid(), self._cpu).values())
        self.samples.append((time.perf_counter() - self._t0, _rss_mb(), ray_mb))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> Self:
        self._t0 = time.perf_counter()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def worker_stream(args: dict[str, Any]) -> dict[str, Any]:
    """Scan the 1M-row file, then the streamed attribution loop over its chunks (all of them unless
    ``stream_chunks``) on ``stream_executor``, the driver's and Ray's RSS sampled over time."""
    from audit.engine.executors import attribution_spec, make_executor, stream_tasks
    from audit.engine.job import prepare
    from audit.store import RunStore

    executor_name = args.get("stream_executor", "local")
    cfg = _config(args, executor=executor_name, threads=1, attack_texts=0, stream=True)
    t = time.perf_counter()
    rss0 = _rss_mb()
    prep = prepare(cfg)
    scan_s = time.perf_counter() - t
    rss_scan_peak = _peak_rss_mb()
    ds = prep.scanned[0]
    writer = RunStore(args["store"]).begin("stream-bench", {"benchmark": "scale_out"})
    per_chunk: list[tuple[int, float]] = []
    n_chunks = len(ds.blocks) if args.get("stream_chunks") is None else min(args["stream_chunks"], len(ds.blocks))
    executor = make_executor(cfg, model=prep.model, model_ref=prep.model_ref, model_hash=prep.model_hash)
    tasks = itertools.islice(stream_tasks(prep.scanned, max_len=cfg.max_len, with_rows=executor.name == "local",
                                          tokenize=prep.model.tokenize), n_chunks)
    t = time.perf_counter()
    with _RssOverTime(every=float(args.get("rss_every_s", 5.0))) as rss:
        try:
            executor.run_chunks(writer, spec=attribution_spec(cfg), tasks=tasks, total=n_chunks * BATCH,
                                desc="stream", progress=False, on_chunk=lambda s, i: per_chunk.append((i, _rss_mb())))
        finally:
            executor.close()
    loop_s = time.perf_counter() - t
    writer.fail("benchmark: not published")
    n = len(per_chunk)
    tenth = per_chunk[max(0, n // 10 - 1)][1]
    ray_mb = [x[2] for x in rss.samples]
    settled = ray_mb[len(ray_mb) // 10:] or ray_mb
    step = max(1, len(rss.samples) // 60)
    return {"rows": ds.n_rows, "blocks": len(ds.blocks), "executor": executor_name, "scan_s": scan_s,
            "rss_before_mb": rss0, "peak_rss_after_scan_mb": rss_scan_peak, "chunks_run": n, "loop_s": loop_s,
            "rss_at_10pct_mb": tenth, "rss_at_50pct_mb": per_chunk[n // 2][1], "rss_at_end_mb": per_chunk[-1][1],
            "rss_growth_10pct_to_end_mb": per_chunk[-1][1] - tenth, "peak_rss_mb": _peak_rss_mb(),
            "ray_rss_min_after_10pct_mb": min(settled), "ray_rss_max_after_10pct_mb": max(settled),
            "rss_samples": per_chunk[:: max(1, n // 30)],
            "rss_over_time": [(round(a, 1), round(b, 1), round(c, 1)) for a, b, c in rss.samples[::step]]}


def worker_whole(args: dict[str, Any]) -> dict[str, Any]:
    """The whole-file path on the same 1M-row file: read + tokenize (prepare without stream), RSS."""
    from audit.engine.job import prepare

    cfg = _config(args, executor="local", threads=1, attack_texts=0, stream=False)
    t = time.perf_counter()
    prep = prepare(cfg)
    return {"rows": len(prep.datasets[0]), "read_and_tokenize_s": time.perf_counter() - t,
            "peak_rss_mb": _peak_rss_mb()}


def _stage_marks(marks: list[dict[str, Any]], t0: float) -> None:
    """Record each nightly stage's start, end and the driver's RSS / peak RSS at its end (``marks``)."""
    from audit.engine import adversarial, job
    from audit.store import runs

    def mark(owner: Any, name: str, stage: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter() - t0
            try:
                return fn(*a, **k)
            finally:
                marks.append({"stage": stage, "start_s": round(start, 2), "end_s": round(time.perf_counter() - t0, 2),
                              "rss_end_mb": round(_rss_mb(), 1), "peak_rss_so_far_mb": round(_peak_rss_mb(), 1)})

        setattr(owner, name, wrapper)

    mark(job, "prepare", "scan")
    mark(job, "write_attribution_chunks", "attribution")
    mark(runs.RunWriter, "write_table_from_chunks", "final_tables")
    mark(runs.RunWriter, "read_chunks", "read_chunks")
    mark(job, "findings_of_blocks", "findings")
    mark(adversarial, "run_attacks", "attack")
    mark(job, "_write_report", "report")
    mark(runs.RunWriter, "publish", "publish")


def worker_nightly(args: dict[str, Any]) -> dict[str, Any]:
    """The FULL nightly job (attribution, findings, driver words, POS statistics, attack on
    ``attack_texts`` texts or off, report, publish) with ``stream: true`` on the big Parquet file, on
    ``stream_executor``; the driver's RSS sampled every ``rss_every_s`` and at each stage's end."""
    from audit.engine.job import run_job

    marks: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    _stage_marks(marks, t0)
    executor_name = args.get("stream_executor", "local")
    if executor_name == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    cfg = _config(args, executor=executor_name, threads=1, attack_texts=args["attack_texts"], stream=True)
    rss0 = _rss_mb()
    t = time.perf_counter()
    with _RssOverTime(every=float(args.get("rss_every_s", 5.0))) as rss:
        res = run_job(cfg, progress=False)
    wall = time.perf_counter() - t
    step = max(1, len(rss.samples) // 120)
    samples = rss.samples
    return {"rows": res.metrics.get("n_examples"), "executor": executor_name, "wall_s": wall, "rss_before_mb": rss0,
            "peak_rss_mb": _peak_rss_mb(), "rss_max_sampled_mb": max(x[1] for x in samples),
            "ray_rss_max_sampled_mb": max(x[2] for x in samples), "stages": marks, "timings": res.timings,
            "findings_sample": res.record.manifest.get("findings_sample"), "attack_texts": args["attack_texts"],
            "n_confirmed_drivers": res.metrics.get("n_confirmed_drivers"), "accuracy": res.metrics.get("accuracy"),
            "n_errors": res.metrics.get("n_errors"), "previous_run_id": res.previous_run_id,
            "diff_matched": res.diff.n_matched if res.diff is not None else None,
            "table_bytes": {p.name: p.stat().st_size for p in Path(res.record.path).glob("*.parquet")},
            "rss_over_time": [(round(a, 1), round(b, 1), round(c, 1)) for a, b, c in samples[::step]]}


def _nightly_md(r: dict[str, Any]) -> str:
    n = r["rows"] or 0
    attack = f"on {r['attack_texts']} texts" if r["attack_texts"] else "off"
    out = ["# Scale-out benchmark: the full nightly job on a streamed Parquet file", "",
           f"{r['machine']}; load at start {r['load_start']}, at end {r['load_end']}. {r.get('note') or ''}".rstrip(),
           "", f"`stream: true`, executor `{r['executor']}`, {n:,} rows, attack "
           f"{attack}, driver-word flips off, "
           f"findings cap `max_error_texts` = {(r.get('findings_sample') or {}).get('max_error_texts')} "
           f"(bound: {(r.get('findings_sample') or {}).get('capped')}); {r.get('n_errors')} errors. "
           + (f"The run diff compared it with the previous run in the store ({r['diff_matched']:,} matched texts)."
              if r.get("diff_matched") is not None else "No previous run in the store: no run diff."), "",
           "| measure | value |", "|---|---|",
           f"| wall time of the job | {r['wall_s'] / 60:.1f} min |",
           f"| driver peak RSS (ru_maxrss) | {r['peak_rss_mb']:.0f} MB |",
           f"| driver RSS before the job | {r['rss_before_mb']:.0f} MB |",
           f"| driver peak RSS per 1k rows above the start | {(r['peak_rss_mb'] - r['rss_before_mb']) / max(n / 1000, 1):.2f} MB |",
           f"| Ray processes, max summed RSS sampled | {r['ray_rss_max_sampled_mb']:.0f} MB |", "",
           "## Stages (driver RSS at each stage's end)", "", "| stage | start s | end s | RSS end MB | peak so far MB |",
           "|---|---|---|---|---|"]
    for m in r["stages"]:
        out.append(f"| {m['stage']} | {m['start_s']} | {m['end_s']} | {m['rss_end_mb']} | {m['peak_rss_so_far_mb']} |")
    out += ["", "## Job timings (s)", "", "| part | s |", "|---|---|"]
    out += [f"| {k} | {v:.1f} |" for k, v in r["timings"].items()]
    out += ["", "## Driver RSS over time (s, driver MB, Ray MB)", "", "```",
            " ".join(f"{a:.0f}:{b:.0f}" for a, b, _ in r["rss_over_time"]), "```", ""]
    return "\n".join(out)


WORKERS = {"job": worker_job, "stream": worker_stream, "whole": worker_whole, "nightly": worker_nightly}


def _spawn(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    out = Path(args["store"] + ".json")
    cmd = [sys.executable, __file__, "--_worker", kind, "--_args", json.dumps(args), "--_out", str(out)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.read_text())
    result["process_wall_s"] = time.perf_counter() - t
    return result


# ----------------------------------------------------------------------------- analysis
def _same_tables(a: str, b: str) -> dict[str, bool]:
    import pandas as pd

    out = {}
    for p in sorted(Path(a).glob("*.parquet")):
        q = Path(b) / p.name
        try:
            pd.testing.assert_frame_equal(pd.read_parquet(p), pd.read_parquet(q), check_exact=True)
            out[p.stem] = True
        except (AssertionError, FileNotFoundError):
            out[p.stem] = False
    return out


def projection(base: dict[str, Any], ray_run: dict[str, Any], n_texts: int, *, flips: bool = False) -> dict[str, Any]:
    """Wall time on W = nodes x cores one-core workers, from the measured per-chunk CPU costs.

    CPU seconds, not wall seconds, are the basis: the machine is shared, so a process's wall time
    here includes waiting for a core; its CPU time does not."""
    parts, rparts = base["parts"], ray_run["parts"]
    n_chunks = -(-n_texts // BATCH)
    c_attr = parts["attribution_chunk"]["cpu_s"] / max(parts["attribution_chunk"]["n"], 1)
    n_att = base["metrics"].get("n_attacked") or 0
    c_attack_text = parts.get("attack_chunk", {}).get("cpu_s", 0.0) / n_att if n_att else 0.0
    # Ray's extra CPU per chunk: everything the Ray run used (driver + Ray processes) minus the local run's,
    # minus the actor starts (measured by the 1-actor warm-up job), spread over the chunks
    n_flip_chunks = _n_flip_chunks(n_texts, flips)
    n_stage_chunks = n_chunks + -(-n_att // BATCH) + n_flip_chunks
    n_probed = min(n_texts, FLIP_MAX_TEXTS) if flips else 0
    c_flip_text = _flip_cpu_local(parts) / n_probed if n_probed else 0.0
    actor_start_cpu = max(ray_run.get("warmup_workers_cpu_s", 0.0) - c_attr, 0.0)
    n_actor_starts = 2 * (1 + (1 if n_att else 0) + (2 if flips else 0))
    ray_cpu = ray_run["driver_cpu_s"] + ray_run["workers_cpu_s"]
    local_cpu = base["driver_cpu_s"]
    overhead_chunk = max(ray_cpu - local_cpu - n_actor_starts * actor_start_cpu, 0.0) / n_stage_chunks
    driver_chunk = rparts["write_chunks"]["cpu_s"] / max(rparts["write_chunks"]["n"], 1)
    per_text_serial = (parts["findings"]["cpu_s"] + parts["read_chunks"]["cpu_s"]) / n_texts  # driver, O(N)
    startup_wall = ray_run.get("warmup_one_chunk_attribution_s", 0.0)
    rows = []
    for n_target in (100_000, 1_000_000):
        chunks = -(-n_target // BATCH)
        serial = per_text_serial * n_target
        one_core = chunks * c_attr + serial
        for nodes, cores in ((1, 2), (1, 8), (2, 8), (4, 4), (2, 16), (4, 16), (8, 8)):
            w = nodes * cores
            compute = chunks * (c_attr + overhead_chunk) / w
            driver = chunks * driver_chunk  # the driver writes every chunk, one at a time
            stage = max(compute, driver)
            attack = (c_attack_text * n_target * 0.8) / w  # ~80% of texts are correct and attacked
            probed = min(n_target, FLIP_MAX_TEXTS) if flips else 0
            flip_s = (c_flip_text * probed + _n_flip_chunks(n_target, flips) * overhead_chunk) / w
            rows.append({"texts": n_target, "nodes": nodes, "cores_per_node": cores, "workers": w,
                         "chunk_stage_s": round(stage, 1), "attribution_and_findings_s": round(stage + serial, 1),
                         "attack_all_correct_s": round(attack, 1), "flip_probes_s": round(flip_s, 1),
                         "speedup_attribution_vs_1_core": round(one_core / (stage + serial), 2),
                         "speedup_chunk_stage_vs_1_core": round(chunks * c_attr / stage, 2),
                         "driver_bound": driver > compute})
    return {"per_chunk_attribution_cpu_s": c_attr, "per_chunk_ray_overhead_cpu_s": overhead_chunk,
            "per_chunk_driver_write_cpu_s": driver_chunk, "actor_start_cpu_s": actor_start_cpu,
            "actor_start_wall_s_here": startup_wall, "attack_per_text_cpu_s": c_attack_text,
            "driver_serial_cpu_per_text_s": per_text_serial, "rows": rows,
            "assumptions": [
                ("W one-core workers (1 actor per core, torch 1 thread), homogeneous, each chunk costing the CPU "
                 "seconds measured here on one core plus Ray's measured per-chunk overhead; no network limit "
                 "(a chunk's tables are tens of KB)"),
                ("the driver writes every chunk itself (the store is on its disk), one at a time, at the measured "
                 "per-chunk write CPU (fsync latency not included): the stage is driver-bound when that exceeds "
                 "compute / W"),
                ("findings and assembling the tables from the chunks stay on the driver and scale with N "
                 "(measured at the subset, scaled linearly)"),
                ("actor start (imports, model load) happens once per stage on every worker in parallel: a constant "
                 "added to each stage, left out of the table (measured wall here under load: see above)"),
                "the attack: ~80% of the texts are correctly classified and attacked, at the measured CPU per text",
                (f"the driver-word flip probes (on): the first {FLIP_MAX_TEXTS:,} texts (`attack.flip_max_texts`) "
                 "probed at the measured CPU per probed text, in two chunked stages on the workers, plus Ray's "
                 "per-chunk overhead" if flips else "the driver-word flip probes: off in these runs"),
            ]}


def _md(report: dict[str, Any]) -> str:
    r = report["runs"]
    lines = [
        "# Scale-out: local vs Ray executor at equal cores, and a 1M-row stream",
        "",
        (f"Machine: {report['machine']}. Load average at start {report['load_start']}, at end {report['load_end']} "
        "(the 2 cores are shared with other jobs: absolute times are inflated and noisy; the ratios come from "
        "runs in the same session, back to back)."),
        "",
        (f"Data: {report['data']['rule']} {report['data']['texts_built']} unique texts built; the runs below "
        + ("audit **all of them**" if report['data']['texts_measured'] >= report['data']['texts_built'] else
           f"use the first **{report['data']['texts_measured']}** (a subset)")
        + f". The attack runs on a fixed, seeded sample: the job's `attack.max_texts: {report['data']['attack_texts']}`, "
        "i.e. the first correctly classified texts in table order (the texts are in the seeded random order of the "
        "rule); the full attack's cost is projected below from its measured CPU per text. Model: the reference "
        "GRU. GPU: none lent to this session, the GPU actor path (`ray.gpus_per_actor`) is **not measured**."),
        "",
        *([f"Estimate printed before the run (idle machine): {report['estimate']['total'] / 60:.0f} min; "
           f"measured wall of the whole benchmark: {report['wall_s'] / 60:.0f} min.", ""] if "estimate" in report else []),
        *([report["note"], ""] if report.get("note") else []),
        "| run | cores | attribution s | findings s | attack s | total s | texts/s (attribution) | CPU s (all processes) | driver peak RSS MB | Ray workers peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cores in (("local-1t", 1), ("local-2t", 2), ("ray-2x1", 2)):
        if name not in r:
            lines.append(f"| {name} | {cores} | not measured: {report.get('local_2t_note', '')} | | | | | | | |")
            continue
        x = r[name]
        t = x["timings"]
        lines.append(f"| {name} | {cores} | {t['attribution']:.1f} | {t['findings'] + t.get('driver_statistics', 0.0):.1f} | {t['attack']:.1f} | "
                     f"{t['total']:.1f} | {report['data']['texts_measured'] / t['attribution']:.0f} | "
                     f"{x['driver_cpu_s'] + x['workers_cpu_s']:.1f} | "
                     f"{x['driver_peak_rss_mb']:.0f} | {x.get('ray_workers_peak_rss_mb', 0):.0f} |")
    o = report["overhead"]
    l1_total = r["local-1t"]["timings"]["total"]
    slower_2t = r.get("local-2t", {}).get("timings", {}).get("total", 0) > l1_total
    load = report.get("load_start") or "0"
    loaded = float(str(load).split()[0] if isinstance(load, str) else load[0]) >= 2.5  # 2 cores busy at the start
    unfair = slower_2t and loaded
    ratio = o["ray_over_local2t_total"]
    verdict = "not assessable from this run" if unfair else ("met" if ratio is not None and ratio <= 1.15 else "not met")
    why_2t = ""
    if slower_2t and loaded:
        why_2t = (" **Not a fair measure here**: local-2t ran slower than local-1t, because torch's two intra-op "
                  "threads on this oversubscribed machine keep waiting for each other (a preempted thread stalls the "
                  "other), while Ray's two one-thread actors get two shares of the contended CPU. The wall ratio says "
                  "nothing about Ray's overhead on an idle machine; the CPU-second comparison below does.")
    elif slower_2t:
        why_2t = (" local-2t ran slower than local-1t on a nearly idle machine: torch's two intra-op threads do not "
                  "speed up this small RNN's batches, and the local executor has no other way to use a second core, "
                  "so Ray's two one-thread actors are the faster use of 2 cores. Against the best local run "
                  f"(local-1t, one core) Ray's wall time is {r['ray-2x1']['timings']['total'] / l1_total:.2f}x; "
                  "its CPU overhead is the next line.")
    lines += [
        "",
        (f"Ray start (`ray.init`, 2 CPUs) {r['ray-2x1'].get('ray_init_s', 0):.1f} s and a 1-chunk warm-up job "
        f"(actor start + model load: attribution stage {r['ray-2x1'].get('warmup_one_chunk_attribution_s', 0):.1f} s) "
        "are outside the Ray run's times."),
        "",
        (f"- **Ray / local wall time at 2 cores** (total): **{o['ray_over_local2t_total']:.2f}x** "
         f"(goal <= 1.15x: {verdict}); attribution stage "
         f"{o['ray_over_local2t_attribution']:.2f}x, attack stage {o['ray_over_local2t_attack']:.2f}x."
         + why_2t
         if o["ray_over_local2t_total"] is not None else
         f"- Ray / local wall time at 2 cores: local-2t not measured ({report.get('local_2t_note', '')})."),
        (f"- **Ray's steady-state CPU overhead** (all CPU seconds of the Ray run minus its "
         f"{o['n_actor_starts']} actor starts, vs the one-core local run, the same work): "
         f"**{o['ray_cpu_over_local1t_cpu_excl_starts']:.2f}x** (goal <= 1.15x at equal cores, where wall time is "
         f"CPU time / cores on an idle machine: {'met' if o['ray_cpu_over_local1t_cpu_excl_starts'] <= 1.15 else 'not met'}); "
         f"the actor starts add a constant {o['n_actor_starts']} x {r['ray-2x1'].get('warmup_workers_cpu_s', 0):.1f} s CPU "
         "per job (two stages, two actors), run in parallel. The start cost is measured by a 1-chunk warm-up "
         "job and includes lazy loads (POS tagger; WordNet for the attack stage is loaded later, in the first "
         "chunk) that the local run pays inside its chunks, so this steady-state figure is a lower bound; the "
         "total ratio (next line) is the upper bound."),
        (f"- Ray's overhead in CPU seconds (driver + every Ray process, vs the one-core local run's process, the "
         f"same work): **{o['ray_cpu_over_local1t_cpu']:.2f}x**, of which actor starts (imports, model load) "
         f"{r['ray-2x1'].get('warmup_workers_cpu_s', 0):.1f} s CPU each; in core-seconds of wall time (2 actors x "
         f"stage time vs the one-core run): attribution {o['ray_core_seconds_over_local1t_attribution']:.2f}x, "
         f"attack {o['ray_core_seconds_over_local1t_attack']:.2f}x."),
        (f"- **Where Ray's CPU goes** (the actors time their own work): work {o.get('actor_work_cpu_ray_s', 0):.1f} s "
         f"on Ray vs {o.get('actor_work_cpu_local_s', 0):.1f} s locally; everything else {o.get('non_work_cpu_ray_s', 0):.1f} s "
         f"on Ray (driver, Ray's processes, actor starts) vs {o.get('non_work_cpu_local_s', 0):.1f} s locally (driver): "
         f"Ray's extra CPU **{o.get('ray_extra_cpu_per_chunk_s', 0) * 1000:.0f} ms per chunk** of {BATCH} texts, starts included."),
        *([f"- Full attack of the {report['data']['texts_measured']} texts, projected: "
           f"{o['attack_full_projection']['correct_texts']} correctly classified texts x "
           f"{o['attack_full_projection']['per_text_cpu_s'] * 1000:.0f} ms CPU each (measured on the sample) = "
           f"{o['attack_full_projection']['one_core_h']:.1f} h on one core, {o['attack_full_projection']['two_cores_h']:.1f} h "
           "on 2 (Ray, at its measured attack-stage efficiency or better)."] if o.get("attack_full_projection") else []),
        (f"- Tables of `ray-2x1` vs `local-1t` (both 1 torch thread): identical for "
        f"{sum(report['tables_identical'].values())}/{len(report['tables_identical'])} tables "
        f"({', '.join(k for k, v in report['tables_identical'].items() if not v) or 'all'}"
        f"{' differ' if not all(report['tables_identical'].values()) else ''})."),
        "",
        "## 1M-row stream (attribution only, attack off)",
        "",
    ]
    s, w = report["stream"], report["whole_file"]
    lines += [
        (f"{s['rows']} rows in one Parquet file ({s['blocks']} blocks of {BATCH}). Scan (validate, hash, tokenize "
        f"every row): {s['scan_s']:.1f} s, peak RSS after it {s['peak_rss_after_scan_mb']:.0f} MB. Then the "
        f"streamed attribution loop on the {s.get('executor', 'local')} executor over "
        + ("**all** " if s["chunks_run"] >= s["blocks"] else "the first ")
        + f"{s['chunks_run']} chunks ({s['chunks_run'] * BATCH} texts, "
        f"{s['loop_s']:.1f} s): driver RSS {s['rss_at_10pct_mb']:.0f} MB at 10 %, {s['rss_at_50pct_mb']:.0f} MB at 50 %, "
        f"{s['rss_at_end_mb']:.0f} MB at the end (growth {s['rss_growth_10pct_to_end_mb']:+.1f} MB): "
        f"**{'flat' if abs(s['rss_growth_10pct_to_end_mb']) < 25 else 'not flat'}**"
        + (f"; Ray's processes together {s['ray_rss_min_after_10pct_mb']:.0f}-{s['ray_rss_max_after_10pct_mb']:.0f} MB "
           "after the first 10 % of the loop" if s.get("ray_rss_max_after_10pct_mb") else "")
        + f". The whole-file reader on the same file (read + tokenize, nothing else): peak RSS {w['peak_rss_mb']:.0f} MB "
        f"in {w['read_and_tokenize_s']:.1f} s."),
        "",
        *([("RSS over time (s, driver MB, Ray processes MB), sampled every few seconds: "
            + ", ".join(f"({t:.0f}, {d:.0f}, {r:.0f})" for t, d, r in s["rss_over_time"][:: max(1, len(s["rss_over_time"]) // 12)])),
           ""] if s.get("rss_over_time") else []),
        ("Attribution only (attack off), and only the chunk loop: what still grows with N on the driver is the "
        "block index (one entry per chunk), the final assembly of the tables from the chunks and the findings "
        "over them (see docs/scale-out.md)."),
        "",
        "## Projection to N nodes x C cores",
        "",
        (f"CPU per chunk of {BATCH} texts on one core: attribution {report['projection']['per_chunk_attribution_cpu_s']:.3f} s, "
        f"Ray overhead {report['projection']['per_chunk_ray_overhead_cpu_s']:.3f} s, driver write "
        f"{report['projection']['per_chunk_driver_write_cpu_s']:.4f} s; actor start "
        f"{report['projection']['actor_start_cpu_s']:.1f} s CPU; attack {report['projection']['attack_per_text_cpu_s'] * 1000:.0f} ms CPU/text; "
        f"findings + assembly on the driver {report['projection']['driver_serial_cpu_per_text_s'] * 1e6:.0f} us CPU/text."),
        "",
        "| texts | nodes x cores | workers | chunk stage s | + findings s | attack (all correct texts) s | flip probes s | speedup vs 1 core (whole) | speedup of the chunk stage | driver-bound |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["projection"]["rows"]:
        lines.append(f"| {row['texts']} | {row['nodes']} x {row['cores_per_node']} | {row['workers']} | "
                     f"{row['chunk_stage_s']} | {row['attribution_and_findings_s']} | {row['attack_all_correct_s']} | "
                     f"{row.get('flip_probes_s', '-')} | {row['speedup_attribution_vs_1_core']} | "
                     f"{row['speedup_chunk_stage_vs_1_core']} | "
                     f"{'yes' if row['driver_bound'] else 'no'} |")
    lines += ["", "Assumptions:", ""] + [f"- {a}" for a in report["projection"]["assumptions"]]
    if report["projection"]["per_chunk_ray_overhead_cpu_s"] <= 0:
        lines += [("- Ray's measured per-chunk overhead came out at or below zero (see the steady-state CPU line: "
                  "the subtracted start cost is an over-estimate), so it is taken as 0; with the total ratio "
                  f"instead ({report['overhead']['ray_cpu_over_local1t_cpu']:.2f}x, starts included) every chunk "
                  "would cost that much more and the chunk stage would scale by the same factor less")]
    lines += ["", (f"16-worker projected speedup of the chunk stage (100k texts, attribution): "
              f"**{report['speedup_16']:.1f}x** of 16 (efficiency {report['speedup_16'] / 16:.0%}); the driver's "
              "serial part (findings, assembly) is not parallel and caps the whole job's speedup ('whole' column)."), ""]
    return "\n".join(lines)


# CPU seconds per unit on one core of this 2-core box, from the earlier runs in reports/benchmarks/scale_out.json
# (parts.*.cpu_s / n): what the estimate printed before a run is made of (wall = CPU / cores, plus constants)
EST = {"attribution_per_text": 0.186 / BATCH, "findings_per_text": 220e-6, "driver_flips_per_text": 2.4 / 6400,
       "attack_per_text": 0.185, "read_per_text": 120e-6, "scan_per_row": 150e-6, "whole_read_per_row": 120e-6,
       "build_per_text": 40e-6, "ray_start_s": 20.0, "job_constant_s": 15.0, "local_2t_speedup": 1.3,
       "ray_efficiency": 0.9}


def estimate(*, texts: int, attack_texts: int, stream_rows: int, stream_chunks: int | None, stream_executor: str,
             local_2t: bool) -> dict[str, float]:
    """Expected wall seconds of each phase on an idle 2-core box (:data:`EST`)."""
    e = EST
    job_cpu = texts * (e["attribution_per_text"] + e["findings_per_text"] + e["driver_flips_per_text"]
                       + e["read_per_text"]) + attack_texts * e["attack_per_text"]
    attr_cpu = texts * e["attribution_per_text"] + attack_texts * e["attack_per_text"]
    out = {"build_texts": (texts + stream_rows) * e["build_per_text"],
           "local-1t": job_cpu + e["job_constant_s"],
           "ray-2x1": e["ray_start_s"] + job_cpu - attr_cpu + attr_cpu / (2 * e["ray_efficiency"]) + e["job_constant_s"]}
    if local_2t:
        out["local-2t"] = job_cpu - attr_cpu + attr_cpu / e["local_2t_speedup"] + e["job_constant_s"]
    rows = stream_rows if stream_chunks is None else min(stream_rows, stream_chunks * BATCH)
    workers = 2 * e["ray_efficiency"] if stream_executor == "ray" else 1.0
    out["stream"] = stream_rows * e["scan_per_row"] + rows * e["attribution_per_text"] / workers + (
        e["ray_start_s"] if stream_executor == "ray" else 0.0)
    out["whole_file"] = stream_rows * e["whole_read_per_row"] + 10.0
    out["total"] = sum(out.values())
    return {k: round(v, 1) for k, v in out.items()}


def _estimate_text(est: dict[str, float]) -> str:
    parts = ", ".join(f"{k} {v / 60:.1f} min" for k, v in est.items() if k != "total")
    return (f"estimated wall time on an idle 2-core machine: {est['total'] / 60:.0f} min ({parts}); "
            "more when the cores are shared")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _n_flip_chunks(n_texts: int, flips: bool) -> int:
    """Chunks of the two flip-probe stages (the probed texts: the first ``attack.flip_max_texts``, default 100k)."""
    return 2 * -(-min(n_texts, FLIP_MAX_TEXTS) // BATCH) if flips else 0


def _flip_cpu_local(parts: dict[str, Any]) -> float:
    """CPU of the flip probes in the one-core local run: ``run_driver_flips`` runs its chunks in the driver
    thread there (on Ray they run in the actors, inside ``ray_actor_work``)."""
    return float(parts.get("driver_flips", {}).get("cpu_s", 0.0))


def _derive(runs: dict[str, Any], *, attr_texts: int, flips: bool) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Overheads, projection and the 16-worker speedup from the runs' raw measurements (also ``--render``)."""
    l1, rr = runs["local-1t"]["timings"], runs["ray-2x1"]["timings"]
    l2 = runs["local-2t"]["timings"] if "local-2t" in runs else None
    n_stages = 1 + (1 if runs["ray-2x1"]["metrics"].get("n_attacked") else 0) + (2 if flips else 0)
    n_starts = 2 * n_stages
    ray_cpu = runs["ray-2x1"]["driver_cpu_s"] + runs["ray-2x1"]["workers_cpu_s"]
    overhead = {
        "ray_over_local2t_total": rr["total"] / l2["total"] if l2 else None,
        "ray_over_local2t_attribution": rr["attribution"] / l2["attribution"] if l2 else None,
        "ray_over_local2t_attack": rr["attack"] / l2["attack"] if l2 and l2["attack"] else None,
        "n_actor_starts": n_starts,
        "ray_cpu_over_local1t_cpu_excl_starts": (ray_cpu - n_starts * runs["ray-2x1"].get("warmup_workers_cpu_s", 0.0))
        / runs["local-1t"]["driver_cpu_s"],
        "ray_core_seconds_over_local1t_attribution": 2 * rr["attribution"] / l1["attribution"],
        "ray_core_seconds_over_local1t_attack": 2 * rr["attack"] / l1["attack"] if l1["attack"] else None,
        "ray_cpu_over_local1t_cpu": (runs["ray-2x1"]["driver_cpu_s"] + runs["ray-2x1"]["workers_cpu_s"])
        / runs["local-1t"]["driver_cpu_s"],
    }
    # Ray's overhead from the actors' own measure of their work (ray_actor_work): everything else the Ray run
    # spent (driver, Ray's processes, actor starts) against everything else the local run spent
    lp, rp = runs["local-1t"]["parts"], runs["ray-2x1"]["parts"]
    work_local = lp["attribution_chunk"]["cpu_s"] + lp.get("attack_chunk", {}).get("cpu_s", 0.0) + _flip_cpu_local(lp)
    work_ray = rp.get("ray_actor_work", {}).get("cpu_s", 0.0)
    n_chunks = max(rp.get("ray_actor_work", {}).get("n", 0.0), 1.0)
    overhead.update(
        actor_work_cpu_local_s=work_local, actor_work_cpu_ray_s=work_ray,
        non_work_cpu_local_s=runs["local-1t"]["driver_cpu_s"] - work_local, non_work_cpu_ray_s=ray_cpu - work_ray,
        ray_extra_cpu_per_chunk_s=(ray_cpu - work_ray - (runs["local-1t"]["driver_cpu_s"] - work_local)) / n_chunks,
    )
    acc = runs["local-1t"]["metrics"].get("accuracy")
    n_att = runs["local-1t"]["metrics"].get("n_attacked") or 0
    if n_att and acc is not None:
        per_text = lp["attack_chunk"]["cpu_s"] / n_att
        overhead["attack_full_projection"] = {
            "per_text_cpu_s": per_text, "correct_texts": round(acc * attr_texts),
            "one_core_h": per_text * acc * attr_texts / 3600, "two_cores_h": per_text * acc * attr_texts / 7200}
    proj = projection(runs["local-1t"], runs["ray-2x1"], attr_texts, flips=flips)
    s16 = next(r["speedup_chunk_stage_vs_1_core"] for r in proj["rows"] if r["texts"] == 100_000 and r["workers"] == 16)
    return overhead, proj, s16


def _render(path: Path) -> int:
    """``--render``: the derived figures (overheads, projection) of a saved report, recomputed from its runs'
    raw measurements with this code (e.g. after an accounting fix); the measurements are not touched."""
    global BATCH
    report = json.loads(path.read_text())
    BATCH = int(report.get("batch", BATCH))
    overhead, proj, s16 = _derive(report["runs"], attr_texts=report["data"]["texts_measured"],
                                  flips=bool(report["data"].get("driver_flips")))
    report.update(overhead=overhead, projection=proj, speedup_16=s16)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(_md(report))
    print(_md(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    global BATCH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="artifacts/models/gru")
    ap.add_argument("--texts", type=int, default=100_000)
    ap.add_argument("--attr-texts", type=int, default=None, help="texts the jobs audit (default: all --texts)")
    ap.add_argument("--attack-texts", type=int, default=500,
                    help="the attack's fixed sample: the first N correctly classified texts (attack.max_texts)")
    ap.add_argument("--stream-rows", "--rows", dest="stream_rows", type=int, default=1_000_000)
    ap.add_argument("--nightly-stream", action="store_true",
                    help="only the FULL nightly job (stream: true) on --rows rows; writes scale_out_nightly.{json,md}")
    ap.add_argument("--rss-every", type=float, default=5.0, help="seconds between RSS samples (--nightly-stream)")
    ap.add_argument("--stream-chunks", type=int, default=None, help="chunks of the stream to run (default: all)")
    ap.add_argument("--stream-executor", choices=("ray", "local"), default="ray",
                    help="executor of the stream's chunk loop (ray: 2 actors x 1 CPU; local: 1 core)")
    ap.add_argument("--estimate-only", action="store_true", help="print the time estimate and stop")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "benchmarks")
    ap.add_argument("--no-local-2t", action="store_true", help="skip the 2-thread local run")
    ap.add_argument("--local-2t-note", default="", help="why local-2t is missing (for the report)")
    ap.add_argument("--note", default="", help="a sentence about how this session ran, printed in the report")
    ap.add_argument("--no-driver-flips", action="store_true",
                    help="turn off the driver-word flip probes (say so in --note)")
    ap.add_argument("--name", default=None,
                    help="the report's file name, no suffix (default scale_out, or scale_out_nightly)")
    ap.add_argument("--batch", type=int, default=BATCH,
                    help=f"texts per chunk (the job's batch_size, the unit Ray schedules; default {BATCH})")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="work in this folder and reuse the results (<run>.json) already there (a resumed benchmark)")
    ap.add_argument("--render", type=Path, default=None,
                    help="recompute the derived figures of a saved report (its .json) and rewrite its .json and .md")
    ap.add_argument("--_worker", default=None)
    ap.add_argument("--_args", default=None)
    ap.add_argument("--_out", default=None)
    a = ap.parse_args(argv)
    os.chdir(REPO)
    if a._worker:
        import torch

        torch.set_num_threads(1)
        worker_args = json.loads(a._args)
        BATCH = int(worker_args.get("batch", BATCH))
        result = WORKERS[a._worker](worker_args)
        Path(a._out).write_text(json.dumps(result, default=str))
        return 0

    BATCH = a.batch
    if a.render is not None:
        return _render(a.render)
    if a.nightly_stream:
        return _main_nightly(a)
    a.attr_texts = a.texts if a.attr_texts is None else min(a.attr_texts, a.texts)
    est = estimate(texts=a.attr_texts, attack_texts=a.attack_texts, stream_rows=a.stream_rows,
                   stream_chunks=a.stream_chunks, stream_executor=a.stream_executor, local_2t=not a.no_local_2t)
    print(_estimate_text(est), file=sys.stderr, flush=True)
    if a.estimate_only:
        return 0
    model = str(Path(a.model).resolve())
    load_start = _load()
    with tempfile.TemporaryDirectory(prefix="scale-out-") as scratch:
        tmp = str(a.reuse) if a.reuse is not None else scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)

        def spawn(kind: str, args: dict[str, Any]) -> dict[str, Any]:
            done = Path(args["store"] + ".json")
            if done.is_file():  # --reuse: measured earlier in this session
                print(f"reusing {done}", file=sys.stderr, flush=True)
                return dict(json.loads(done.read_text()))
            return _spawn(kind, args)

        t0 = time.perf_counter()
        texts, labels = build_texts(a.texts)
        build_s = time.perf_counter() - t0
        sub = write_parquet(Path(tmp) / "subset.parquet", texts[: a.attr_texts], labels[: a.attr_texts])
        warm = write_parquet(Path(tmp) / "warm.parquet", texts[:BATCH], labels[:BATCH])
        common = {"model": model, "data": str(sub), "warmup_data": str(warm), "attack_texts": a.attack_texts,
                  "no_driver_flips": a.no_driver_flips, "batch": BATCH}
        runs = {}
        for name, executor, threads in (("local-1t", "local", 1), ("ray-2x1", "ray", 1), ("local-2t", "local", 2)):
            if name == "local-2t" and a.no_local_2t:
                continue
            print(f"run {name} (load {_load()})", file=sys.stderr, flush=True)
            runs[name] = spawn("job", {**common, "executor": executor, "threads": threads,
                                       "store": str(Path(tmp) / name)})
        identical = _same_tables(runs["local-1t"]["run_path"], runs["ray-2x1"]["run_path"])
        print(f"stream {a.stream_rows} rows (load {_load()})", file=sys.stderr, flush=True)
        big = Path(tmp) / "stream.parquet"
        if not big.is_file():
            big_texts, big_labels = build_texts(a.stream_rows, unique=False, seed=SEED + 1)
            write_parquet(big, big_texts, big_labels)
            del big_texts, big_labels
        stream = spawn("stream", {**common, "data": str(big), "store": str(Path(tmp) / "stream"),
                                  "stream_chunks": a.stream_chunks, "stream_executor": a.stream_executor})
        whole = spawn("whole", {**common, "data": str(big), "store": str(Path(tmp) / "whole")})
    overhead, proj, s16 = _derive(runs, attr_texts=a.attr_texts, flips=not a.no_driver_flips)
    l1 = runs["local-1t"]["timings"]
    per_text = l1["attribution"] / a.attr_texts
    report = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_start": load_start, "load_end": _load(),
        "data": {"rule": "SST-2 training sentences, label drawn uniformly, 2-3 distinct sentences of that label "
                         f"joined by a space, duplicates redrawn (seed {SEED}).",
                 "texts_built": a.texts, "build_s": build_s, "texts_measured": a.attr_texts,
                 "attack_texts": a.attack_texts, "driver_flips": not a.no_driver_flips, "full_estimate_min": per_text * a.texts / 60},
        "estimate": est, "wall_s": time.perf_counter() - t0,
        "runs": runs, "overhead": overhead, "tables_identical": identical, "stream": stream, "whole_file": whole,
        "projection": proj, "speedup_16": s16, "local_2t_note": a.local_2t_note, "note": a.note, "batch": BATCH,
    }
    a.out.mkdir(parents=True, exist_ok=True)
    name = a.name or "scale_out"
    (a.out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (a.out / f"{name}.md").write_text(_md(report))
    print(_md(report))
    return 0


def _main_nightly(a: argparse.Namespace) -> int:
    """``--nightly-stream``: build the --rows Parquet file, run the full streamed nightly job, report."""
    model = str(Path(a.model).resolve())
    load_start = _load()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scale-out-nightly-") as scratch:
        tmp = str(a.reuse) if a.reuse is not None else scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        big = Path(tmp) / f"stream-{a.stream_rows}.parquet"
        if not big.is_file():
            texts, labels = build_texts(a.stream_rows, unique=False, seed=SEED + 1)
            write_parquet(big, texts, labels)
            del texts, labels
        build_s = time.perf_counter() - t0
        print(f"nightly stream job, {a.stream_rows} rows (load {_load()})", file=sys.stderr, flush=True)
        result = _spawn("nightly", {"model": model, "data": str(big), "store": str(Path(tmp) / "nightly"),
                                    "attack_texts": a.attack_texts, "no_driver_flips": True, "batch": BATCH,
                                    "stream_executor": a.stream_executor, "rss_every_s": a.rss_every})
    report = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
                         f"Python {platform.python_version()}",
              "load_start": load_start, "load_end": _load(), "build_s": build_s, "note": a.note, **result}
    a.out.mkdir(parents=True, exist_ok=True)
    name = a.name or "scale_out_nightly"
    (a.out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (a.out / f"{name}.md").write_text(_nightly_md(report))
    print(_nightly_md(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
