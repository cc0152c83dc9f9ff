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

from audit.attack import ReatWordNetAttack
from audit.engine.flips import FLIP_COLUMNS, empty_flip_rates, run_driver_flips  # noqa: F401 (re-exported)
from audit.models.base import AuditModel
from audit.store.schemas import columns

if TYPE_CHECKING:
    from audit.engine.config import NightlyConfig
    from audit.engine.executors import Executor
    from audit.store import RunWriter

log = logging.getLogger(__name__)

STAGE_ATTACK = "attack"

VARIANT_COLUMNS = columns("variants")
_BOOL_COLS = ["flipped", "verified", "constrained", "valid", "declared"]
_INT_COLS = ["variant_id", "example_id", "gold", "pred_before", "pred_after", "queries", "words_changed"]


def empty_variants() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in VARIANT_COLUMNS})
    return df.astype({c: "int64" for c in _INT_COLS} | {c: "bool" for c in _BOOL_COLS})


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

    The per-text attacks and the driver-word flip probes (:mod:`audit.engine.flips`) run chunk by chunk
    on ``executor`` (default: this process)."""
    if not config.attack.enabled:
        log.info("attack stage disabled by the config")
        return empty_variants(), empty_flip_rates()
    variants = run_text_attacks(writer, model, predictions, tokens, config, progress=progress, on_chunk=on_chunk,
                                executor=executor)
    driver_variants, flips = run_driver_flips(writer, model, predictions, token_table, tokens, words, config,
                                              on_chunk=on_chunk, executor=executor, progress=progress)
    frames = [f for f in (variants, driver_variants) if len(f)]
    all_variants = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return normalize_variants(all_variants), flips


def attack_metrics(variants: pd.DataFrame) -> dict[str, Any]:
    """The attack's headline metrics (defined once, in :func:`audit.metrics.attack_metrics`)."""
    from audit.metrics import attack_metrics as metrics

    return metrics(variants)
