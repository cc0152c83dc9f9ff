"""Markdown of ``benchmarks/harden.py``'s results (``reports/benchmarks/harden.md``)."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any, pct: bool = True, signed: bool = False) -> str:
    if not isinstance(x, dict):
        return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.2f}")
    if x.get("mean") is None:
        return "-"
    sign = "+" if signed else ""
    if pct:
        return f"{100 * x['mean']:{sign}.1f} ± {100 * x['sd']:.1f}"
    return f"{x['mean']:{sign}.1f} ± {x['sd']:.1f}"


def markdown(results: dict[str, Any]) -> str:
    a = results["args"]
    lines = ["# `audit harden` benchmark", "",
             f"Machine: {results['machine']['host']}, 1 torch thread (torch {results['machine']['torch']}). "
             f"Seeds {a['seeds']}; strict attack on the first {a['attack_texts']} correctly classified texts of "
             "each audited dataset (before and after: a fresh attack on held-out test texts).", "",
             "- Models: `planted_shortcuts.py`'s 6-epoch models, one per seed (`<arch>-<plant>-s<seed>`); each "
             "seed is hardened with its own seed and compared with the same-seed model ('before'). Values are "
             "mean ± sd over seeds, in points (accuracy and attack success in %); n = seeds with a result.",
             "- Recovery = (planted acc after - before) / (clean model of the same arch and seed - before), on the "
             "same planted texts, per seed. Attack cut = 1 - after/before strict-valid attack success, per seed.",
             "- Cost: training seconds of harden (all regulariser weights), and the seconds spent generating the "
             "adversarial variants (once per model and seed, shared by `adversarial` and `combined`); wall times "
             "are load-bound on this shared machine.",
             f"- Strategies: {_strategy_lines(results['strategies'], a)}", "",
             "## Scope (one benchmark process, one torch thread, on a 2-core box)", "",
             "- Tasks ran in priority order, each (model, strategy) cell for every seed before the next cell "
             f"(`tasks()`); no new task started after the stop time ({a['stop_at_utc'] or 'none'}). Cells not "
             f"reached: {_not_reached(results) or 'none'}.",
             f"- Planted models are audited without the attack (`--planted-attack-texts {a['planted_attack_texts']}`):"
             " they are judged on planted-test and clean accuracy and on their drivers; the attack is measured "
             "on the clean models, where the robustness goal is. The driver-word flip probes of the nightly "
             "config are off in every audit here (they are not part of the strict-valid attack success).",
             f"- The regulariser's full weight grid ({a['reg_weights']}) is trained at seed(s) {a['reg_grid_seeds']};"
             " the other seeds reuse the weight chosen on dev there.",
             "- A clean model without a confirmed spurious driver gives `counterfactual` and `regularise` nothing "
             "to act on (harden says so and trains nothing), and `combined` would train the same model as "
             "`adversarial` (recorded as not trained).", ""]
    if results.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in results["notes"]], ""]
    for name, entry in results["models"].items():
        if not entry["seeds"]:
            continue
        b = entry["before"]
        lines += [f"## {name}", "",
                  f"Before (same-seed models, n={b['clean_accuracy']['n']}): clean acc {_fmt(b['clean_accuracy'])}, "
                  f"planted acc {_fmt(b['planted_accuracy'])}, strict attack success "
                  f"{_fmt(b['strict_attack_success'])}, confirmed drivers {_fmt(b['n_confirmed_drivers'], pct=False)}."]
        if entry["clean_reference_planted_accuracy"]["mean"] is not None:
            lines.append(f"Clean model of the same arch and seed on the same planted texts: "
                         f"{_fmt(entry['clean_reference_planted_accuracy'])}.")
        lines += ["", "| strategy | n | clean acc after (diff) | planted acc after (diff) | strict attack success "
                  "after (diff) | recovery | attack cut | train s | augment s | goal |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for strat, s in entry["strategies"].items():
            if not s["runs"]:
                continue
            af, d, g, c = s["after"], s["difference"], s["goal"], s["cost"]
            verdict = ("recovery " + ("met" if s["recovery_goal_met"] else "not met")) if "recovery_goal_met" in s \
                else ("robustness " + ("met" if s["robustness_goal_met"] else "not met")) \
                if "robustness_goal_met" in s else "-"
            n_seeds = len(entry["seeds"]) if name == "gru-ref" else len(a["seeds"])
            if verdict != "-" and len(s["runs"]) < n_seeds:
                verdict += f" (only {len(s['runs'])} of {n_seeds} seeds run)"
            lines.append(
                f"| {strat} | {len(s['runs'])} | {_fmt(af['clean_accuracy'])} ({_fmt(d['clean_accuracy'], signed=True)})"
                f" | {_fmt(af['planted_accuracy'])} ({_fmt(d['planted_accuracy'], signed=True)}) | "
                f"{_fmt(af['strict_attack_success'])} ({_fmt(d['strict_attack_success'], signed=True)}) | "
                f"{_fmt(g['recovered_share'])} | {_fmt(g['relative_attack_cut'])} | "
                f"{_fmt(c['train_seconds'], pct=False)} | {_fmt(c['augment_seconds'], pct=False)} | {verdict} |")
        lines += ["", "Per seed (before -> after):", ""]
        for strat, s in entry["strategies"].items():
            for r in s["runs"]:
                bf = entry["seeds"][str(r["seed"])]["before"]
                aug = r["augmentation"] or {}
                bits = [f"clean {_fmt(bf['clean_accuracy'])} -> {_fmt(r['after']['clean_accuracy'])}",
                        f"strict attack {_fmt(bf['strict_attack_success'])} -> "
                        f"{_fmt(r['after']['strict_attack_success'])}"]
                if bf["planted_accuracy"] is not None:
                    ref = entry["seeds"][str(r["seed"])]["clean_reference_planted_accuracy"]
                    bits.insert(1, f"planted {_fmt(bf['planted_accuracy'])} -> {_fmt(r['after']['planted_accuracy'])}"
                                   f" (clean model {_fmt(ref)})")
                extra = ", ".join(f"{k} {v}" for k, v in aug.items() if v)
                pt = r.get("paired_attack_test")
                if pt:
                    bits.append(f"paired texts {pt['n_paired_texts']}: broken before only {pt['broken_before_only']}"
                                f", after only {pt['broken_after_only']}, both {pt['broken_both']} (exact McNemar "
                                f"p = {pt['mcnemar_exact_p']:.3f})")
                if r["regulariser_weight"] is not None:
                    extra += f"; regulariser weight {r['regulariser_weight']:g} (dev)"
                lines.append(f"- {strat} s{r['seed']}: {'; '.join(bits)}; drivers {r['drivers']}; {extra}")
            for nt in s["not_trained"]:
                lines.append(f"- {strat} s{nt['seed']}: not trained: {nt['message']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _not_reached(results: dict[str, Any]) -> str:
    a = results["args"]
    missing = []
    for name, entry in results["models"].items():
        for strat in a["strategies"]:
            s = entry["strategies"].get(strat, {"runs": [], "not_trained": []})
            done = {r["seed"] for r in s["runs"]} | {r["seed"] for r in s["not_trained"]}
            left = [sd for sd in (a["seeds"] if name != "gru-ref" else [13]) if sd not in done]
            if left:
                missing.append(f"{name} {strat} (seeds {', '.join(map(str, left))})")
    return "; ".join(missing)


def _strategy_lines(strats: dict[str, Any], a: dict[str, Any]) -> str:
    return (f"`counterfactual` (remove, balance); `adversarial` (keep: best, A2T-style: strict-valid variants of "
            f"{100 * a['adv_fraction']:.0f} % of the training texts (correctly classified ones), flipped or not, "
            f"cap {a['adv_texts']}); `adversarial-flipped` "
            "(the previous recipe: flipped variants of 20 % of the training texts); `adversarial-half` (as `adversarial`, "
            "with harden.yaml's default share of 50 % of the training texts: an exploratory row, added after the 20 % "
            "results); `regularise` (weights "
            f"{a['reg_weights']}, chosen on dev); `combined`: {' + '.join(a['combined'])}.")
