"""Attack quality: our REAT-guided WordNet attack vs TextAttack's PWWS, side by side.

Same model (the trained SST-2 LSTM), same sentences (the first ``--n``
correctly classified SST-2 test sentences), same candidate set (our
in-vocabulary WordNet swaps with our stopword/entity/POS constraints) for
both methods.  Two settings: no cap on words changed, and our default cap
(``AttackConfig()``: 4 words / 25 %).  Reports success rate (verified flips),
success without meaning flags, mean model queries per attacked text, and the
share of words changed in successful variants.

TextAttack lives in a separate, gitignored venv (its import pulls in flair, OpenHowNet,
transformers... which PWWS never uses).  Setup used (about 25 minutes on the 2-core box):

    python3 -m venv .bench-venv
    .bench-venv/bin/pip install torch==2.13.0          # the cached CPU build
    .bench-venv/bin/pip install textattack --no-deps
    # then the modules `import textattack` actually needs, one import error at a time, with two pins:
    #   transformers==4.57.6 (flair 0.15 imports LayoutLMv2FeatureExtractor, gone in transformers 5)
    #   "huggingface-hub>=0.34,<1.0" "datasets>=2.4,<4" (transformers 4.57 refuses hub 2.x)
    # and audit's own needs: pydantic pyyaml safetensors (audit is imported through PYTHONPATH=.)

Run:

    PYTHONPATH=. AUDIT_DATA_DIR=... NLTK_DATA=... .bench-venv/bin/python benchmarks/attack_quality.py \
        --model artifacts/models/lstm --n 100

``--peer none`` runs only our attack (in the main venv).  ``--peer-cache DIR``
keeps PWWS's records in ``DIR/pwws-<key>.json``, the key hashing the model
files, the chosen sentences and the candidate settings, so a rerun after a
change to our search does not rerun TextAttack.  ``--offset K`` attacks the
correctly classified sentences ``K .. K+n-1`` (the search was tuned on
``--offset 100 --n 200``; the report uses ``--offset 0``).  ``--baseline`` adds rows for
the same search with the embedding-gradient estimate, the previous default search,
and the plain REAT greedy (no estimate, all candidates of a position at once, no
minimum gain); ``--senses K`` adds both methods with candidates from the top-K
WordNet senses; ``--estimators`` adds a table of how well each estimate orders the
real swaps.  The report was made with

    ... benchmarks/attack_quality.py --n 100 --baseline --senses 3 --estimators --peer-cache /tmp/reat_tune/pwws_cache --note ...

Writes
``reports/benchmarks/attack.{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from audit.attack import AttackConfig, MeaningFlagger, ReatWordNetAttack
from audit.attack.constraints import EntityConstraint, PosMatchConstraint, StopwordConstraint, SwapContext, apply_filters
from audit.attack.transformation import WordNetSwap
from audit.models.base import AuditModel
from audit.models.io import load_model_ref
from audit.settings import data_dir

ANCHOR = "published anchor: PWWS 93% at 128 queries/text; plain REAT greedy 92% at 52 queries (similar setup)"


def load_sst2_test(path: Path) -> list[tuple[list[str], int]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        label, text = line.split("\t", 1)
        rows.append((text.split(), int(label)))
    return rows


def select_correct(model: AuditModel, rows: list[tuple[list[str], int]], n: int) -> list[tuple[int, list[str], int]]:
    chosen = []
    for i in range(0, len(rows), 256):
        chunk = rows[i : i + 256]
        preds = model.predict_proba_tokens([t for t, _ in chunk]).argmax(-1).tolist()
        for j, ((toks, gold), pred) in enumerate(zip(chunk, preds)):
            if pred == gold and len(chosen) < n:
                chosen.append((i + j, toks, gold))
    return chosen


def summarize(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    n = len(records)
    ok = [r for r in records if r["succeeded"]]
    return {
        "n_attacked": n,
        "success_rate": len(ok) / n if n else 0.0,
        "success_rate_constrained": sum(1 for r in ok if not r["meaning_flags"]) / n if n else 0.0,
        "mean_queries": sum(r["queries"] for r in records) / n if n else 0.0,
        "mean_rank_queries": sum(r.get("rank_queries", 0) for r in records) / n if n else 0.0,
        "mean_estimated": sum(r.get("estimated", 0) for r in records) / n if n else 0.0,
        # compute in forward passes of one text, an upper bound: a rank query as 3 (forward + backward),
        # an estimated candidate as 1/T (one cell step per direction of a T-step forward)
        "mean_forward_equivalents": sum(r["queries"] + 2 * r.get("rank_queries", 0) + r.get("estimated", 0) / r["n_tokens"]
                                        for r in records) / n if n else 0.0,
        "mean_queries_successful": sum(r["queries"] for r in ok) / len(ok) if ok else None,
        "words_changed_share": sum(r["words_changed"] / r["n_tokens"] for r in ok) / len(ok) if ok else None,
        "mean_words_changed": sum(r["words_changed"] for r in ok) / len(ok) if ok else None,
        "seconds": round(seconds, 1),
    }


def run_ours(model: AuditModel, chosen: list[tuple[int, list[str], int]], config: AttackConfig) -> tuple[list[dict[str, Any]], float]:
    attack = ReatWordNetAttack(config)
    t0 = time.perf_counter()
    out = []
    for idx, toks, gold in chosen:
        r = attack.attack(model, toks, gold=gold)
        out.append({"index": idx, "succeeded": r.status == "succeeded", "queries": r.queries, "rank_queries": r.rank_queries,
                    "estimated": r.extra.get("estimated", 0),
                    "words_changed": r.words_changed, "n_tokens": len(toks), "meaning_flags": r.meaning_flags,
                    "variant": " ".join(r.variant)})
    return out, time.perf_counter() - t0


def _flags(flagger: MeaningFlagger, tags: list[str], original: list[str], variant: list[str]) -> list[str]:
    return sorted({f for i, (a, b) in enumerate(zip(original, variant)) if a != b for f in flagger.flags(a, b, tags[i])})


def run_pwws(model: AuditModel, chosen: list[tuple[int, list[str], int]], config: AttackConfig, *, capped: bool) -> tuple[list[dict[str, Any]], float]:
    from benchmarks import _textattack_peer as peer  # only inside the bench venv
    from audit.attack import _nlp

    swap = WordNetSwap(vocab=model.vocab, max_candidates=config.max_candidates, max_sense_rank=config.candidate_senses)
    filters = [StopwordConstraint(), EntityConstraint(), PosMatchConstraint()]
    flagger = MeaningFlagger(top_k=config.sense_top_k)
    t0 = time.perf_counter()
    out = []
    for idx, toks, gold in chosen:
        cap = None
        if capped:
            caps = [len(toks)] + ([config.max_words_changed] if config.max_words_changed else [])
            if config.max_fraction:
                caps.append(max(1, math.floor(config.max_fraction * len(toks))))
            cap = min(caps)
        attack = peer.build_pwws(model, swap, filters, max_words=cap, max_percent=None)
        res = peer.run_pwws(attack, " ".join(toks), gold)
        variant = res["variant"]
        verified = False
        if res["succeeded"] and len(variant) == len(toks):
            verified = int(model.predict_proba_tokens([variant]).argmax(-1)) != gold
        changed = sum(1 for a, b in zip(toks, variant) if a != b) if len(variant) == len(toks) else len(toks)
        out.append({"index": idx, "succeeded": bool(res["succeeded"] and verified), "queries": res["queries"],
                    "words_changed": changed, "n_tokens": len(toks),
                    "meaning_flags": _flags(flagger, _nlp.tag(toks), toks, variant) if len(variant) == len(toks) else [],
                    "variant": " ".join(variant)})
    return out, time.perf_counter() - t0


def estimator_quality(model: AuditModel, chosen: list[tuple[int, list[str], int]]) -> list[dict[str, Any]]:
    """Spearman correlation and best-swap hit rate of each estimate against the true change of log p."""
    from audit.attack import _nlp, gradient_estimator
    from audit.attack.estimate import reat_estimator

    swap = WordNetSwap(vocab=model.vocab, max_candidates=AttackConfig().max_candidates)
    filters = [StopwordConstraint(), EntityConstraint(), PosMatchConstraint()]
    estimators = (("REAT view: exact swapped cell + state gradient (ours)", reat_estimator, 1),
                  ("embedding gradient", gradient_estimator, 1))
    stats: dict[str, list[tuple[float, bool]]] = {name: [] for name, _, _ in estimators}
    for _, toks, _ in chosen:
        tags = _nlp.tag(toks)
        pairs = []
        for i in range(len(toks)):
            ctx = SwapContext(tokens=tuple(toks), tags=tuple(tags), position=i, original=tuple(toks), modified=frozenset())
            if all(f.allows_position(ctx) for f in filters):
                pairs += [(i, c) for c in apply_filters(ctx, swap.candidates(toks, tags, i), filters)]
        if len(pairs) < 3:
            continue
        probs = model.predict_proba_tokens([toks])[0]
        pred = int(probs.argmax())
        texts = [toks[:i] + [c] + toks[i + 1 :] for i, c in pairs]
        true = (torch.log(model.predict_proba_tokens(texts)[:, pred]) - torch.log(probs[pred])).numpy()
        for name, estimator, _ in estimators:
            est = estimator(model, toks, pred)(pairs)
            ra, rb = est.argsort().argsort(), true.argsort().argsort()
            rho = float(((ra - ra.mean()) * (rb - rb.mean())).sum() / (ra.std() * rb.std() * len(ra)))
            stats[name].append((rho, int(est.argmin()) == int(true.argmin())))
    return [{"name": name, "passes": passes, "n": len(stats[name]),
             "spearman": sum(r for r, _ in stats[name]) / max(1, len(stats[name])),
             "top1": sum(t for _, t in stats[name]) / max(1, len(stats[name]))} for name, _, passes in estimators]


def peer_key(model_ref: str, chosen: list[tuple[int, list[str], int]], config: AttackConfig, peer: str) -> str:
    """Cache key for PWWS records: model files, sentences, candidate/cap settings, peer version."""
    h = hashlib.sha256()
    folder = Path(model_ref)
    for f in sorted(folder.glob("*")) if folder.is_dir() else []:
        if f.suffix in (".safetensors", ".json") and f.name not in ("benchmark.json", "metrics.json"):
            h.update(f.name.encode() + f.read_bytes())
    settings = {k: getattr(config, k) for k in ("max_words_changed", "max_fraction", "max_candidates", "candidate_senses", "sense_top_k")}
    h.update(json.dumps([peer, settings, [(i, t, g) for i, t, g in chosen]], sort_keys=True).encode())
    return h.hexdigest()[:16]


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    """One line per cap setting: our success/queries against PWWS's, and whether the goal is met."""
    out = []
    for cap in dict.fromkeys(r["cap"] for r in results):
        ours = next((r["summary"] for r in results if r["cap"] == cap and "ours" in r["method"]), None)
        peer = next((r["summary"] for r in results if r["cap"] == cap and "PWWS" in r["method"]), None)
        if ours is None or peer is None or not peer["mean_queries"]:
            continue
        ratio = ours["mean_queries"] / peer["mean_queries"]
        met = ours["success_rate"] >= peer["success_rate"] and ratio <= 1 / 3
        out.append(f"cap {cap}: ours {100 * ours['success_rate']:.0f}% vs PWWS {100 * peer['success_rate']:.0f}% success, "
                   f"at {ratio:.2f}x PWWS's queries: goal {'met' if met else 'NOT met'}")
    return out


