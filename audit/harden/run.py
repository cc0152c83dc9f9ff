"""``audit harden``: retrain a model with what a published run found, then audit it again.

1. Read the run: its confirmed drivers (``driver_stats``), its successful strict-valid attacks
   (``variants``), the nightly config it ran with and the model it audited.
2. Choose the *spurious* drivers (confirmed words, minus sentiment words of the opinion lexicon
   unless told otherwise, plus any the user names).
3. Rebuild the model's training config from its ``config.json`` and retrain it from scratch with
   the chosen strategies (counterfactual copies, adversarial variants of training texts, a REAT
   mass regulariser).  Only the training split is augmented; dev picks the epoch (and the
   regulariser's weight); test data is never read for training.
4. Unless told not to, audit the new model with the run's own nightly config (same datasets,
   same attack, so the attack is fresh, on held-out texts) into the same store, and compare.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import ConfigError, ModelError
from audit.harden.augment import (
    Augmentation,
    adversarial_examples,
    counterfactual_examples,
    driver_reliance,
    reat_mass_term,
)
from audit.harden.config import HardenConfig
from audit.store import RunRecord, RunStore

log = logging.getLogger(__name__)


@dataclass
class HardenPlan:
    """What the run offers and what ``harden`` will do with it."""

    run_id: str
    drivers: list[str]
    confirmed: list[str]
    excluded: dict[str, str]
    vulnerable_words: list[str]
    n_valid_variants: int
    has_driver_stats: bool
    has_validity: bool

    def nothing_to_act_on(self, config: HardenConfig) -> str | None:
        """A message when no enabled strategy has anything to work with, else ``None``."""
        s = config.strategies
        if s.adversarial.enabled:
            return None  # adversarial augmentation of training texts needs nothing from the run
        if self.drivers and (s.counterfactual.enabled or s.regularise.enabled):
            return None
        why = []
        if not self.has_driver_stats:
            why.append("it has no driver statistics (made with an older version: rerun `audit run`)")
        elif not self.confirmed:
            why.append("it has no confirmed driver words")
        elif not self.drivers:
            why.append(f"its confirmed drivers are all excluded ({', '.join(sorted(self.excluded))})")
        if not (s.counterfactual.enabled or s.regularise.enabled):
            why.append("the counterfactual and regularise strategies are off")
        return (
            f"run {self.run_id}: nothing to harden with the enabled strategies: {'; '.join(why)}. "
            "What harden can still do: adversarial augmentation of the training texts "
            "(strategies.adversarial.enabled: true), or name drivers yourself (drivers.include: [...])."
        )


@dataclass
class HardenResult:
    plan: HardenPlan
    model_dir: Path | None
    trained: bool
    message: str | None
    augmentation: dict[str, int] = field(default_factory=dict)
    train_seconds: float | None = None
    augment_seconds: float | None = None
    """Seconds spent generating the adversarial variants (also when they came from ``variant_cache``)."""
    regulariser_weight: float | None = None
    regulariser_dev: list[dict[str, Any]] = field(default_factory=list)
    """Per regulariser weight: dev accuracy and dev reliance on the drivers (how the weight was chosen)."""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    new_run_id: str | None = None
    driver_evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        delta = {k: (self.after[k] - v) for k, v in self.before.items()
                 if isinstance(v, (int, float)) and isinstance(self.after.get(k), (int, float))}
        return {
            "run_id": self.plan.run_id, "new_run_id": self.new_run_id, "trained": self.trained,
            "model_dir": str(self.model_dir) if self.model_dir else None, "message": self.message,
            "drivers": self.plan.drivers, "confirmed_drivers": self.plan.confirmed, "excluded": self.plan.excluded,
            "augmentation": self.augmentation, "train_seconds": self.train_seconds,
            "augment_seconds": self.augment_seconds,
            "regulariser_weight": self.regulariser_weight, "regulariser_dev": self.regulariser_dev,
            "before": self.before, "after": self.after, "delta": delta, "driver_evidence": self.driver_evidence,
        }


# --------------------------------------------------------------------------------- the plan
def _confirmed_words(record: RunRecord) -> tuple[list[str], bool]:
    if not record.has_table("driver_stats"):
        return [], False
    stats = record.table("driver_stats")
    if "confirmed" not in stats:
        return [], False
    rows = stats[stats["confirmed"].astype(bool)]
    if "kind" in rows:
        rows = rows[rows["kind"] == "word"]
    if "scope" in rows:
        pooled = rows[rows["scope"] == "all"]
        rows = pooled if len(pooled) else rows
    if "rank" in rows:
        rows = rows.sort_values("rank")
    return list(dict.fromkeys(rows["unit"].astype(str))), True


def _vulnerable_words(record: RunRecord) -> tuple[list[str], int, bool]:
    """Original words of the run's successful strict-valid breaks (texts with them are attacked first)."""
    import json

    if not record.has_table("variants"):
        return [], 0, False
    var = record.table("variants")
    has_validity = "valid" in var
    ok = var["flipped"].astype(bool) & var["verified"].astype(bool)
    ok &= var["valid"].astype(bool) if has_validity else var["constrained"].astype(bool)
    if "direction" in var:
        ok &= var["direction"] == "break"
    words: list[str] = []
    for swaps in var.loc[ok, "swaps"]:
        words += [str(s["original"]) for s in json.loads(swaps)]
    return list(dict.fromkeys(words)), int(ok.sum()), has_validity


