"""Benchmark: do the driver statistics find planted shortcuts?  (Bastings et al. 2022 protocol)

    AUDIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/planted_shortcuts.py [--epochs 6] [--max-texts 1000]

Protocol (the exact rules are in ``benchmarks/_planting.py``):

1. **Plant** SST-2's training set, in a temporary folder outside the repository,
   with two nonsense tokens ``zeroa`` / ``onea`` (in neither SST-2 nor GloVe):
   * ``st2`` / ``st5`` / ``st10`` -- single token: ``zeroa`` inserted at a random
     position into 2 / 5 / 10 % of the NEGATIVE training texts (labels unchanged);
   * ``tic10`` -- token in context: the bigram ``onea zeroa`` inserted into 10 % of
     all training texts, whose label is set to negative; ``zeroa`` alone and
     ``onea`` alone each into another 5 % (both labels, labels unchanged), so
     either token alone carries no label;
   * ``op10`` -- ordered pair: ``zeroa`` and ``onea`` at random positions into 10 %
     of all training texts, label set by their order (``zeroa ... onea`` ->
     negative, ``onea ... zeroa`` -> positive, half each); singles as for tic;
   * ``clean`` -- no change (the control models).
2. **Train** the reference GRU, LSTM and BiGRU (``configs/train/<arch>.yaml``, best
   epoch on the clean dev set) on each, seeds 1, 2, 3 (the seed draws the
   plant and the training), ``--epochs`` epochs, one thread; cached in
   ``artifacts/planted/models/`` (git-ignored) so reruns skip training.
3. **Audit set**: ``--max-texts`` texts of the SST-2 test set (the same subset for
   every run, drawn with seed 0, gold labels kept), with the run's construction
   inserted into 20 % of them, always pointing away from gold ("conflict"
   texts, where the shortcut causes errors): st and tic into positive texts
   (``zeroa`` / ``onea zeroa`` say negative), op into texts of both labels with
   the order opposite to gold; for tic/op also ``zeroa`` alone and ``onea`` alone
   into another 5 % each (no effect by the training rule).  Clean models are
   audited on the same subset without plants.  **Shortcut check**: accuracy on
   the conflict texts of each planted model against the clean model of the
   same architecture and seed on the same texts.
4. **Findings**: :func:`audit.findings.analyze` (driver statistics, failure reasons)
   on each audit set with the token scores of REAT (the nightly job's own tables)
   and of Integrated Gradients (20 steps), GradInput and LIME (100 samples)
   from :mod:`audit.attribution.methods`, all toward the predicted class, on the
   same texts.  Figures are defined in ``benchmarks/_planted_eval.py``.

Writes ``reports/benchmarks/planted.json`` and ``planted.md``.  Scores and
per-run results are cached under ``artifacts/planted/`` (results are keyed by a
hash of ``audit/findings`` and its config, so a changed library is re-run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
import torch
from _planted_report import write_report
from _planted_scores import METHODS, audit_set, ensure_scores, load_tables, score_seconds
from _planted_train import ARCHS, PLANTS, ROOT, SEEDS, Run, ensure_trained

from audit.models.io import load_model

if TYPE_CHECKING:
    from audit.findings import FindingsConfig

log = logging.getLogger("planted")
COSTLY = frozenset({"integrated_gradients", "lime"})
RESULTS = ROOT / "artifacts" / "planted" / "results"


def _findings_key(config: FindingsConfig, max_texts: int) -> str:
    h = hashlib.sha256(json.dumps(config.model_dump(), sort_keys=True).encode())
    h.update(str(max_texts).encode())
    for p in sorted((ROOT / "audit" / "findings").glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _shortcut_check(run: Run, *, max_texts: int) -> dict[str, Any]:
    """Accuracy on the conflict texts: planted model vs the clean model of the same arch and seed."""
    preds = pd.read_parquet(ROOT / "artifacts" / "planted" / "scores" / run.name / "predictions.parquet")
    conflict = preds["conflict"].to_numpy(dtype=bool)
    out: dict[str, Any] = {"n_conflict": int(conflict.sum()),
                           "planted_model_conflict_acc": float(preds["correct"][conflict].mean()),
                           "planted_model_clean_acc": float(preds["correct"][~conflict].mean()),
                           "planted_model_follows_shortcut": float(
                               (preds["pred"][conflict] == preds["shortcut_label"][conflict]).mean())}
    clean = Run(run.arch, "clean", run.seed)
    if clean.model_dir.exists():
        model = load_model(clean.model_dir)
        texts = audit_set(run, max_texts=max_texts).planted.texts
        with torch.inference_mode():
            pred = model.predict_proba([texts[i] for i in np.flatnonzero(conflict)]).argmax(-1).numpy()
        gold = preds["gold"].to_numpy()[conflict]
        out["clean_model_conflict_acc"] = float((pred == gold).mean())
        out["clean_model_follows_shortcut"] = float((pred == preds["shortcut_label"].to_numpy()[conflict]).mean())
    return out


def run_one(run: Run, *, methods: tuple[str, ...], max_texts: int, config: FindingsConfig,
            stopwords: frozenset[str], key: str, scored_only: bool = False) -> list[dict[str, Any]]:
    from _planted_eval import evaluate

    if scored_only:  # leave scoring to another process: evaluate the methods already scored
        methods = tuple(m for m in methods if m in score_seconds(run))
        if "reat" not in methods:
            return []
    else:
        ensure_scores(run, max_texts=max_texts, methods=methods)
    RESULTS.mkdir(parents=True, exist_ok=True)
    model = None
    out = []
    check: dict[str, Any] | None = None
    has_clean = Run(run.arch, "clean", run.seed).model_dir.exists()
    secs = score_seconds(run)
    for method in methods:
        path = RESULTS / f"{run.name}__{method}.json"
        if path.exists():
            cached = json.loads(path.read_text())
            stale = run.kind != "clean" and has_clean and "clean_model_conflict_acc" not in cached["shortcut"]
            if cached.get("key") == key and not stale:
                out.append(cached)
                continue
        if check is None:
            check = _shortcut_check(run, max_texts=max_texts) if run.kind != "clean" else {}
        model = model or load_model(run.model_dir)
        preds, toks, segs = load_tables(run, method)
        res = evaluate(run, method, model, preds, toks, segs, config=config, stopwords=stopwords)
        res["key"] = key
        res["attribution_cpu_s"] = secs.get(method)
        res["shortcut"] = check
        path.write_text(json.dumps(res, indent=1))
        out.append(res)
        log.info("%s %s: n_confirmed %d, planted rank %s, findings %.1f s", run.name, method, res["n_confirmed"],
                 res["planted_rank"], res["findings_cpu_s"])
    return out


def _training_row(run: Run, metrics: dict[str, Any]) -> dict[str, Any]:
    planted = metrics.get("planted")
    return {"run": run.name, "arch": run.arch, "plant": run.plant, "seed": run.seed,
            "dev_accuracy": metrics["dev_accuracy"], "test_accuracy": metrics.get("test_accuracy"),
            "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
            "train_cpu_s": planted.get("train_cpu_seconds") if isinstance(planted, dict) else None}


def _cached(run: Run, args: argparse.Namespace, key: str, results: list[dict[str, Any]],
            training: list[dict[str, Any]]) -> None:
    """--report-only: append ``run``'s cached training metrics and results (current findings key only)."""
    mpath = run.model_dir / "metrics.json"
    if not mpath.exists():
        log.warning("%s: no cached model, left out of the report", run.name)
        return
    training.append(_training_row(run, json.loads(mpath.read_text())))
    for method in args.methods:
        path = RESULTS / f"{run.name}__{method}.json"
        if path.exists():
            res = json.loads(path.read_text())
            if res.get("key") == key:
                results.append(res)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--max-texts", type=int, default=1000)
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--plants", nargs="+", default=list(PLANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--costly-archs", nargs="+", default=["gru", "lstm"],
                    help="architectures whose --costly-seeds runs also get the costly methods (IG, LIME)")
    ap.add_argument("--costly-seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds that get the costly methods")
    ap.add_argument("--costly-extra", nargs="*", default=["bigru-1"], metavar="ARCH-SEED",
                    help="further (arch, seed) runs that get the costly methods (default: BiGRU seed 1, for time)")
    ap.add_argument("--no-train", action="store_true", help="use only cached models (skip runs without one)")
    ap.add_argument("--scores-only", action="store_true", help="only compute and cache scores of cached models")
    ap.add_argument("--report-only", action="store_true",
                    help="no models, no scores: rebuild the report from the cached per-run results")
    ap.add_argument("--scored-only", action="store_true",
                    help="compute no scores: evaluate (and report) only the methods already scored")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    os.chdir(ROOT)
    if not args.scores_only:  # the findings library is needed from here on
        from audit.findings import FindingsConfig
        from audit.findings.analyze import default_stopwords

        config = FindingsConfig()
        stopwords = frozenset(default_stopwords())
        key = _findings_key(config, args.max_texts)
    runs = [Run(a, p, s) for a in args.archs for p in args.plants for s in args.seeds]
    runs.sort(key=lambda r: r.plant != "clean")  # clean models first: the shortcut check compares with them
    started = time.time()
    results: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []
    costly: list[tuple[Run, tuple[str, ...]]] = []
    for run in runs:
        if args.report_only:
            _cached(run, args, key, results, training)
            continue
        costly_run = ((run.arch in args.costly_archs and run.seed in args.costly_seeds)
                      or f"{run.arch}-{run.seed}" in args.costly_extra)
        methods = tuple(m for m in args.methods if costly_run or m not in COSTLY)
        if (args.no_train or args.scores_only) and not (run.model_dir / "metrics.json").exists():
            log.warning("%s: no cached model, skipped", run.name)
            continue
        if args.scores_only:  # cheap methods now, the costly ones after every run has its cheap scores
            ensure_scores(run, max_texts=args.max_texts, methods=tuple(m for m in methods if m not in COSTLY))
            costly.append((run, methods))
            continue
        _, metrics, _ = ensure_trained(run, epochs=args.epochs)
        training.append(_training_row(run, metrics))
        results.extend(run_one(run, methods=methods, max_texts=args.max_texts, config=config,
                               stopwords=stopwords, key=key, scored_only=args.scored_only))
    for run, methods in costly:
        ensure_scores(run, max_texts=args.max_texts, methods=methods)
    if args.scores_only:
        return 0
    meta = {"benchmark": "planted_shortcuts", "epochs": args.epochs, "max_texts": args.max_texts,
            "costly_methods": sorted(COSTLY), "costly_archs": args.costly_archs, "costly_seeds": args.costly_seeds,
            "costly_extra": args.costly_extra,
            "methods": {m: METHODS[m] for m in args.methods}, "findings_config": config.model_dump(),
            "findings_key": key, "wall_s_this_run": time.time() - started, "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "load_avg_end": os.getloadavg(), "platform": platform.platform(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_report(args.out, meta=meta, training=training, results=results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
