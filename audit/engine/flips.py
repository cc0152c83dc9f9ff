"""The driver-word flip probes of the nightly job (the paper's extremely/terribly measurement at scale),
chunk by chunk on the job's executor.

The probes visit the first ``attack.flip_max_texts`` texts of each dataset.  Two chunked stages, each a
list of chunks of ``batch_size`` texts that any executor runs (local, or Ray actors) and the store
resumes:

1. ``flip_candidates``: per chunk, each probed word's synonym candidates found in the chunk's texts
   (:func:`~audit.attack.driver.text_candidates`).  The driver joins them in chunk order into each
   word's synonym list (:func:`~audit.attack.driver.finish_synonyms`) and the probe plan
   (:func:`~audit.attack.driver.flip_plan`): exactly :func:`~audit.attack.driver.driver_synonyms` over
   every probed text.
2. ``flip_probes``: per chunk, every probe of the plan on the chunk's texts
   (:func:`~audit.attack.driver.flip_probes`): its variants (``flip_variants``) and its counts
   (``flip_counts``).  The driver sums the counts by probe and orders the variants by probe, then text:
   the tables :func:`~audit.attack.driver.driver_flip_rates` gives on all the texts at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.attack import MeaningFlagger
from audit.store.schemas import columns

if TYPE_CHECKING:
    from audit.attack import AttackConfig, DriverFlipRate
    from audit.attack.validity import Validator
    from audit.engine.config import NightlyConfig
    from audit.engine.executors import ChunkTask, Executor, WorkSpec
    from audit.models.base import AuditModel
    from audit.store import RunWriter

__all__ = ["FLIP_CANDIDATE_SEED_OFFSET", "FLIP_SEED_OFFSET", "STAGE_FLIP_CANDIDATES", "STAGE_FLIP_COUNTS",
           "STAGE_FLIP_VARIANTS", "candidates_chunk", "empty_flip_rates", "probes_chunk", "run_driver_flips"]

STAGE_FLIP_CANDIDATES = "flip_candidates"
STAGE_FLIP_VARIANTS, STAGE_FLIP_COUNTS = "flip_variants", "flip_counts"
FLIP_CANDIDATE_SEED_OFFSET, FLIP_SEED_OFFSET = 2_000_001, 2_000_003
_COUNTS = ["key", "word", "replacement", "direction", "declared", "n_texts", "n_flipped", "n_breaks", "n_fixes",
           "n_texts_raw", "n_flipped_raw"]
_SUMMED = ["n_texts", "n_flipped", "n_breaks", "n_fixes", "n_texts_raw", "n_flipped_raw"]
_ORDER = ["_key", "_text"]  # helper columns of the variant chunks: probe key, text index among the probed texts
VARIANT_COLUMNS = columns("variants")
FLIP_COLUMNS = columns("driver_flip_rates")
_FLIP_TYPES = {"n_texts": "int64", "n_flipped": "int64", "rate": "float64", "declared": "bool", "n_breaks": "int64",
               "n_fixes": "int64", "n_texts_raw": "int64", "n_flipped_raw": "int64"}


def empty_flip_rates() -> pd.DataFrame:
    """An empty ``driver_flip_rates`` table with its columns and types."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FLIP_COLUMNS}).astype(_FLIP_TYPES)


# ----------------------------------------------------------------------------- worker side
def candidates_chunk(model: AuditModel, config: AttackConfig, words: Sequence[str],
                     items: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Stage 1 of one chunk: ``word, candidate`` rows, per word in the order found in these texts
    (``items``: ``[dataset, example_id, text_index, tokens, tags, gold]``), each candidate once."""
    from audit.attack.driver import synonym_swap, text_candidates

    swap = synonym_swap(model, config)
    rows = []
    for w in words:
        found: list[str] = []
        for item in items:
            found += text_candidates(swap, item[3], w)
        rows += [(w, c) for c in dict.fromkeys(found)]
    return pd.DataFrame(rows, columns=["word", "candidate"])


def probes_chunk(model: AuditModel, config: AttackConfig, plan: Sequence[Sequence[Any]],
                 items: Sequence[Sequence[Any]], *, validator: Validator, flagger: MeaningFlagger
                 ) -> dict[str, pd.DataFrame]:
    """Stage 2 of one chunk: every probe of ``plan`` on these texts -> ``flip_variants`` (one row per
    distinct variant, with its probe key and text index) and ``flip_counts`` (one row per probe with a
    text here).  ``validator``: the strict checks; ``flagger``: the loose recipe's meaning flags."""
    from audit.attack.driver import flip_probes

    texts = [list(item[3]) for item in items]
    results = flip_probes(model, texts, [(str(w), str(s), bool(d)) for w, s, d in plan], config=config,
                          golds=[None if item[5] is None else int(item[5]) for item in items],
                          tags=[list(item[4]) for item in items], validator=validator)
    keys = [(str(item[0]), int(item[1])) for item in items]
    variants = _variant_rows(results, keys, [int(item[2]) for item in items], flagger, recipe=config.recipe)
    counts = pd.DataFrame([{"key": r.key, **{c: v for c, v in r.to_row().items() if c in _COUNTS}} for r in results],
                          columns=_COUNTS)
    return {STAGE_FLIP_VARIANTS: pd.DataFrame(variants, columns=VARIANT_COLUMNS + _ORDER), STAGE_FLIP_COUNTS: counts}


def _variant_rows(results: list[DriverFlipRate], keys: list[tuple[str, int]], text_index: list[int],
                  flagger: MeaningFlagger, *, recipe: str) -> list[dict[str, Any]]:
    """One row per distinct driver variant of these texts (the same variant of a text reached twice is kept
    once: the first, in probe order)."""
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
                "swaps": json.dumps(v.swaps, ensure_ascii=False, sort_keys=True),
                "gold": -1 if v.gold is None else int(v.gold),
                "pred_before": int(v.pred_before), "probs_before": list(v.probs_before),
                "pred_after": int(v.pred_after), "probs_after": list(v.probs_after), "flipped": bool(v.flipped),
                "verified": True, "queries": 1, "words_changed": sum(a != b for a, b in zip(v.original, v.variant)),
                "meaning_flags": sorted(flags), "constrained": not flags, "recipe": recipe, "valid": v.valid,
                "direction": v.probe, "declared": bool(v.declared),
                "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True),
                "_key": rate.key, "_text": text_index[v.text_index],
            })
    return rows