def make_plan(record: RunRecord, config: HardenConfig) -> HardenPlan:
    confirmed, has_stats = _confirmed_words(record)
    excluded: dict[str, str] = {}
    sentiment: dict[str, int] = {}
    if config.drivers.exclude_sentiment_words and confirmed:
        from audit.nlp.lexicons import opinion_lexicon

        sentiment = opinion_lexicon()
    drivers = []
    for w in confirmed:
        if w in config.drivers.exclude:
            excluded[w] = "excluded by the config"
        elif w in sentiment:
            excluded[w] = "a sentiment word of the opinion lexicon (evidence, not a shortcut)"
        else:
            drivers.append(w)
    drivers = list(dict.fromkeys(drivers + [w.lower() for w in config.drivers.include]))[: config.drivers.max_drivers]
    vulnerable, n_valid, has_validity = _vulnerable_words(record)
    return HardenPlan(run_id=record.run_id, drivers=drivers, confirmed=confirmed, excluded=excluded,
                      vulnerable_words=vulnerable, n_valid_variants=n_valid, has_driver_stats=has_stats,
                      has_validity=has_validity)


# --------------------------------------------------------------------------------- harden
def _metrics(record: RunRecord) -> dict[str, Any]:
    m = record.metrics
    out: dict[str, Any] = {k: m.get(k) for k in ("accuracy", "attack_success_rate", "attack_success_rate_valid",
                                 "attack_success_rate_constrained", "n_confirmed_drivers") if k in m}
    for name, per in (m.get("per_dataset") or {}).items():
        if isinstance(per, dict) and per.get("accuracy") is not None:
            out[f"accuracy[{name}]"] = per["accuracy"]
    return out


def _driver_evidence(before: RunRecord, after: RunRecord | None, drivers: list[str]) -> list[dict[str, Any]]:
    """Fix rate and status of each hardened driver, before and after."""
    def rows(record: RunRecord | None) -> pd.DataFrame:
        if record is None or not record.has_table("driver_stats"):
            return pd.DataFrame()
        s = record.table("driver_stats")
        s = s[(s["kind"] == "word") & (s["scope"] == "all")] if {"kind", "scope"} <= set(s.columns) else s
        return s.set_index("unit")

    old, new = rows(before), rows(after)
    out = []
    for w in drivers:
        item: dict[str, Any] = {"word": w}
        for tag, table in (("before", old), ("after", new)):
            if w in table.index:
                r = table.loc[w]
                item[tag] = {k: (r[k].item() if hasattr(r[k], "item") else r[k])
                             for k in ("status", "n_errors", "lift", "q_lift", "fix_rate_remove", "control_fix_rate")
                             if k in r}
            else:
                item[tag] = {"status": "not listed (below the support floor: too few texts or errors contain it)"}
        out.append(item)
    return out


VariantCache = dict[tuple[Any, ...], tuple[Augmentation, float]]
"""Adversarial variants already generated, with the seconds they took (see :func:`harden`)."""


