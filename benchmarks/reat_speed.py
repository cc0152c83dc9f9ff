"""REAT speed and memory benchmark -> reports/benchmarks/reat_speed.{json,md}.

On one batch (the 1821 SST-2 test sentences, tokenized with ``str.split``, random word
vectors, D=300, H=150, random weights) for GRU, LSTM and BiGRU:

1. REAT over all words and classes vs the model's own packed forward (goal <= 1.3x);
2. REAT per example vs captum Integrated Gradients with 50 steps, per example on a subset
   (goal >= 100x faster);
3. peak memory while streaming 100k sentences through REAT in batches (should stay flat).

Usage: ``python benchmarks/reat_speed.py [--device cpu|cuda] [--threads N] [--data PATH]``.
Timings are medians of interleaved repeats; on a shared machine other processes add noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))
if "--bare-imports" in sys.argv:
    # For a machine with torch but without the project's other dependencies (pydantic, nltk...):
    # import audit.models.base / audit.data.vocab without running their packages' __init__.
    import types

    for _pkg in ("audit.models", "audit.data"):
        _mod = types.ModuleType(_pkg)
        _mod.__path__ = [str(_ROOT / _pkg.replace(".", "/"))]
        sys.modules[_pkg] = _mod

from audit.attribution import reat_logits_check, reat_scores  # noqa: E402
from audit.models.base import final_state  # noqa: E402

DEFAULT_NOTE = "on the shared development machine the 2 CPU cores are used by other processes at the same time, so absolute times are noisy."
ARCHS = {"gru": (nn.GRU, False), "lstm": (nn.LSTM, False), "bigru": (nn.GRU, True)}


def _rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _batch(sentences: list[list[str]], table: torch.Tensor, vocab: dict[str, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in sentences])
    ids = torch.zeros(len(sentences), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(sentences):
        ids[i, : len(s)] = torch.tensor([vocab[w] for w in s])
    return table[ids].to(device), lengths.to(device)


def _median_time(fn: Any, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lines = Path(args.data).read_text(encoding="utf-8").splitlines()[1:]
    sentences = [ln.split("\t", 1)[1].split() for ln in lines if ln.strip()]
    vocab = {w: i for i, w in enumerate(sorted({w for s in sentences for w in s}))}
    table = torch.randn(len(vocab), args.dim)
    emb, lengths = _batch(sentences, table, vocab, device)
    result: dict[str, Any] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": {"sentences": len(sentences), "max_len": int(lengths.max()), "mean_len": float(lengths.float().mean()), "dim": args.dim, "hidden": args.hidden},
        "repeats": args.repeats,
        "archs": {},
    }
    for name, (cls, bi) in ARCHS.items():
        torch.manual_seed(1)
        rnn = cls(args.dim, args.hidden, batch_first=True, bidirectional=bi).to(device).eval()
        head = nn.Linear(args.hidden * (2 if bi else 1), 2).to(device)

        def forward(rnn: nn.Module = rnn, head: nn.Module = head) -> torch.Tensor:
            with torch.inference_mode():
                return head(final_state(rnn, emb, lengths))

        def reat(rnn: nn.Module = rnn, head: nn.Module = head) -> torch.Tensor:
            return reat_scores(rnn, head, emb, lengths)

        forward()
        reat()
        t_fwd, t_reat = [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            t_fwd.append(_median_time(forward, device))
            t_reat.append(_median_time(reat, device))
        gap = float(reat_logits_check(rnn, head, emb, lengths).max())
        entry: dict[str, Any] = {
            "forward_s": statistics.median(t_fwd),
            "reat_s": statistics.median(t_reat),
            "ratio_reat_over_forward": statistics.median(t_reat) / statistics.median(t_fwd),
            "ratio_min_times": min(t_reat) / min(t_fwd),
            "max_completeness_gap": gap,
        }
        entry.update(_vs_ig(args, rnn, head, emb, lengths, device, statistics.median(t_reat) / len(sentences)))
        result["archs"][name] = entry
        print(name, json.dumps(entry), flush=True)
    result["streaming"] = _streaming(args, sentences, table, vocab, device)
    return result


def _vs_ig(args: argparse.Namespace, rnn: nn.Module, head: nn.Module, emb: torch.Tensor, lengths: torch.Tensor, device: torch.device, reat_batch_per_ex: float) -> dict[str, Any]:
    """Per-example REAT (batch of one) and captum IG-50 on the first ``--ig-examples`` sentences."""
    n = min(args.ig_examples, emb.shape[0])
    t_single = []
    for i in range(n):
        e, ln = emb[i : i + 1, : int(lengths[i])], lengths[i : i + 1]
        t_single.append(_median_time(lambda e=e, ln=ln: reat_scores(rnn, head, e, ln), device))
    out: dict[str, Any] = {
        "reat_per_example_batched_s": reat_batch_per_ex,
        "reat_per_example_single_s": sum(t_single) / n,
    }
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        out["ig"] = "captum not installed"
        return out

    def fwd(x: torch.Tensor, ln: torch.Tensor) -> torch.Tensor:
        return head(final_state(rnn, x, ln))

    ig = IntegratedGradients(fwd)
    t_ig = []
    for i in range(n):
        e = emb[i : i + 1, : int(lengths[i])].clone().requires_grad_(True)
        ln = lengths[i : i + 1]
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN has no RNN backward in eval mode
            t_ig.append(_median_time(lambda e=e, ln=ln: ig.attribute(e, baselines=torch.zeros_like(e), target=1, n_steps=50, additional_forward_args=(ln,)), device))
    out["ig50_per_example_s"] = sum(t_ig) / n
    out["ig_examples"] = n
    out["speedup_vs_ig_single"] = out["ig50_per_example_s"] / out["reat_per_example_single_s"]
    out["speedup_vs_ig_batched"] = out["ig50_per_example_s"] / reat_batch_per_ex
    return out


def _streaming(args: argparse.Namespace, sentences: list[list[str]], table: torch.Tensor, vocab: dict[str, int], device: torch.device) -> dict[str, Any]:
    """Stream ``--stream`` sentences (SST-2 repeated) through REAT (GRU) in batches; memory per batch."""
    torch.manual_seed(2)
    rnn = nn.GRU(args.dim, args.hidden, batch_first=True).to(device).eval()
    head = nn.Linear(args.hidden, 2).to(device)
    rss, cuda_peak = [], []
    done = 0
    start = time.perf_counter()
    while done < args.stream:
        idx = [(done + k) % len(sentences) for k in range(min(args.stream_batch, args.stream - done))]
        emb, lengths = _batch([sentences[i] for i in idx], table, vocab, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        scores = reat_scores(rnn, head, emb, lengths)
        float(scores.sum())  # consume
        rss.append(_rss_mib())
        if device.type == "cuda":
            cuda_peak.append(torch.cuda.max_memory_allocated(device) / 2**20)
        done += len(idx)
    elapsed = time.perf_counter() - start
    tail = rss[len(rss) // 10 :]
    out = {
        "sentences": done,
        "batch": args.stream_batch,
        "batches": len(rss),
        "seconds": elapsed,
        "rss_mib_first": rss[0],
        "rss_mib_after_10pct": tail[0],
        "rss_mib_max": max(rss),
        "rss_mib_last": rss[-1],
        "rss_growth_after_warmup_mib": max(tail) - tail[0],
    }
    if cuda_peak:
        out.update({"cuda_peak_mib_first": cuda_peak[0], "cuda_peak_mib_max": max(cuda_peak), "cuda_peak_mib_last": cuda_peak[-1]})
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# REAT speed benchmark",
        "",
        f"Device: {res['device']} ({res['device_name']}), torch {res['torch']}, {res['threads']} threads. "
        f"Batch: {res['batch']['sentences']} SST-2 test sentences (mean length {res['batch']['mean_len']:.1f}, "
        f"max {res['batch']['max_len']}), D={res['batch']['dim']}, H={res['batch']['hidden']}, random weights; "
        f"medians of {res['repeats']} interleaved repeats.",
        "",
        "| arch | forward (s) | REAT (s) | REAT / forward (goal <= 1.3) | IG-50 per ex. (s) | REAT per ex., alone (s) | speed-up vs IG (alone / batched) | max completeness gap |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in res["archs"].items():
        ig = e.get("ig50_per_example_s")
        lines.append(
            f"| {name} | {e['forward_s']:.4f} | {e['reat_s']:.4f} | {e['ratio_reat_over_forward']:.2f} | "
            + (f"{ig:.4f}" if ig else "n/a")
            + f" | {e['reat_per_example_single_s']:.5f} | "
            + (f"{e['speedup_vs_ig_single']:.0f}x / {e['speedup_vs_ig_batched']:.0f}x" if ig else "n/a")
            + f" | {e['max_completeness_gap']:.2g} |"
        )
    s = res["streaming"]
    lines += [
        "",
        f"Streaming {s['sentences']} sentences in batches of {s['batch']} through REAT (GRU) took {s['seconds']:.1f} s; "
        f"RSS first batch {s['rss_mib_first']:.0f} MiB, after warm-up {s['rss_mib_after_10pct']:.0f} MiB, max {s['rss_mib_max']:.0f} MiB, "
        f"last {s['rss_mib_last']:.0f} MiB (growth after warm-up {s['rss_growth_after_warmup_mib']:.1f} MiB)."
        + (f" CUDA peak per batch: first {s['cuda_peak_mib_first']:.0f} MiB, max {s['cuda_peak_mib_max']:.0f} MiB, last {s['cuda_peak_mib_last']:.0f} MiB." if "cuda_peak_mib_max" in s else ""),
        "",
        f"Notes: {res.get('note') or DEFAULT_NOTE} The forward and REAT runs are interleaved so that the ratios are comparable. "
        "IG is timed one example at a time (captum, 50 steps, zero-embedding baseline); 'alone' is REAT on that "
        "example alone, 'batched' is REAT's per-example share of the full-batch run.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("AUDIT_DATA_DIR", "../shared/data")) / "sst2" / "test.tsv"
    parser.add_argument("--data", default=str(default_data))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ig-examples", type=int, default=50)
    parser.add_argument("--stream", type=int, default=100_000)
    parser.add_argument("--stream-batch", type=int, default=1000)
    parser.add_argument("--out", default="reports/benchmarks")
    parser.add_argument("--name", default="reat_speed")
    parser.add_argument("--note", default="", help="where it ran (replaces the shared-machine note in the md)")
    parser.add_argument("--bare-imports", action="store_true", help="skip the audit.models/audit.data package imports")
    args = parser.parse_args()
    res = run(args)
    res["note"] = args.note or DEFAULT_NOTE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    (out / f"{args.name}.md").write_text(markdown(res), encoding="utf-8")
    print(markdown(res))


if __name__ == "__main__":
    main()