# ----------------------------------------------------------------------------- driver side
def _spec(kind: str, stages: tuple[str, ...], config: NightlyConfig, offset: int, **options: Any) -> WorkSpec:
    from audit.engine.executors import WorkSpec

    return WorkSpec(kind=kind, threads=config.threads, seed=config.seed + offset, stages=stages,
                    options={"attack": config.attack.library_config().model_dump(mode="json"), **options})


def _tasks(items: list[list[Any]], size: int) -> Iterator[ChunkTask]:
    from audit.engine.executors import ChunkTask

    for i, start in enumerate(range(0, len(items), size)):
        chunk = items[start:start + size]
        yield ChunkTask(index=i, payload={"items": chunk}, n_texts=len(chunk))


def run_driver_flips(
    writer: RunWriter, model: AuditModel, predictions: pd.DataFrame, token_table: pd.DataFrame,
    tokens: Mapping[str, Sequence[Sequence[str]]], words: pd.DataFrame, config: NightlyConfig, *,
    on_chunk: Callable[[str, int], None] | None, executor: Executor | None = None, progress: bool | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(driver variants, driver_flip_rates)``: the flip probes of the top driver words and the declared
    ``attack.flip_words``, in two chunked stages on ``executor`` (see the module docstring)."""
    from audit.attack.driver import finish_synonyms, flip_plan, synonym_swap
    from audit.engine.executors import LocalExecutor

    top = words.sort_values("rank")["word"].head(config.attack.flip_top_words).astype(str).tolist() if len(words) else []
    top = list(dict.fromkeys(top + [w.lower() for w in config.attack.flip_words]))
    if not top:
        return pd.DataFrame(), empty_flip_rates()
    executor = executor or LocalExecutor(model=model)
    lib = config.attack.library_config()
    names = list(dict.fromkeys(predictions["dataset"].astype(str)))
    cap = config.attack.flip_max_texts
    keys = [(name, ex) for name in names for ex in range(len(tokens[name]) if cap is None
                                                          else min(len(tokens[name]), cap))]
    golds = {(str(d), int(e)): int(g) for d, e, g in zip(predictions["dataset"], predictions["example_id"],
                                                          predictions["gold"], strict=True)}
    tags = {(str(d), int(e)): list(g["pos"]) for (d, e), g in token_table.groupby(["dataset", "example_id"], sort=False)}
    items = [[ds, ex, i, list(tokens[ds][ex]), tags.get((ds, ex), []), golds.get((ds, ex))]
             for i, (ds, ex) in enumerate(keys)]
    spec = _spec("flip_candidates", (STAGE_FLIP_CANDIDATES,), config, FLIP_CANDIDATE_SEED_OFFSET, words=top)
    executor.run_chunks(writer, spec=spec, tasks=_tasks(items, config.batch_size), total=len(items),
                        desc="flip candidates", progress=progress, on_chunk=on_chunk)
    found = writer.read_chunks(STAGE_FLIP_CANDIDATES)
    swap = synonym_swap(model, lib)
    synonyms = [finish_synonyms(model, swap, w, found.loc[found["word"] == w, "candidate"].astype(str).tolist()
                                if len(found) else [], config=lib) for w in top]
    plan = flip_plan(model, top, synonyms, config=lib)
    spec = _spec("flip_probes", (STAGE_FLIP_VARIANTS, STAGE_FLIP_COUNTS), config, FLIP_SEED_OFFSET,
                 plan=[list(p) for p in plan])
    executor.run_chunks(writer, spec=spec, tasks=_tasks(items, config.batch_size), total=len(items),
                        desc="flip probes", progress=progress, on_chunk=on_chunk)
    return _variants_of_chunks(writer), _rates_of_chunks(writer)


def _variants_of_chunks(writer: RunWriter) -> pd.DataFrame:
    variants = writer.read_chunks(STAGE_FLIP_VARIANTS)
    if variants.empty:
        return pd.DataFrame()
    variants = variants.sort_values(_ORDER, kind="mergesort").drop(columns=_ORDER).reset_index(drop=True)
    return variants


def _rates_of_chunks(writer: RunWriter) -> pd.DataFrame:
    counts = writer.read_chunks(STAGE_FLIP_COUNTS)
    if counts.empty:
        return empty_flip_rates()
    first = counts.drop_duplicates("key").set_index("key")[["word", "replacement", "direction", "declared"]]
    summed = counts.groupby("key")[_SUMMED].sum()
    rates = first.join(summed).sort_index().reset_index(drop=True)
    n = rates["n_texts"].to_numpy()
    rates["rate"] = [f / t if t else 0.0 for f, t in zip(rates["n_flipped"], n, strict=True)]
    return rates[FLIP_COLUMNS].astype(_FLIP_TYPES)
