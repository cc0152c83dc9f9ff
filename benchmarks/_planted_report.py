"""Report stage of ``planted_shortcuts.py``: aggregate the per-run figures into planted.json / planted.md."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["aggregate", "write_report"]

GROUPS = {"st": ("st2", "st5", "st10"), "tic": ("tic10",), "op": ("op10",), "tic+op": ("tic10", "op10")}
#: issue 11: #1 in >= 90% of the single-token runs, and in >= 50% of the context and ordered-pair runs (pooled)
GOALS = {"st": 0.9, "tic+op": 0.5}
#: a run "learned" its shortcut when its model follows the shortcut on the conflict texts at least this much
#: more often than the clean model of the same architecture and seed (the protocol's verification step)
LEARNED_MARGIN = 0.2


def learned(r: dict[str, Any]) -> bool | None:
    c = r.get("shortcut") or {}
    a, b = c.get("planted_model_follows_shortcut"), c.get("clean_model_follows_shortcut")
    return None if a is None or b is None else a - b >= LEARNED_MARGIN
METHOD_NAMES = {"reat": "REAT", "integrated_gradients": "IG-20", "grad_input": "GradInput", "lime": "LIME-100"}


def _mean(xs: Iterable[Any]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    ranks = [r["planted_rank"] for r in rows]
    pl = [r["planted"] or {} for r in rows]
    learned_rows = [r for r in rows if learned(r)]
    return {
        "runs": n,
        "runs_learned": len(learned_rows),
        "recall_at_1_learned": (sum(1 for r in learned_rows if r["planted_rank"] == 1) / len(learned_rows)
                                if learned_rows else None),
        "recall_at_5_learned": (sum(1 for r in learned_rows if r["planted_rank"] is not None
                                    and r["planted_rank"] <= 5) / len(learned_rows) if learned_rows else None),
        "recall_at_1": sum(1 for x in ranks if x == 1) / n if n else None,
        "recall_at_5": sum(1 for x in ranks if x is not None and x <= 5) / n if n else None,
        "confirmed_any_rank": sum(1 for x in ranks if x is not None) / n if n else None,
        "mean_rank_when_confirmed": _mean(x for x in ranks if x is not None),
        "planted_fix_rate": _mean(p.get("fix_rate_remove") for p in pl),
        "planted_fix_rate_unk": _mean(p.get("fix_rate_unk") for p in pl),
        "planted_control_fix_rate": _mean(p.get("control_fix_rate") for p in pl),
        "planted_n_cf": _mean(p.get("n_cf") for p in pl),
        "precision_at_k": _mean(r.get("precision_at_k") for r in rows),
        "random_precision": _mean(r.get("random_precision") for r in rows),
        "reason_precision": _mean(r.get("reason_precision") for r in rows),
        "reason_fix_precision": _mean(r.get("reason_fix_precision") for r in rows),
        "reason_hit": _mean(r.get("reason_hit") for r in rows),
        "n_planted_errors": _mean(r.get("n_planted_errors") for r in rows),
        "n_confirmed": _mean(r["n_confirmed"] for r in rows),
        "n_confirmed_other": _mean(r["n_confirmed_other"] for r in rows),
        "attribution_cpu_s": _mean(r.get("attribution_cpu_s") for r in rows),
        "findings_cpu_s": _mean(r.get("findings_cpu_s") for r in rows),
    }


def aggregate(results: list[dict[str, Any]]) -> dict[str, Any]:
    methods = list(dict.fromkeys(r["method"] for r in results))
    out: dict[str, Any] = {"by_method": {}, "clean": {}, "goals": {}}
    for m in methods:
        rows = [r for r in results if r["method"] == m]
        per: dict[str, Any] = {}
        for g, plants in GROUPS.items():
            per[g] = _summary([r for r in rows if r["plant"] in plants])
            for p in plants:
                per[p] = _summary([r for r in rows if r["plant"] == p])
                for a in sorted({r["arch"] for r in rows}):
                    per[f"{p}/{a}"] = _summary([r for r in rows if r["plant"] == p and r["arch"] == a])
        per["all_planted"] = _summary([r for r in rows if r["kind"] != "clean"])
        out["by_method"][m] = per
        clean = [r for r in rows if r["kind"] == "clean"]
        ps = [c for r in clean for c in r["confirmed_punct_stop"]]
        out["clean"][m] = {
            "runs": len(clean), "n_confirmed_total": sum(r["n_confirmed"] for r in clean),
            "n_confirmed_per_run": _mean(r["n_confirmed"] for r in clean),
            "n_punct_or_stop_confirmed": len(ps),
            "punct_or_stop_confirmed": [{"run": r["run"], **c} for r in clean for c in r["confirmed_punct_stop"]],
            "confirmed": [{"run": r["run"], **c} for r in clean for c in r["confirmed"]],
            "all_punct_stop_earned": all((c.get("q_fix") is not None and c["q_fix"] <= 0.05
                                          and (c.get("fix_rate_remove") or 0) > (c.get("control_fix_rate") or 0))
                                         for c in ps),
        }
        goals = {}
        for g, need in GOALS.items():
            got = per[g]["recall_at_1"]
            goals[g] = {"need": need, "recall_at_1": got, "runs": per[g]["runs"],
                        "met": got is not None and per[g]["runs"] > 0 and got >= need,
                        "runs_learned": per[g]["runs_learned"], "recall_at_1_learned": per[g]["recall_at_1_learned"]}
        out["goals"][m] = goals
    return out


def _f(x: Any, pct: bool = False, nd: int = 2) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.0f}%" if pct else f"{x:.{nd}f}"


def _md(meta: dict[str, Any], training: list[dict[str, Any]], agg: dict[str, Any],
        checks: dict[str, dict[str, Any]], runs: list[dict[str, Any]]) -> str:
    methods = list(agg["by_method"])
    lines = ["# Planted shortcuts: do the driver statistics find them?", "",
             "Protocol of Bastings et al. 2022 (rules: `benchmarks/planted_shortcuts.py` docstring and",
             "`benchmarks/_planting.py`). Tokens `zeroa`/`onea`; st = `zeroa` in p% of negative training texts;",
             "tic = `onea zeroa` -> negative (10% of texts, singles 5% each, no effect); op = order of",
             ("`zeroa ... onea` sets the label (10%, singles 5% each). Audit set: "
             f"{meta['max_texts']} SST-2 test texts (gold kept), construction in 20% of them, always against gold "
             "(st, tic: positive texts; op: the order opposite to gold); tic/op: singles in another 5% each."),
             (f"Models trained {meta['epochs']} epochs (the best epoch on the clean dev set is kept), one torch "
              "thread; seeds per architecture: " + "; ".join(
                  f"{a} {', '.join(str(x) for x in sorted({t['seed'] for t in training if t['arch'] == a}))}"
                  for a in sorted({t["arch"] for t in training})) + "."),
             ("Findings: `audit.findings.analyze` with its default config "
             f"({json.dumps(meta['findings_config'])})."),
             "", (f"Machine: 2-core dev box, shared with other jobs (load average at the end "
             f"{', '.join(f'{x:.1f}' for x in meta['load_avg_end'])}), 1 torch thread; CPU seconds are "
             "process CPU time and inflate under load."), ""]
    n_runs = {m: len({r["run"] for r in runs if r["method"] == m}) for m in methods}
    reat_rows = [r for r in runs if r["method"] == methods[0] and r["kind"] != "clean"] if methods else []
    learned_by = {k: (sum(1 for r in reat_rows if r["kind"] == k and learned(r)),
                      sum(1 for r in reat_rows if r["kind"] == k)) for k in ("st", "tic", "op")}
    no_op = learned_by["op"][0] == 0 and learned_by["op"][1] > 0
    lines += ["## Caveats", "",
              ("- Runs per method (planted and clean): " + ", ".join(
                  f"{METHOD_NAMES.get(m, m)} {n}" for m, n in n_runs.items()) + "."),
              ("- Did the model learn its shortcut (the protocol's verification step; shortcut check below)? "
               + ", ".join(f"{k}: {a} of {b} runs" for k, (a, b) in learned_by.items())
               + ". Recall among the runs that learned it is given in brackets."
               + (" No op model learned its ordered-pair shortcut (it follows the order no more often than the "
                  "clean model), so no method can find it there: those runs count against the pooled goal as "
                  "misses." if no_op else "")),
              (f"- {meta['max_texts']} audit texts per run ({meta['max_texts'] // 5} planted): the counterfactual "
              f"test only sees the errors where the method ranks the planted token in its top "
              f"{meta['findings_config'].get('top_k', 3)}, so a method whose ranking misses the token also loses "
              "the power to confirm it."),
              ""]
    lines += ["## Goals", "", ("Planted unit is the #1 confirmed driver in (all runs; in brackets: among the runs whose "
              f"model learned the shortcut, i.e. follows it on the conflict texts >= {100 * LEARNED_MARGIN:.0f} points "
              "more often than the clean model of the same arch and seed):"), "",
              ("| method | single token (st): >= 90% of runs | context + ordered pair (tic, op pooled): >= 50% | "
               "of which tic | of which op |"), "|---|---|---|---|---|"]
    for m in methods:
        g = agg["goals"][m]
        per = agg["by_method"][m]
        cells = [f"{_f(g[k]['recall_at_1'], True)} of {g[k]['runs']}: {'met' if g[k]['met'] else 'NOT met'} "
                 f"({_f(g[k]['recall_at_1_learned'], True)} of {g[k]['runs_learned']})" for k in ("st", "tic+op")]
        cells += [f"{_f(per[k]['recall_at_1'], True)} of {per[k]['runs']} ({_f(per[k]['recall_at_1_learned'], True)} "
                  f"of {per[k]['runs_learned']})" for k in ("tic", "op")]
        lines.append(f"| {METHOD_NAMES.get(m, m)} | " + " | ".join(cells) + " |")
    lines += ["", "## Shortcut learned? (accuracy on the conflict texts, mean over seeds)", "",
              ("| plant | arch | conflict texts | planted model acc | clean model acc | planted model follows shortcut |"
              " clean follows |"), "|---|---|---|---|---|---|---|"]
    for key, c in checks.items():
        lines.append(f"| {key.split('/')[0]} | {key.split('/')[1]} | {_f(c.get('n_conflict'), nd=0)} | "
                     f"{_f(c.get('planted_model_conflict_acc'), True)} | {_f(c.get('clean_model_conflict_acc'), True)} | "
                     f"{_f(c.get('planted_model_follows_shortcut'), True)} | {_f(c.get('clean_model_follows_shortcut'), True)} |")
    lines += ["", "## Planted unit among confirmed drivers (pooled over archs and seeds)", "",
              ("| method | plant | runs | recall@1 | recall@5 | confirmed at any rank | fix rate (remove / unk) | "
              "control fix rate | precision@k | random | verified-reason precision | reason hit | other confirmed / run |"),
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        for p in ("st2", "st5", "st10", "tic10", "op10", "all_planted"):
            s = agg["by_method"][m][p]
            lines.append(f"| {METHOD_NAMES.get(m, m)} | {p} | {s['runs']} ({s['runs_learned']}) | "
                         f"{_f(s['recall_at_1'], True)} ({_f(s['recall_at_1_learned'], True)}) | "
                         f"{_f(s['recall_at_5'], True)} | {_f(s['confirmed_any_rank'], True)} | "
                         f"{_f(s['planted_fix_rate'], True)} / {_f(s['planted_fix_rate_unk'], True)} | "
                         f"{_f(s['planted_control_fix_rate'], True)} | {_f(s['precision_at_k'])} | "
                         f"{_f(s['random_precision'])} | {_f(s['reason_precision'])} | {_f(s['reason_hit'], True)} | "
                         f"{_f(s['n_confirmed_other'], nd=1)} |")
    lines += ["", "### REAT per architecture", "", "| plant | arch | runs | recall@1 | recall@5 | fix rate | control |",
              "|---|---|---|---|---|---|---|"]
    for key, s in agg["by_method"].get("reat", {}).items():
        if "/" in key and s["runs"]:
            p, a = key.split("/")
            lines.append(f"| {p} | {a} | {s['runs']} | {_f(s['recall_at_1'], True)} | {_f(s['recall_at_5'], True)} | "
                         f"{_f(s['planted_fix_rate'], True)} | {_f(s['planted_control_fix_rate'], True)} |")
    lines += ["", "### Every planted run (REAT and GradInput)", "",
              ("| run | learned | method | planted unit: status | rank among confirmed | n_errors with it | lift (q) | "
              "contrast (q) | errors tested | fix rate vs control (q_fix) | other confirmed |"),
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if r["kind"] == "clean" or r["method"] not in ("reat", "grad_input"):
            continue
        pl = r["planted"] or {}
        lines.append(
            f"| {r['run']} | {'yes' if learned(r) else 'no'} | {METHOD_NAMES.get(r['method'], r['method'])} | "
            f"`{pl.get('unit', '-')}`: {pl.get('status', 'absent')} | {r['planted_rank'] or '-'} | "
            f"{pl.get('n_errors', '-')} | {_f(pl.get('lift'))} ({_f(pl.get('q_lift'), nd=3)}) | "
            f"{_f(pl.get('contrast_effect'))} ({_f(pl.get('q_contrast'), nd=3)}) | {pl.get('n_cf', '-')} | "
            f"{_f(pl.get('fix_rate_remove'), True)} vs {_f(pl.get('control_fix_rate'), True)} "
            f"({_f(pl.get('q_fix'), nd=3)}) | {r['n_confirmed_other']} |")
    lines += ["", "## Clean models (no plant): what gets confirmed", "",
              "| method | runs | confirmed / run | punctuation or stopword confirmed | all of those earned by fix rate? |",
              "|---|---|---|---|---|"]
    for m in methods:
        c = agg["clean"][m]
        lines.append(f"| {METHOD_NAMES.get(m, m)} | {c['runs']} | {_f(c['n_confirmed_per_run'], nd=1)} | "
                     f"{c['n_punct_or_stop_confirmed']} | {'yes' if c['all_punct_stop_earned'] else 'NO'} |")
    for m in methods:
        c = agg["clean"][m]
        if c["confirmed"]:
            lines += ["", f"Confirmed on clean models with {METHOD_NAMES.get(m, m)} (unit: fix rate vs control, q_fix):"]
            lines.append(", ".join(f"`{x['unit']}` ({x['run']}: {_f(x['fix_rate_remove'], True)} vs "
                                   f"{_f(x['control_fix_rate'], True)}, q {_f(x['q_fix'], nd=3)})" for x in c["confirmed"]))
    lines += ["", "## Cost per run (CPU seconds, mean)", "", "| method | attribution | findings |", "|---|---|---|"]
    for m in methods:
        s = agg["by_method"][m]["all_planted"]
        lines.append(f"| {METHOD_NAMES.get(m, m)} | {_f(s['attribution_cpu_s'], nd=1)} | {_f(s['findings_cpu_s'], nd=1)} |")
    lines += ["", "## Models (mean over the seeds trained)", "",
              "| arch | plant | seeds | dev acc (clean dev) | test acc (clean test) | best epoch |", "|---|---|---|---|---|---|"]
    for key in sorted({(t["arch"], t["plant"]) for t in training}):
        rows = [t for t in training if (t["arch"], t["plant"]) == key]
        lines.append(f"| {key[0]} | {key[1]} | {', '.join(str(t['seed']) for t in rows)} | "
                     f"{_f(_mean(t['dev_accuracy'] for t in rows), True)} | {_f(_mean(t['test_accuracy'] for t in rows), True)} | "
                     f"{', '.join(str(t['best_epoch']) for t in rows)} |")
    tr = [t.get("train_cpu_s") or 0.0 for t in training]
    lines += ["", (f"Training: {len(training)} models, {sum(tr) / 60:.1f} CPU-minutes in total (cached models count "
              "their original training time)."), ""]
    return "\n".join(lines) + "\n"


def write_report(out: Path, *, meta: dict[str, Any], training: list[dict[str, Any]],
                 results: list[dict[str, Any]]) -> None:
    agg = aggregate(results)
    checks: dict[str, dict[str, Any]] = {}
    reat = [r for r in results if r["method"] == results[0]["method"] and r["kind"] != "clean"] if results else []
    for key in sorted({f"{r['plant']}/{r['arch']}" for r in reat}):
        rows = [r["shortcut"] for r in reat if f"{r['plant']}/{r['arch']}" == key]
        checks[key] = {k: _mean(x.get(k) for x in rows) for k in rows[0]}
    out.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "training": training, "shortcut_check": checks, "summary": agg,
           "runs": [{k: v for k, v in r.items() if k != "key"} for r in results]}
    (out / "planted.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    (out / "planted.md").write_text(_md(meta, training, agg, checks, results), encoding="utf-8")
