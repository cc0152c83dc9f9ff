"""Training stage of ``planted_shortcuts.py``: plant, train (cached), verify the shortcut.

Each model is ``artifacts/planted/models/<arch>-<plant>-s<seed>/`` (git-ignored); an
existing, loadable folder is reused, so a rerun skips training.  The planted
training file is written to a temporary folder outside the repository and
deleted after training.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _planting import NEG, POS, plant_train

from audit.data.readers import read_dataset
from audit.models.config import load_train_config
from audit.models.io import load_model
from audit.models.train import train_model
from audit.settings import resolve_data_path

log = logging.getLogger("planted.train")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "artifacts" / "planted" / "models"

#: plant name -> (kind, training rate)
PLANTS: dict[str, tuple[str, float]] = {
    "st2": ("st", 0.02),
    "st5": ("st", 0.05),
    "st10": ("st", 0.10),
    "tic10": ("tic", 0.10),
    "op10": ("op", 0.10),
    "clean": ("clean", 0.0),
}
ARCHS = ("gru", "lstm", "bigru")
SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Run:
    arch: str
    plant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.plant}-s{self.seed}"

    @property
    def kind(self) -> str:
        return PLANTS[self.plant][0]

    @property
    def rate(self) -> float:
        return PLANTS[self.plant][1]

    @property
    def model_dir(self) -> Path:
        return CACHE / self.name


def all_runs(archs: tuple[str, ...] = ARCHS, plants: tuple[str, ...] = tuple(PLANTS), seeds: tuple[int, ...] = SEEDS) -> list[Run]:
    return [Run(a, p, s) for s in seeds for p in plants for a in archs]


def read_split(split: str) -> tuple[list[str], list[int]]:
    ds = read_dataset(resolve_data_path(f"data:sst2/{split}.tsv"), text_column="text", label_column="label",
                      fmt="tsv", name=split)
    return list(ds.texts), [int(y) for y in ds.labels]


def _write_tsv(path: Path, texts: list[str], labels: list[int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        w.writerow(["label", "text"])
        for y, t in zip(labels, texts):
            w.writerow([y, t])


def ensure_trained(run: Run, *, epochs: int) -> tuple[Path, dict[str, object], bool]:
    """Train ``run`` unless cached; returns (model dir, metrics, trained_now)."""
    out = run.model_dir
    if (out / "metrics.json").exists():
        load_model(out)
        cached = json.loads((out / "metrics.json").read_text())
        cached_epochs = (cached.get("planted") or {}).get("epochs")
        if cached_epochs in (None, epochs):  # None: cached before the epoch count was recorded
            return out, cached, False
        log.warning("%s: cached model was trained for %s epochs, not %d: retraining", run.name, cached_epochs, epochs)
    texts, labels = read_split("train")
    planted = plant_train(run.kind, texts, labels, rate=run.rate, seed=run.seed)
    n_changed = sum(a != b for a, b in zip(labels, planted.labels))
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        train_path = Path(tmp) / "train.tsv"
        _write_tsv(train_path, planted.texts, planted.labels)
        cfg = load_train_config(ROOT / "configs" / "train" / f"{run.arch}.yaml", overrides={
            "name": run.name, "data.train": str(train_path), "training.epochs": epochs,
            "training.seed": run.seed, "training.threads": 1, "out": str(out),
        })
        started = time.process_time()
        result = train_model(cfg, out_dir=out, progress=False)
        cpu = time.process_time() - started
    metrics = dict(result.metrics)
    metrics["planted"] = {"kind": run.kind, "rate": run.rate, "n_construction": planted.planted.count("construction"),
                          "n_single": planted.planted.count("single"), "n_relabelled": n_changed,
                          "train_cpu_seconds": cpu, "epochs": epochs}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    log.info("%s: dev %.4f test %.4f, %.0f CPU s", run.name, metrics["dev_accuracy"], metrics.get("test_accuracy", -1), cpu)
    return out, metrics, True


__all__ = ["ARCHS", "CACHE", "NEG", "PLANTS", "POS", "SEEDS", "Run", "all_runs", "ensure_trained", "read_split"]


if __name__ == "__main__":  # training only, as a background job: python benchmarks/_planted_train.py EPOCHS [K N]
    import sys

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    n_epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    part, n_parts = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (0, 1)
    # arch-major order (the costly BiGRU last; clean first within a seed), round-robin between ``n_parts`` processes
    todo = [Run(a, p, s) for a in ARCHS for s in SEEDS for p in ("clean", *[q for q in PLANTS if q != "clean"])]
    todo = todo[part::n_parts]
    total = 0.0
    for r in todo:
        _, m, now = ensure_trained(r, epochs=n_epochs)
        planted_info = m.get("planted", {})
        if now and isinstance(planted_info, dict):
            total += float(planted_info.get("train_cpu_seconds", 0.0))
        log.info("total training CPU so far this job: %.0f s", total)
