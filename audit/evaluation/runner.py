"""Run the whole paper evaluation from a config and write the report folder.

:func:`run_evaluation` loads (or first trains) each model, reads the test set,
runs sections 4.4-4.8 and the Fig. 6 example, and hands everything to
:mod:`audit.evaluation.report`.  Every stage is timed; training time is kept
apart so the benchmark can report the evaluation with and without it.
"""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit.data.readers import Dataset
from audit.engine.meta import source_version
from audit.errors import ConfigError
from audit.evaluation import hierarchical, paper, report, sections
from audit.evaluation import interpretability as interp
from audit.evaluation.config import DatasetConfig, EvalConfig, ModelEntry, load_config, resolve_path
from audit.models.base import AuditModel

log = logging.getLogger(__name__)


@dataclass
class PreparedModel:
    name: str
    model: AuditModel
    dir: Path
    fingerprint: str
    trained_now: bool
    train_seconds: float
    column: str | None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timings:
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - t0


def prepare_models(cfg: EvalConfig, *, base: Path, timings: Timings) -> list[PreparedModel]:
    """Load each model, training it into its directory first when the directory holds none."""
    from audit.models.io import is_model_dir, load_model, model_fingerprint, read_metrics

    out: list[PreparedModel] = []
    for entry in cfg.models:
        d = resolve_path(entry.dir, base=base)
        trained_now = False
        seconds = 0.0
        if not is_model_dir(d):
            if entry.train_config is None and entry.train is None:
                raise ConfigError(
                    f"model {entry.name!r}: {d} holds no model and no train_config/train is given",
                    hint="train it with `audit train` or add train_config to the evaluation config",
                )
            log.info("training %s into %s", entry.name, d)
            t0 = time.perf_counter()
            _train(entry, d, base=base)
            seconds = time.perf_counter() - t0
            timings.stages[f"train:{entry.name}"] = seconds
            trained_now = True
        with timings.stage("load_models"):
            model = load_model(d)
            model.name = entry.name
            fp = model_fingerprint(d)
            metrics = read_metrics(d)
        if cfg.positive_class >= model.num_classes:
            raise ConfigError(
                f"positive_class {cfg.positive_class} but model {entry.name!r} has {model.num_classes} classes"
            )
        out.append(
            PreparedModel(
                name=entry.name,
                model=model,
                dir=d,
                fingerprint=fp,
                trained_now=trained_now,
                train_seconds=seconds,
                column=paper.column_for(entry.name, entry.paper_column),
                metrics=metrics,
            )
        )
    return out


def _train(entry: ModelEntry, out_dir: Path, *, base: Path) -> None:
    from audit.models.train import ensure_reference_model, train_model

    if entry.train_config is not None:
        ensure_reference_model(resolve_path(entry.train_config, base=base), out_dir)
        return
    from pydantic import ValidationError

    from audit.models.config import TrainConfig

    raw = {"name": entry.name, **(entry.train or {})}
    with tempfile.TemporaryDirectory(prefix="audit-eval-train-") as tmp:
        if entry.train_data is not None and entry.dev_data is not None:
            train_ds = _read(entry.train_data, base=base)
            raw["data"] = {
                "train": str(_as_tsv(train_ds, Path(tmp) / "train.tsv")),
                "dev": str(_as_tsv(_read(entry.dev_data, base=base), Path(tmp) / "dev.tsv")),
                "label_names": list(train_ds.label_names),
            }
        try:
            tc = TrainConfig.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(
                f"model {entry.name!r}: inline training config is invalid ({exc.errors()[0]['msg']} at "
                f"{'.'.join(str(x) for x in exc.errors()[0]['loc'])})"
            ) from exc
        train_model(tc, out_dir=out_dir)


def _read(dc: DatasetConfig, *, base: Path) -> Dataset:
    from audit.data.spec import read_spec

    return read_spec(dc, base=base)


def _gold_for(ds: Dataset, dc: DatasetConfig, pm: Any, n: int) -> list[int]:
    """The gold labels as ``pm``'s class ids (refused when the dataset's labels do not map onto the model's)."""
    from audit.data.spec import align_labels

    return align_labels(ds, dc, pm.model.labels).labels[:n]


