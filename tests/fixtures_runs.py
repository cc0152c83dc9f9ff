"""Build small, synthetic but schema-complete runs (all contract tables + manifest).

Used by the store/gate/diff/export/report tests and the dashboard tests::

    from tests.fixtures_runs import make_tables, make_manifest, publish_run
    record = publish_run(RunStore(tmp_path / "runs"), wrong={1, 3})
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from audit.store import RunRecord, RunStore
from audit.store.schemas import DRIVER_STATS, MINIMAL_FIXES, conform, empty_table

LABELS = ("negative", "positive")
XSS = "<img src=x onerror=alert(1)>"

BASE_TEXTS = [
    "a gripping and moving film",
    "the plot is dull and the acting is flat",
    "an utterly charming comedy",
    "a tedious mess from start to finish",
    "it is a clever and funny story",
    "the worst movie of the year",
    "warm , witty and wise",
    "boring characters in a boring town",
]
BASE_GOLD = [1, 0, 1, 0, 1, 0, 1, 0]
DRIVER_WORDS = ["dull", "charming", "boring", "clever", "tedious", "witty", "flat", "mess"]


def make_driver_stats(confirmed: list[str], *, candidates: Iterable[str] = ("the", ".")) -> pd.DataFrame:
    """A ``driver_stats`` table (scope "all"): ``confirmed`` words confirmed in that rank order, then
    ``candidates`` tested but not confirmed."""
    rows = []
    for i, word in enumerate(list(confirmed) + [c for c in candidates if c not in confirmed]):
        ok = i < len(confirmed)
        rows.append({"scope": "all", "kind": "word", "unit": word, "pos": "JJ", "is_stopword": word == "the",
                     "is_punct": word == ".", "n_texts": 40 + i, "n_errors": 12 - i if ok else 6, "n_top_error": 9,
                     "error_rate_with": 0.3, "error_rate_without": 0.1, "lift": 2.5 if ok else 1.0,
                     "p_lift": 1e-4 if ok else 0.6, "q_lift": 1e-3 if ok else 0.8, "contrast_effect": 0.6 if ok else 0.0,
                     "p_contrast": 1e-3 if ok else 0.5, "q_contrast": 0.01 if ok else 0.7, "n_cf": 9, "n_control": 9,
                     "n_fixed": 7 if ok else 1, "fix_rate_remove": 7 / 9 if ok else 1 / 9, "fix_rate_low": 0.45,
                     "fix_rate_high": 0.94, "fix_rate_unk": 0.67 if ok else 0.1, "control_fix_rate": 0.11,
                     "p_fix": 0.008 if ok else 0.6, "q_fix": 0.02 if ok else 0.8, "confirmed": ok,
                     "status": "confirmed" if ok else "candidate", "rank": i + 1})
    return conform(pd.DataFrame(rows), DRIVER_STATS) if rows else empty_table(DRIVER_STATS)


def make_tables(*, wrong: Iterable[int] = (1, 3), texts: list[str] | None = None, dataset: str = "sst2_test",
                drivers: list[str] | None = None, flipped: Iterable[int] = (0, 2), flagged: Iterable[int] = (2,),
                completeness_delta: float = 1e-6, confirmed: list[str] | None = None,
                findings: bool = True) -> dict[str, pd.DataFrame]:
    """Every contract table for one dataset. ``wrong``: example ids the model gets wrong;
    ``flipped``: example ids whose text variant flips; ``flagged``: flips with a meaning flag;
    ``confirmed``: the confirmed drivers of ``driver_stats`` (default: the ``drivers`` words);
    ``findings=False``: a run made before this wave's findings (no driver_stats / minimal_fixes, no
    verified-reason columns in failure_drivers, no validity columns in variants)."""
    texts = list(texts if texts is not None else BASE_TEXTS)
    gold = [BASE_GOLD[i % len(BASE_GOLD)] for i in range(len(texts))]
    wrong, flipped, flagged = set(wrong), set(flipped), set(flagged)
    pred = [1 - g if i in wrong else g for i, g in enumerate(gold)]
    preds, toks, segs, fdrv, fixes = [], [], [], [], []
    for i, (text, g, p) in enumerate(zip(texts, gold, pred)):
        tokens = text.split()
        pp = 0.8 if i % 2 else 0.9
        probs = [1 - pp, pp] if p == 1 else [pp, 1 - pp]
        preds.append({"example_id": i, "dataset": dataset, "line": i + 2, "text": text, "gold": g, "pred": p,
                      "prob_pred": pp, "prob_gold": probs[g], "probs": probs, "correct": g == p,
                      "n_tokens": len(tokens), "completeness_delta": completeness_delta})
        for pos, tok in enumerate(tokens):
            score = ((pos * 7 + i * 3) % 11 - 5) / 5.0
            toks.append({"example_id": i, "dataset": dataset, "position": pos, "token": tok, "pos": "JJ",
                         "upos": "ADJ", "score_pred": score, "score_gold": score if g == p else -score,
                         "oov": False})
        segs.append({"example_id": i, "dataset": dataset, "level": "clause", "start": 0, "end": len(tokens),
                     "text": text, "score_pred": 0.5})
        if i in wrong:
            fdrv.append({"example_id": i, "dataset": dataset, "rank": 1, "kind": "word", "text": tokens[0],
                         "start": 0, "end": 1, "score": 1.25, "fixes_error": True, "delta_prob_gold": 0.6,
                         "verified": True})
            fixes.append({"example_id": i, "dataset": dataset, "positions": [0], "words": [tokens[0]], "size": 1,
                          "prob_gold_after": 0.7, "found": True})
    words = drivers if drivers is not None else DRIVER_WORDS
    driver_words = pd.DataFrame([{"rank": r + 1, "word": w, "pos": "JJ", "n_top_error": 3 - r % 3, "n_in_errors": 4,
                                  "n_occurrences": 9, "mean_score": 1.0 - r * 0.1, "std_score": 0.2,
                                  "train_count_negative": 5, "train_count_positive": 1, "train_label_skew": 0.67}
                                 for r, w in enumerate(words)])
    variants = []
    for i, (text, g, p) in enumerate(zip(texts, gold, pred)):
        if i in wrong:
            continue  # only correctly classified texts are attacked
        tokens = text.split()
        repl = "nice" if tokens[0] != "nice" else "fine"
        new_tokens = [repl] + tokens[1:]
        flip = i in flipped
        flags = ["antonym"] if i in flagged else []
        pa = 1 - p if flip else p
        variants.append({"variant_id": f"{dataset}-{i}-t0", "kind": "text", "example_id": i, "dataset": dataset,
                         "original": text, "variant": " ".join(new_tokens),
                         "swaps": json.dumps([{"position": 0, "original": tokens[0], "replacement": repl, "pos": "DT"}]),
                         "gold": g, "pred_before": p, "probs_before": [0.1, 0.9] if p else [0.9, 0.1],
                         "pred_after": pa, "probs_after": [0.3, 0.7] if pa else [0.7, 0.3], "flipped": flip,
                         "verified": True, "queries": 12, "words_changed": 1, "meaning_flags": flags,
                         "constrained": not flags})
    for v in variants if findings else []:  # validity columns of the strict recipe (issue 12): flagged = invalid
        v.update({"recipe": "strict", "valid": not v["meaning_flags"], "direction": "break", "declared": False,
                  "evidence": json.dumps({"valid": not v["meaning_flags"], "checks": {}})})
    flip_rates = pd.DataFrame([{"word": "dull", "replacement": "boring", "direction": "to", "n_texts": 4,
                                "n_flipped": 1, "rate": 0.25}])
    pos_stats = pd.DataFrame([{"pos": "JJ", "n": 10, "mean": 0.2, "median": 0.1, "q1": -0.1, "q3": 0.4,
                               "lo_whisker": -0.5, "hi_whisker": 0.9}])
    tables = {"predictions": pd.DataFrame(preds), "token_attributions": pd.DataFrame(toks),
              "segments": pd.DataFrame(segs), "failure_drivers": pd.DataFrame(fdrv), "driver_words": driver_words,
              "pos_stats": pos_stats, "variants": pd.DataFrame(variants), "driver_flip_rates": flip_rates,
              "driver_stats": make_driver_stats(list(words) if confirmed is None else confirmed),
              "minimal_fixes": pd.DataFrame(fixes) if fixes else empty_table(MINIMAL_FIXES)}
    if not findings:
        del tables["driver_stats"], tables["minimal_fixes"]
        tables["failure_drivers"] = tables["failure_drivers"].drop(
            columns=["fixes_error", "delta_prob_gold", "verified"], errors="ignore")
    return tables


def metrics_of(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    preds, var = tables["predictions"], tables["variants"]
    n_attacked = max(1, len(var))
    return {"accuracy": float(preds["correct"].mean()), "n_examples": int(len(preds)),
            "n_errors": int((~preds["correct"]).sum()), "n_confirmed_drivers": int(tables["driver_stats"]["confirmed"].sum()) if "driver_stats" in tables else None,
            "attack_success_rate": float(var["flipped"].sum() / n_attacked) if len(var) else 0.0,
            "attack_success_rate_constrained": float((var["flipped"] & var["constrained"]).sum() / n_attacked)
            if len(var) else 0.0,
            "mean_queries": 12.0, "max_completeness_delta": float(preds["completeness_delta"].max())}


def make_manifest(*, model_ref: str = "models/tiny", model_hash: str = "m0d31hash", seed: int = 0) -> dict[str, Any]:
    return {"config": {"seed": seed, "datasets": ["sst2_test"]}, "config_hash": "cfg123", "model_ref": model_ref,
            "model_hash": model_hash, "data": {"sst2_test": "d474sha"}, "code_version": "test", "seed": seed,
            "timings": {}, "labels": list(LABELS)}


def publish_run(store: RunStore, *, run_key: str = "abcdef0123", model_ref: str = "models/tiny",
                gate: dict[str, Any] | None = None, **table_kw: Any) -> RunRecord:
    """Write and publish one synthetic run; returns its record."""
    tables = make_tables(**table_kw)
    writer = store.begin(run_key, make_manifest(model_ref=model_ref))
    for name, df in tables.items():
        writer.write_table(name, df)
    return writer.publish(manifest_updates={"metrics": metrics_of(tables),
                                            "gate": gate or {"passed": True, "breaches": []}})