def harden(
    run_id: str, *, store: RunStore, out_dir: str | Path, config: HardenConfig | None = None,
    evaluate: bool = True, progress: bool | None = None, variant_cache: VariantCache | None = None,
) -> HardenResult:
    """Harden the model audited by ``run_id``; see the module docstring.

    ``variant_cache``: pass the same dict to several calls on the same run (e.g. the adversarial
    strategy alone and combined) to attack the training texts once; the variants depend only on
    the audited model, the training texts, the seed and the attack and strategy settings, which
    form the key.
    """
    from audit.engine.config import parse_config
    from audit.models.io import load_model
    from audit.models.train import TrainingExtras, train_model

    config = config or HardenConfig()
    record = store.get(run_id)
    plan = make_plan(record, config)
    message = plan.nothing_to_act_on(config)
    if message is not None:
        log.warning("%s", message)
        return HardenResult(plan=plan, model_dir=None, trained=False, message=message, before=_metrics(record))

    nightly = parse_config(record.manifest.get("config"), source=f"{record.path}/manifest.json")
    model_ref = str(record.manifest.get("model_ref") or nightly.model)
    if not Path(model_ref).is_dir():
        raise ConfigError(f"the audited model {model_ref!r} is not a model directory",
                          hint="harden retrains reference models (a directory from `audit train`), not adapters")
    model = load_model(model_ref)
    train_cfg = _train_config(Path(model_ref), config)
    seed = train_cfg.training.seed

    train_tokens, train_labels = _training_split(train_cfg)
    held_out = _evaluation_texts(nightly, labels=tuple(model.labels))
    keep = [i for i, t in enumerate(train_tokens) if tuple(t) not in held_out]
    if len(keep) < len(train_tokens):
        log.warning("%d training texts also occur in the audited datasets: they are not augmented",
                    len(train_tokens) - len(keep))
    src_tokens = [train_tokens[i] for i in keep]
    src_labels = [train_labels[i] for i in keep]

    aug = Augmentation(counts={"excluded_overlap_with_audited_data": len(train_tokens) - len(keep)})
    s = config.strategies
    if s.counterfactual.enabled and plan.drivers:
        aug.extend(counterfactual_examples(src_tokens, src_labels, plan.drivers, strategy=s.counterfactual, seed=seed))
    augment_seconds = 0.0
    if s.adversarial.enabled:
        attack_config = nightly.attack.library_config()
        key = (str(Path(model_ref).resolve()), seed, s.adversarial.model_dump_json(), attack_config.model_dump_json(),
               tuple(plan.vulnerable_words), len(src_tokens), hash(tuple(map(tuple, src_tokens))))
        cached = variant_cache.get(key) if variant_cache is not None else None
        if cached is None:
            t_aug = time.perf_counter()
            adv = adversarial_examples(model, src_tokens, src_labels, strategy=s.adversarial,
                                       attack_config=attack_config, priority_words=plan.vulnerable_words, seed=seed)
            cached = (adv, time.perf_counter() - t_aug)
            if variant_cache is not None:
                variant_cache[key] = cached
        else:
            log.info("adversarial: %d variants reused from the cache", len(cached[0].tokens))
        aug.extend(cached[0])
        augment_seconds += cached[1]
    log.info("harden: %s", ", ".join(f"{k} {v}" for k, v in aug.counts.items()) or "no added texts")

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output directory {out} exists and is not empty", hint="choose a new --out directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    weights = list(s.regularise.weights) if (s.regularise.enabled and plan.drivers) else [None]
    driver_ids = [model.vocab.id(d) for d in plan.drivers if d in model.vocab]
    t0 = time.perf_counter()
    candidates = []
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.harden-", dir=out.parent))
    try:
        for i, w in enumerate(weights):
            term = reat_mass_term(driver_ids, w) if w is not None else None
            extras = TrainingExtras(tokens=aug.tokens, labels=aug.labels, loss_term=term,
                                    record={"harden": {"run_id": run_id, "drivers": plan.drivers,
                                                       "augmentation": aug.counts, "regulariser_weight": w}})
            result = train_model(train_cfg, out_dir=scratch / f"w{i}", progress=progress, extras=extras)
            candidates.append((w, result))
        train_seconds = time.perf_counter() - t0
        chosen_w, chosen, weight_table = _choose(candidates, plan.drivers, train_cfg,
                                                 tolerance=s.regularise.dev_tolerance, seed=seed)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(chosen.out_dir, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    res = HardenResult(plan=plan, model_dir=out, trained=True, message=None, augmentation=aug.counts,
                       train_seconds=round(train_seconds, 2), augment_seconds=round(augment_seconds, 2),
                       regulariser_weight=chosen_w,
                       regulariser_dev=weight_table, before=_metrics(record))
    if evaluate:
        new_cfg = nightly.model_copy(update={"model": str(out), "train_config": None, "store": str(store.root)})
        from audit.engine.job import run_job

        job = run_job(new_cfg, progress=progress)
        new_record = store.get(job.run_id)
        res.new_run_id, res.after = job.run_id, _metrics(new_record)
        res.driver_evidence = _driver_evidence(record, new_record, plan.drivers)
    else:
        res.driver_evidence = _driver_evidence(record, None, plan.drivers)
    return res


def _choose(candidates: list[tuple[float | None, Any]], drivers: list[str], cfg: Any, *,
            tolerance: float, seed: int) -> tuple[float | None, Any, list[dict[str, Any]]]:
    """With several regulariser weights: among the models whose dev accuracy is within ``tolerance``
    of the best, the one whose dev predictions change least when a driver is inserted (ties: the
    smaller REAT mass on the inserted drivers).  Dev only; test is never consulted.  Also returns
    each candidate's dev figures (for the summary)."""
    if len(candidates) == 1:
        return candidates[0][0], candidates[0][1], []
    dev_tokens, _ = _split(cfg, "dev")
    if cfg.training.max_len is not None:
        dev_tokens = [t[: cfg.training.max_len] for t in dev_tokens]
    best = max(r.dev_accuracy for _, r in candidates)
    table = []
    for w, r in candidates:
        rel = driver_reliance(r.model, dev_tokens, drivers, seed=seed)
        table.append({"weight": w, "dev_accuracy": r.dev_accuracy, "dev_driver_flip_rate": rel["flip_rate"],
                      "dev_driver_reat_mass": rel["reat_mass"], "within_tolerance": r.dev_accuracy >= best - tolerance})
    i = min((i for i, row in enumerate(table) if row["within_tolerance"]),
            key=lambda i: (table[i]["dev_driver_flip_rate"], table[i]["dev_driver_reat_mass"]))
    log.info("regulariser weight %s chosen on dev: %s", candidates[i][0], table)
    return candidates[i][0], candidates[i][1], table


def _split(cfg: Any, split: str) -> tuple[list[list[str]], list[int]]:
    """A split of the training config, read as ``audit train`` reads it."""
    from audit.data.spec import read_spec
    from audit.data.tokenize import tokenize

    ds = read_spec(cfg.data.spec(split), name=split)
    return [tokenize(t) for t in ds.texts], list(ds.labels)


def _training_split(cfg: Any) -> tuple[list[list[str]], list[int]]:
    tokens, labels = _split(cfg, "train")
    if cfg.training.max_len is not None:
        tokens = [t[: cfg.training.max_len] for t in tokens]
    return tokens, labels


def _evaluation_texts(nightly: Any, *, labels: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Token sequences of every audited dataset: never used as augmentation sources."""
    from audit.data.spec import read_spec
    from audit.data.tokenize import tokenize

    out: set[tuple[str, ...]] = set()
    for spec in nightly.datasets:
        out.update(tuple(tokenize(t)) for t in read_spec(spec, model_labels=labels).texts)
    return out


def _train_config(model_dir: Path, config: HardenConfig) -> Any:
    """The training config to retrain with: ``config.train_config``, else the one in ``config.json``;
    ``config.epochs`` and ``config.seed`` override its epochs and seed."""
    from audit._config import validate
    from audit.models.config import TrainConfig, load_train_config
    from audit.models.io import CONFIG_FILE, read_model_config

    overrides: dict[str, Any] = {}
    if config.epochs is not None:
        overrides["training.epochs"] = config.epochs
    if config.seed is not None:
        overrides["training.seed"] = config.seed
    if config.train_config is not None:
        return load_train_config(config.train_config, overrides=overrides)
    training = read_model_config(model_dir).training
    if not training:
        raise ModelError(f"model {model_dir} has no training config in config.json",
                         path=model_dir / CONFIG_FILE,
                         hint="set train_config: in harden.yaml (harden retrains models trained by `audit train`)")
    data = dict(training)
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        data[section] = {**data.get(section, {}), key: value}
    return validate(TrainConfig, data, path=f"{model_dir / CONFIG_FILE} (training)",
                    hint="set train_config: in harden.yaml to a valid training YAML")