def write_report(out_dir: Path, payload: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "attack.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    lines = [
        "# Attack quality: REAT-guided WordNet attack vs PWWS",
        "",
        f"Model `{payload['model']}` (model.safetensors sha256 {payload.get('model_sha256', '?')}...), {payload['n']} correctly classified SST-2 test sentences "
        f"({'first' if not payload.get('offset') else 'from #' + str(payload['offset'])} in file order), same in-vocabulary WordNet candidate set and stopword/entity/POS constraints for both.",
        f"Peer: {payload['peer']}. Machine: {payload['machine']}.",
        "",
        "| method | cap on words changed | success | success, no meaning flag | queries/text | of which ranking passes | queries/success | candidates only estimated/text | forward-pass equivalents/text | words changed (share) | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in payload["results"]:
        s = row["summary"]
        share = "-" if s["words_changed_share"] is None else f"{100 * s['words_changed_share']:.1f}%"
        qs = "-" if s["mean_queries_successful"] is None else f"{s['mean_queries_successful']:.1f}"
        ours = "PWWS" not in row["method"]
        rank = f"{s['mean_rank_queries']:.1f}" if ours and "mean_rank_queries" in s else "-"
        est = f"{s['mean_estimated']:.1f}" if ours and "mean_estimated" in s else "-"
        fwd = f"{s['mean_forward_equivalents']:.1f}" if "mean_forward_equivalents" in s else "-"
        lines.append(f"| {row['method']} | {row['cap']} | {100 * s['success_rate']:.1f}% | {100 * s['success_rate_constrained']:.1f}% "
                     f"| {s['mean_queries']:.1f} | {rank} | {qs} | {est} | {fwd} | {share} | {s['seconds']} |")
    lines += ["", ANCHOR + ".", "Goal: at least PWWS's success at <= 1/3 of its queries.", ""]
    lines += [f"- {v}" for v in verdicts(payload["results"])]
    lines += [f"- {note}" for note in payload.get("notes", [])]
    if payload.get("estimators"):
        lines += ["", "## How well the guide's estimates order real swaps", "",
                  "Every in-vocabulary candidate swap of each sentence, sent to the model once to get the true change of "
                  "log p(predicted class); mean per-sentence Spearman correlation with the estimate, and how often the "
                  "estimate's best swap is the truly best one.", "",
                  "| estimate | passes per round | Spearman (mean) | best swap found | sentences |", "| --- | --- | --- | --- | --- |"]
        for row in payload["estimators"]:
            lines.append(f"| {row['name']} | {row['passes']} | {row['spearman']:.3f} | {100 * row['top1']:.0f}% | {row['n']} |")
    (out_dir / "attack.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="artifacts/models/lstm")
    ap.add_argument("--data", default=None, help="SST-2 test TSV (default: $AUDIT_DATA_DIR/sst2/test.tsv)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--peer", choices=["textattack", "none"], default="textattack")
    ap.add_argument("--out", default="reports/benchmarks")
    ap.add_argument("--offset", type=int, default=0, help="skip this many correctly classified sentences (tuning: 100)")
    ap.add_argument("--peer-cache", default=None, help="directory caching PWWS records (keyed by model, sentences, settings)")
    ap.add_argument("--baseline", action="store_true", help="also run the previous search (all candidates at once, no min gain)")
    ap.add_argument("--senses", type=int, default=None, help="also run both methods with candidates from the top-K WordNet senses")
    ap.add_argument("--estimators", action="store_true", help="also measure how well each estimate orders real swaps")
    ap.add_argument("--note", action="append", default=[], help="a line added to the report's notes (repeatable)")
    ap.add_argument("--render-only", action="store_true", help="rewrite attack.md from an existing attack.json")
    args = ap.parse_args(argv)
    if args.render_only:
        write_report(Path(args.out), json.loads((Path(args.out) / "attack.json").read_text(encoding="utf-8")))
        return 0
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = load_model_ref(args.model)
    rows = load_sst2_test(Path(args.data) if args.data else data_dir() / "sst2" / "test.tsv")
    chosen = select_correct(model, rows, args.offset + args.n)[args.offset :]
    default = AttackConfig()
    no_caps = dict(max_words_changed=None, max_fraction=None, query_budget=None)
    caps = (("none", False), ("default (4 words / 25%)", True))
    plain = dict(min_gain=0.0, batch_size=None, patience=None, window=1, estimator="none", max_estimate=None, group_sends=None)
    previous = dict(estimator="gradient", window=3, max_estimate=None, group_sends=None)
    runs = [("REAT greedy (ours)", {})]
    if args.senses:
        runs.append((f"REAT greedy (ours), top-{args.senses} senses", {"candidate_senses": args.senses}))
    if args.baseline:
        runs.append(("REAT greedy, embedding-gradient estimate instead", {"estimator": "gradient"}))
        runs.append(("REAT greedy, previous default (stop 7)", previous))
        runs.append(("plain REAT greedy (no estimate, all candidates)", plain))
    results = []
    for method, extra in runs:
        for cap, capped in caps:
            cfg = AttackConfig(**extra) if capped else AttackConfig(**extra, **no_caps)
            recs, secs = run_ours(model, chosen, cfg)
            results.append({"method": method, "cap": cap, "summary": summarize(recs, secs), "records": recs})
            print(f"{method} cap={cap}: {results[-1]['summary']}", file=sys.stderr)
    notes = [f"our query budget: none when uncapped, {default.query_budget} with the default config",
             "queries: ours = initial prediction + REAT passes + candidate texts; PWWS = TextAttack's count of unique texts"]
    peer = "none"
    if args.peer == "textattack":
        from importlib.metadata import version

        peer = f"TextAttack {version('textattack')} PWWS (GreedyWordSwapWIR weighted-saliency)"
        peer_runs = [("PWWS (TextAttack)", default)]
        if args.senses:
            peer_runs.append((f"PWWS (TextAttack), top-{args.senses} senses", AttackConfig(candidate_senses=args.senses)))
        for method, cfg in peer_runs:
            cache = Path(args.peer_cache) / f"pwws-{peer_key(args.model, chosen, cfg, peer)}.json" if args.peer_cache else None
            cached = json.loads(cache.read_text(encoding="utf-8")) if cache is not None and cache.is_file() else {}
            for cap, capped in caps:
                if cap in cached:
                    recs, secs = cached[cap]["records"], cached[cap]["seconds"]
                else:
                    recs, secs = run_pwws(model, chosen, cfg, capped=capped)
                    cached[cap] = {"records": recs, "seconds": secs}
                    if cache is not None:
                        cache.parent.mkdir(parents=True, exist_ok=True)
                        cache.write_text(json.dumps(cached), encoding="utf-8")
                results.append({"method": method, "cap": cap, "summary": summarize(recs, secs), "records": recs})
                print(f"{method} cap={cap}: {results[-1]['summary']}", file=sys.stderr)
    notes.append(f"ours: AttackConfig defaults estimator={default.estimator}, window={default.window}, "
                 f"max_estimate={default.max_estimate}, group_sends={default.group_sends}, min_gain={default.min_gain}, "
                 f"batch_size={default.batch_size}, patience={default.patience}, candidate_senses={default.candidate_senses}; "
                 "the uncapped run drops only the caps and the budget")
    notes.append("ranking passes: one REAT view per round for ours (a forward and a backward pass over the current text, "
                 "giving the REAT ranking and the swap estimates), two per round with the embedding-gradient estimate; "
                 "each is counted as one query. Candidates only estimated are not queries: each costs one cell step "
                 "per direction (about 1/T of a forward pass) and is listed apart. 'forward-pass equivalents' is an upper "
                 "bound on compute: queries + 2 x ranking passes (a backward counted as two forwards) + estimated / T; "
                 "for PWWS it equals its queries")
    notes.append("these search settings were tuned on correctly classified sentences 100-299 (`--offset 100 --n 200`), "
                 "not on the reported sentences" if args.offset == 0 else f"offset {args.offset}: a tuning run, not the report")
    notes += args.note
    weights = Path(args.model) / "model.safetensors"
    fingerprint = hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights.is_file() else "?"
    estimators = estimator_quality(model, chosen) if args.estimators else []
    payload = {"estimators": estimators, "model": args.model, "model_sha256": fingerprint, "n": len(chosen), "offset": args.offset, "peer": peer, "results": results, "notes": notes,
               "machine": f"{platform.machine()} CPU, torch {torch.__version__}, 1 thread"}
    write_report(Path(args.out), payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
