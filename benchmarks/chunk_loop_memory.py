"""Where the driver's memory goes during the streamed chunk loop (local executor, attribution only).

Runs :func:`audit.engine.job.write_attribution_chunks` on the synthetic Parquet file of
``scale_out.py`` (``--rows`` recombined SST-2 texts) and every ``--every`` chunks prints the RSS split
into anonymous and file-backed pages (``/proc/self/smaps_rollup``), glibc's heap (``mallinfo2``: in use
vs free in its arenas, and mmapped blocks), pyarrow's pool and the number of gc-tracked objects; at
chunk ``--trim-at`` and at the end it calls ``malloc_trim(0)`` and prints again (what glibc held free).
``--tracemalloc`` adds the top Python allocation sites that grew between two samples (slow: ~3x).

A growing Python structure shows as a rising gc-object count / tracemalloc site; live native memory as a
rising glibc ``inuse`` or arrow pool; fragmentation as a rising glibc ``free`` (given back by
``malloc_trim``) or an RSS that rises while all of these stay flat.

    AUDIT_DATA_DIR=... NLTK_DATA=... OMP_NUM_THREADS=1 python benchmarks/chunk_loop_memory.py --rows 100000
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_out as so  # noqa: E402

MB = 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def _libc() -> Any:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return libc


def _rollup() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ("Rss", "Anonymous", "Pss_File"):
            out[key] = int(value.split()[0]) / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--trim-at", type=int, default=-1)
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--model", default="artifacts/models/gru")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "chunk-loop-memory")
    a = p.parse_args(argv)

    import pyarrow as pa
    import torch

    from audit.engine.job import write_attribution_chunks
    from audit.engine.meta import run_key
    from audit.engine.prepare import prepare
    from audit.store import RunStore

    torch.set_num_threads(1)
    a.dir.mkdir(parents=True, exist_ok=True)
    data = a.dir / f"stream-{a.rows}.parquet"
    if not data.is_file():
        texts, labels = so.build_texts(a.rows, unique=False, seed=so.SEED + 1)
        so.write_parquet(data, texts, labels)
        del texts, labels
    cfg = so._config({"model": str(Path(a.model).resolve()), "data": str(data), "store": str(a.dir / f"store-{os.getpid()}"),
                      "no_driver_flips": True}, executor="local", threads=1, attack_texts=0, stream=True)
    prep = prepare(cfg)
    key = run_key(config="chunk-loop-memory", model=prep.model_hash, data={"pid": os.getpid()}, code="-")
    writer = RunStore(cfg.store).begin(key, {"config": {}}, resume=False)
    libc, t0 = _libc(), time.time()
    snaps: list[tracemalloc.Snapshot] = []

    def show(tag: str) -> None:
        m, r = libc.mallinfo2(), _rollup()
        print(f"{tag} t={time.time() - t0:.0f}s rss={r['Rss']:.1f} anon={r['Anonymous']:.1f} file={r['Pss_File']:.1f} "
              f"glibc inuse={m.uordblks / MB:.1f} free={m.fordblks / MB:.1f} mmap={m.hblkhd / MB:.1f} "
              f"arrow={pa.total_allocated_bytes() / MB:.1f} gc_objects={len(gc.get_objects())}", flush=True)

    def hook(stage: str, index: int) -> None:
        if index % a.every == 0:
            show(f"chunk {index}")
            if a.tracemalloc:
                snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
                if snaps:
                    for stat in snap.compare_to(snaps[-1], "lineno")[:8]:
                        print("   ", stat)
                snaps[:] = [snap]
        if index == a.trim_at:
            libc.malloc_trim(0)
            show(f"chunk {index} after malloc_trim")

    if a.tracemalloc:
        tracemalloc.start()
    write_attribution_chunks(writer, prep, cfg, progress=False, on_chunk=hook)
    show("end")
    libc.malloc_trim(0)
    show("end after malloc_trim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
