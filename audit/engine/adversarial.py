"""The nightly job's adversarial stage: REAT-guided WordNet attacks and driver-word flip rates.

Texts are attacked in a deterministic order (datasets in config order, then
example id), capped by ``attack.max_texts`` per dataset, in chunks of ``batch_size`` texts
written to the run store so an interrupted job resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from audit.attack import MeaningFlagger, ReatWordNetAttack, driver_flip_rates
from audit.engine.meta import seed_everything
from audit.models.base import AuditModel
from audit.store.schemas import columns

if TYPE_CHECKING:
    from audit.engine.config import NightlyConfig
    from audit.engine.executors import Executor
    from audit.store import RunWriter

log = logging.getLogger(__name__)

STAGE_ATTACK, STAGE_FLIPS, STAGE_DRIVER_VARIANTS = "attack", "driver_flips", "driver_variants"

VARIANT_COLUMNS = columns("variants")
FLIP_COLUMNS = columns("driver_flip_rates")
_BOOL_COLS = ["flipped", "verified", "constrained", "valid", "declared"]
_FLIP_TYPES = {"n_texts": "int64", "n_flipped": "int64", "rate": "float64", "declared": "bool", "n_breaks": "int64",
               "n_fixes": "int64", "n_texts_raw": "int64", "n_flipped_raw": "int64"}
_INT_COLS = ["variant_id", "example_id", "gold", "pred_before", "pred_after", "queries", "words_changed"]


def empty_variants() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in VARIANT_COLUMNS})
    return df.astype({c: "int64" for c in _INT_COLS} | {c: "bool" for c in _BOOL_COLS})


def empty_flip_rates() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FLIP_COLUMNS}).astype(_FLIP_TYPES)


def describe_attack(config: NightlyConfig) -> dict[str, Any]:
    """The manifest's ``attack`` record: recipe, its constraints and thresholds, sentence-encoder status."""
    return ReatWordNetAttack(config.attack.library_config()).describe()


def attack_targets(predictions: pd.DataFrame, *, max_texts: int | None, include_errors: bool = False) -> pd.DataFrame:
    """The texts to attack: correctly classified ones (all if ``include_errors``), in table order.

    ``max_texts`` is a budget *per dataset*: the first ``max_texts`` candidates of each dataset, so a
    second dataset is attacked as much as the first.
    """
    rows = predictions if include_errors else predictions[predictions["correct"].astype(bool)]
    if max_texts is None or rows.empty:
        return rows
    return rows.groupby("dataset", sort=False, group_keys=False).head(max_texts)


def variant_row(result: Any, *, kind: str, example_id: int, dataset: str) -> dict[str, Any]:
    """One ``variants`` row (``variant_id`` is assigned when the table is assembled)."""
    row = result.to_row()
    row["swaps"] = json.dumps(row["swaps"], ensure_ascii=False, sort_keys=True)
    row["evidence"] = json.dumps(row["evidence"], ensure_ascii=False, sort_keys=True)
    row["gold"] = -1 if row["gold"] is None else int(row["gold"])
    return {"variant_id": -1, "kind": kind, "example_id": int(example_id), "dataset": dataset, **row}


def normalize_variants(df: pd.DataFrame) -> pd.DataFrame:
    """Contract column order and types; list cells back to Python lists (Parquet gives arrays)."""
    if df.empty:
        return empty_variants()
    out = df[VARIANT_COLUMNS].copy()
    out["variant_id"] = np.arange(len(out), dtype=np.int64)
    for col in ("probs_before", "probs_after"):
        out[col] = [[float(x) for x in cell] for cell in out[col]]
    out["meaning_flags"] = [[str(x) for x in cell] for cell in out["meaning_flags"]]
    return out.astype({c: "int64" for c in _INT_COLS} | {c: "bool" for c in _BOOL_COLS})


ATTACK_SEED_OFFSET = 1_000_003
"""Attack chunk ``i`` is seeded with ``seed + ATTACK_SEED_OFFSET + i``, whichever worker runs it."""


def attack_chunk(attack: ReatWordNetAttack, model: AuditModel,
                 items: Iterable[tuple[str, int, int, Sequence[str]]]) -> pd.DataFrame:
    """The ``variants`` rows (kind ``text``) of one chunk of ``(dataset, example_id, gold, tokens)``."""
    rows = []
    for ds, ex, gold, toks in items:
        result = attack.attack(model, list(toks), gold=int(gold))
        rows.append(variant_row(result, kind="text", example_id=int(ex), dataset=str(ds)))
    return pd.DataFrame(rows, columns=VARIANT_COLUMNS)