def _as_tsv(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as ``label<TAB>text`` with integer labels (tabs and newlines in texts become spaces)."""
    lines = ["label\ttext"] + [f"{y}\t{' '.join(t.split())}" for t, y in zip(ds.texts, ds.labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tag_all(tokens: list[list[str]], cache: dict[tuple[str, ...], list[str]]) -> list[list[str]]:
    from audit.nlp.pos import tag

    out = []
    for t in tokens:
        key = tuple(t)
        if key not in cache:
            cache[key] = list(tag(list(t)))
        out.append(cache[key])
    return out


def run_evaluation(
    config_path: str | Path,
    *,
    out_dir: str | Path,
    command: str | None = None,
    base: str | Path | None = None,
) -> dict[str, Any]:
    """Run every enabled section and write ``out_dir``. Returns the results (as in ``results.json``)."""
    t_start = time.perf_counter()
    base_p = Path(base) if base is not None else Path.cwd()
    cfg, sha = load_config(config_path)
    threads_before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(
            cfg, sha, config_path=config_path, out=Path(out_dir), command=command, base_p=base_p, t_start=t_start
        )
    finally:
        torch.set_num_threads(threads_before)


def _run(
    cfg: EvalConfig, sha: str, *, config_path: str | Path, out: Path, command: str | None, base_p: Path, t_start: float
) -> dict[str, Any]:
    timings = Timings()
    sections.seed_everything(cfg.seed)
    models = prepare_models(cfg, base=base_p, timings=timings)

    dc = cfg.dataset
    with timings.stage("read_data"):
        ds = _read(dc, base=base_p)
    n = len(ds) if dc.max_examples is None else min(len(ds), dc.max_examples)
    texts = ds.texts[:n]
    lexicons = None
    if cfg.interpretability.enabled:
        ic = cfg.interpretability
        lexicons = (
            interp.read_lexicon(resolve_path(ic.positive_lexicon, base=base_p)),
            interp.read_lexicon(resolve_path(ic.negative_lexicon, base=base_p)),
        )

    tag_cache: dict[tuple[str, ...], list[str]] = {}
    per_model: dict[str, dict[str, Any]] = {}
    for pm in models:
        gold_m = _gold_for(ds, dc, pm, n)
        per_model[pm.name] = _evaluate_model(pm, texts, gold_m, cfg, lexicons, tag_cache, timings)

    results = report.assemble(
        cfg=cfg,
        config_path=str(config_path),
        config_sha256=sha,
        command=command,
        dataset={
            "name": ds.name,
            "path": str(ds.path),
            "sha256": ds.sha256,
            "n": n,
            "label_names": list(ds.label_names),
            "skipped_rows": [b.to_dict(ds.name) for b in ds.skipped],  # on_bad_rows: skip
        },
        models=models,
        per_model=per_model,
        timings=timings.stages,
        environment={
            "code_version": source_version(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    total = time.perf_counter() - t_start
    train_total = sum(v for k, v in timings.stages.items() if k.startswith("train:"))
    results["timings"]["total_seconds"] = total
    results["timings"]["training_seconds"] = train_total
    results["timings"]["evaluation_seconds"] = total - train_total
    with timings.stage("write_report"):
        report.write(out, results, per_model, cfg)
    log.info("evaluation written to %s in %.1f s (training %.1f s)", out, total, train_total)
    return results


def _evaluate_model(
    pm: PreparedModel,
    texts: list[str],
    gold: list[int],
    cfg: EvalConfig,
    lexicons: tuple[frozenset[str], frozenset[str]] | None,
    tag_cache: dict[tuple[str, ...], list[str]],
    timings: Timings,
) -> dict[str, Any]:
    model = pm.model
    res: dict[str, Any] = {}
    seed = cfg.seed
    with timings.stage(f"predict:{pm.name}"):
        tokens = [model.tokenize(t) for t in texts]
        probs = sections.predict(model, tokens, batch_size=cfg.batch_size)
        preds = probs.argmax(axis=1)
        res["accuracy"] = float((preds == np.asarray(gold)).mean()) if len(gold) else float("nan")
        res["n"] = len(gold)
        res["tokens"], res["probs"], res["gold"] = tokens, probs, gold
    need_reat = cfg.patterns.enabled or cfg.misbehaviour.enabled
    reat = None
    if need_reat:
        with timings.stage(f"reat_all:{pm.name}"):
            reat = sections.reat_matrix(model, tokens, batch_size=cfg.batch_size)
            res["max_completeness_gap"] = _completeness_gap(model, tokens, reat, probs, batch_size=cfg.batch_size)
    needs_tags = cfg.patterns.enabled or cfg.interpretability.enabled
    tags = None
    if needs_tags:
        with timings.stage("pos_tagging"):
            tags = _tag_all(tokens, tag_cache)
    if cfg.faithfulness.enabled:
        with timings.stage(f"faithfulness:{pm.name}"):
            res["faithfulness_items"], res["faithfulness_rules"] = sections.run_faithfulness(
                model, tokens, cfg, seed=seed
            )
            res["faithfulness"] = res["faithfulness_rules"]["main"]
    if cfg.interpretability.enabled and lexicons is not None:
        with timings.stage(f"interpretability:{pm.name}"):
            all_tags = tags if tags is not None else _tag_all(tokens, tag_cache)
            res["interpretability_counts"] = interp.lexicon_counts(
                tokens, positive=lexicons[0], negative=lexicons[1], tags=all_tags
            )
            res["interpretability_items"], res["interpretability_rules"] = sections.run_interpretability(
                model, tokens, all_tags, lexicons, cfg, seed=seed
            )
            res["interpretability"] = res["interpretability_rules"]["main"]
    if cfg.patterns.enabled and reat is not None and tags is not None:
        with timings.stage(f"patterns:{pm.name}"):
            res["token_table"], res["pos_stats"] = sections.run_patterns(tokens, tags, reat, preds, cfg)
    if cfg.misbehaviour.enabled and reat is not None:
        with timings.stage(f"misbehaviour:{pm.name}"):
            res["misbehaviour"] = sections.run_misbehaviour(
                model, tokens, gold, probs, reat, cfg, cases=cfg.misbehaviour.case_model == pm.name
            )
    if cfg.hierarchical.enabled:
        with timings.stage(f"hierarchical:{pm.name}"):
            res["hierarchical"] = hierarchical.example(model, cfg.hierarchical.text)
    return res


def _completeness_gap(
    model: AuditModel, tokens: list[list[str]], reat: list[np.ndarray], probs: np.ndarray, *, batch_size: int
) -> float:
    """Largest |sum of REAT scores + bias - logit| over the test set (a sanity check of exactness)."""
    bias = model.head.bias.detach().cpu().numpy() if model.head.bias is not None else 0.0
    gap = 0.0
    for i in range(0, len(tokens), batch_size):
        logits = model.logits_tokens(tokens[i : i + batch_size]).cpu().numpy()
        for b, r in enumerate(reat[i : i + batch_size]):
            gap = max(gap, float(np.abs(r.sum(axis=0) + bias - logits[b]).max()))
    return gap


__all__ = ["run_evaluation", "prepare_models", "PreparedModel", "Timings", "load_config"]