def run_text_attacks(
    writer: RunWriter, model: AuditModel, predictions: pd.DataFrame, tokens: dict[str, list[list[str]]],
    config: NightlyConfig, *, progress: bool | None, on_chunk: Callable[[str, int], None] | None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Attack the target texts chunk by chunk; return the assembled ``variants`` rows of kind ``text``."""
    from audit.engine.executors import LocalExecutor, attack_tasks

    cfg = config.attack
    targets = attack_targets(predictions, max_texts=cfg.max_texts, include_errors=cfg.attack_misclassified)
    spec, tasks = attack_tasks(targets, tokens, config)
    (executor or LocalExecutor(model=model)).run_chunks(writer, spec=spec, tasks=tasks, total=len(targets),
                                                        desc="attack", progress=progress, on_chunk=on_chunk)
    return writer.read_chunks(STAGE_ATTACK)


def run_attacks(
    writer: RunWriter, model: AuditModel, predictions: pd.DataFrame, token_table: pd.DataFrame,
    tokens: dict[str, list[list[str]]], words: pd.DataFrame, config: NightlyConfig, *, progress: bool | None = None,
    on_chunk: Callable[[str, int], None] | None = None, executor: Executor | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(variants, driver_flip_rates)`` tables; empty (with columns) when the attack is disabled.

    The per-text attacks run on ``executor`` (default: this process); the driver-word flip rates are
    one chunk and run here."""
    if not config.attack.enabled:
        log.info("attack stage disabled by the config")
        return empty_variants(), empty_flip_rates()
    variants = run_text_attacks(writer, model, predictions, tokens, config, progress=progress, on_chunk=on_chunk,
                                executor=executor)
    driver_variants, flips = run_driver_flips(writer, model, predictions, token_table, tokens, words, config,
                                              on_chunk=on_chunk)
    frames = [f for f in (variants, driver_variants) if len(f)]
    all_variants = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return normalize_variants(all_variants), flips


def _driver_variant_rows(
    results: list[Any], keys: list[tuple[str, int]], golds: dict[tuple[str, int], int], flagger: MeaningFlagger,
    *, recipe: str,
) -> list[dict[str, Any]]:
    """One row per distinct driver variant (the same variant of a text reached twice is kept once)."""
    flag_cache: dict[tuple[str, str, str], list[str]] = {}
    seen: set[tuple[str, int, tuple[str, ...]]] = set()
    rows = []
    for rate in results:
        for v in rate.variants:
            ds, ex = keys[v.text_index]
            key = (ds, ex, tuple(v.variant))
            if key in seen or v.variant == v.original:
                continue
            seen.add(key)
            flags: set[str] = set()
            for s in v.swaps:
                if s["pos"] == "DT":
                    continue
                fkey = (str(s["original"]), str(s["replacement"]), str(s["pos"]))
                if fkey not in flag_cache:
                    flag_cache[fkey] = flagger.flags(*fkey)
                flags.update(flag_cache[fkey])
            evidence = v.evidence.to_dict() if v.evidence is not None else {}
            rows.append({
                "variant_id": -1, "kind": "driver", "example_id": ex, "dataset": ds,
                "original": " ".join(v.original), "variant": " ".join(v.variant),
                "swaps": json.dumps(v.swaps, ensure_ascii=False, sort_keys=True), "gold": golds[(ds, ex)],
                "pred_before": int(v.pred_before), "probs_before": list(v.probs_before),
                "pred_after": int(v.pred_after), "probs_after": list(v.probs_after), "flipped": bool(v.flipped),
                "verified": True, "queries": 1, "words_changed": sum(a != b for a, b in zip(v.original, v.variant)),
                "meaning_flags": sorted(flags), "constrained": not flags, "recipe": recipe, "valid": v.valid,
                "direction": v.probe, "declared": bool(v.declared),
                "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
            })
    return rows


def run_driver_flips(
    writer: RunWriter, model: AuditModel, predictions: pd.DataFrame, token_table: pd.DataFrame,
    tokens: dict[str, list[list[str]]], words: pd.DataFrame, config: NightlyConfig, *,
    on_chunk: Callable[[str, int], None] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flip rates of swapping the top driver words with their synonyms, and every such variant (one chunk each)."""
    top = words.sort_values("rank")["word"].head(config.attack.flip_top_words).astype(str).tolist() if len(words) else []
    top = list(dict.fromkeys(top + [w.lower() for w in config.attack.flip_words]))
    if not top:
        return pd.DataFrame(), empty_flip_rates()
    if not writer.has_chunk(STAGE_FLIPS, 0):
        seed_everything(config.seed + 2_000_003)
        lib = config.attack.library_config()
        names = list(dict.fromkeys(predictions["dataset"].astype(str)))
        cap = config.attack.flip_max_texts
        keys = [(name, ex) for name in names for ex in range(len(tokens[name]) if cap is None
                                                              else min(len(tokens[name]), cap))]
        token_lists = [tokens[name][ex] for name, ex in keys]
        golds = {(str(d), int(e)): int(g) for d, e, g in zip(predictions["dataset"], predictions["example_id"],
                                                              predictions["gold"], strict=True)}
        tags = {(str(d), int(e)): list(g["pos"]) for (d, e), g in token_table.groupby(["dataset", "example_id"], sort=False)}
        results = driver_flip_rates(model, token_lists, top, config=lib, golds=[golds.get(k) for k in keys],
                                    tags=[tags.get(k, []) for k in keys])
        flagger = MeaningFlagger(top_k=lib.sense_top_k, expand_intensifiers=lib.expand_intensifiers,
                                 extra_synonyms=lib.extra_synonyms)
        rows = _driver_variant_rows(results, keys, golds, flagger, recipe=lib.recipe)
        writer.write_chunk(STAGE_DRIVER_VARIANTS, 0, pd.DataFrame(rows, columns=VARIANT_COLUMNS))
        writer.write_chunk(STAGE_FLIPS, 0, pd.DataFrame([r.to_row() for r in results], columns=FLIP_COLUMNS))
        if on_chunk is not None:
            on_chunk(STAGE_FLIPS, 0)
    flips = writer.read_chunks(STAGE_FLIPS)
    flips = empty_flip_rates() if flips.empty else flips[FLIP_COLUMNS].astype(_FLIP_TYPES)
    return writer.read_chunks(STAGE_DRIVER_VARIANTS), flips


def attack_metrics(variants: pd.DataFrame) -> dict[str, Any]:
    """The attack's headline metrics (defined once, in :func:`audit.metrics.attack_metrics`)."""
    from audit.metrics import attack_metrics as metrics

    return metrics(variants)
