"""Turn the per-model results into ``results.json``, detail JSON/CSV files, charts and ``report.md``.

Every table row carries our figure and the paper's figure for the same cell
(``paper`` is null where the paper has no such cell).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from audit.evaluation import charts, hierarchical, paper
from audit.evaluation.config import EvalConfig
from audit.evaluation.patterns import check_findings, medians

log = logging.getLogger(__name__)


def _num(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def assemble(
    *,
    cfg: EvalConfig,
    config_path: str,
    config_sha256: str,
    command: str | None,
    dataset: dict[str, Any],
    models: list[Any],
    per_model: dict[str, dict[str, Any]],
    timings: dict[str, float],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """The JSON-able results (``results.json``) from the per-model results."""
    ref = cfg.paper_reference
    col = {pm.name: pm.column for pm in models}
    out: dict[str, Any] = {
        "name": cfg.name,
        "note": cfg.note,
        "provenance": {
            "command": command,
            "config_path": config_path,
            "config_sha256": config_sha256,
            "seed": cfg.seed,
            "paper_reference": ref,
            "dataset": dataset,
            "models": {
                pm.name: {
                    "dir": str(pm.dir),
                    "fingerprint": pm.fingerprint,
                    "trained_now": pm.trained_now,
                    "paper_column": pm.column,
                    "labels": list(pm.model.labels),
                    "rnn": type(pm.model.rnn).__name__,
                    "bidirectional": bool(pm.model.rnn.bidirectional),
                    "hidden_size": int(pm.model.rnn.hidden_size),
                    "saved_metrics": pm.metrics,
                }
                for pm in models
            },
            "methods": [{"name": m.name, "options": m.options} for m in cfg.methods],
            "config": cfg.model_dump(mode="json"),
            **environment,
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    out["accuracy"] = [
        {
            "model": name,
            "ours": 100 * r["accuracy"],
            "paper": paper.ACCURACY.get(ref or "", {}).get(col[name] or ""),
            "n": r["n"],
            "max_completeness_gap": r.get("max_completeness_gap"),
        }
        for name, r in per_model.items()
    ]
    if cfg.faithfulness.enabled:
        rows = []
        for m in cfg.methods:
            for name, r in per_model.items():
                s = r["faithfulness"][m.name].summary()
                rows.append(
                    {
                        "method": m.name,
                        "model": name,
                        "ours": s["score"],
                        "paper": paper.lookup(paper.FAITHFULNESS, ref, m.name, col[name]),
                        **{k: s[k] for k in ("n", "random", "oracle", "agreement", "ties", "second_share")},
                    }
                )
        out["faithfulness"] = {
            "rule": cfg.faithfulness.model_dump(mode="json"),
            "paper_count": paper.FAITHFULNESS_COUNT.get(ref or ""),
            "counts": {name: len(r["faithfulness_items"]) for name, r in per_model.items()},
            "rows": [{k: _num(v) for k, v in row.items()} for row in rows],
            "variants": _variants(per_model, "faithfulness_rules", lambda r: r.score),
        }
    if cfg.interpretability.enabled:
        agg = cfg.interpretability.aggregation
        rows = []
        for m in cfg.methods:
            for name, r in per_model.items():
                res = r["interpretability"][m.name]
                rows.append(
                    {
                        "method": m.name,
                        "model": name,
                        "ours": 100 * res.score(agg) if res.n else None,
                        "paper": paper.lookup(paper.INTERPRETABILITY, ref, m.name, col[name]),
                        "n": res.n,
                        **{f"{a}": (100 * res.score(a) if res.n else None) for a in res.matches},
                    }
                )
        out["interpretability"] = {
            "rule": cfg.interpretability.model_dump(mode="json"),
            "paper_count": paper.INTERPRETABILITY_COUNT.get(ref or ""),
            "counts": {
                name: {"selected": len(r["interpretability_items"]), **r["interpretability_counts"]}
                for name, r in per_model.items()
            },
            "rows": [{k: _num(v) for k, v in row.items()} for row in rows],
            "variants": _variants(per_model, "interpretability_rules", lambda r: 100 * r.score(agg) if r.n else None),
        }
    if cfg.patterns.enabled:
        stats = {name: r["pos_stats"] for name, r in per_model.items() if "pos_stats" in r}
        bidir = [pm.name for pm in models if pm.model.rnn.bidirectional]
        out["patterns"] = {
            "min_count": cfg.patterns.min_count,
            "medians": {name: {k: float(v) for k, v in medians(s).items()} for name, s in stats.items()},
            "findings": _clean(check_findings(stats, bidirectional=bidir)),
        }
    if cfg.misbehaviour.enabled:
        out["misbehaviour"] = _misbehaviour_summary(per_model, cfg)
    if cfg.hierarchical.enabled:
        out["hierarchical"] = {name: r["hierarchical"] for name, r in per_model.items()}
    out["verdicts"] = verdicts(out)
    return out


def _variants(per_model: dict[str, dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    """Scores under the sensitivity rules (every rule but ``main``): {rule: {counts, rows}}."""
    out: dict[str, Any] = {}
    for name, r in per_model.items():
        for rule, by_method in r.get(key, {}).items():
            if rule == "main":
                continue
            v = out.setdefault(rule, {"counts": {}, "rows": []})
            for method, res in by_method.items():
                v["counts"][name] = res.n
                v["rows"].append({"method": method, "model": name, "ours": _num(value(res))})
    return out


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _num(obj)


def _misbehaviour_summary(per_model: dict[str, dict[str, Any]], cfg: EvalConfig) -> dict[str, Any]:
    from audit.evaluation.misbehaviour import failure_word_counts

    mc = cfg.misbehaviour
    out: dict[str, Any] = {"words_target": mc.words_target, "words": {}, "failures": {}, "cases": [], "searches": []}
    for name, r in per_model.items():
        mb = r.get("misbehaviour")
        if mb is None:
            continue
        out["words"][name] = {w: occ.summary() for w, occ in mb["words"].items()}
        fails = mb["failures"]
        out["failures"][name] = {
            "n_errors": len(fails),
            "top_driver_words": failure_word_counts(fails)[:15],
            "sample": [asdict(f) for f in fails[: mc.sample_size]],
        }
        for c in mb["cases"]:
            out["cases"].append({"model": name, **c.to_dict()})
        for s in mb["searches"]:
            out["searches"].append(
                {
                    "model": name,
                    "word": s["word"],
                    "replacement": s["replacement"],
                    "n_found": len(s["indices"]),
                    "n_flipped": sum(x.flipped for x in s["results"]),
                    "results": [x.to_dict() for x in s["results"]],
                }
            )
    return out


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Per table and model: the best method and REAT's rank (1 = best). Ties share the better rank."""
    out: dict[str, Any] = {}
    for section in ("faithfulness", "interpretability"):
        if section not in results:
            continue
        rows = results[section]["rows"]
        per: dict[str, Any] = {}
        for model in dict.fromkeys(r["model"] for r in rows):
            vals = {r["method"]: r["ours"] for r in rows if r["model"] == model and r["ours"] is not None}
            if not vals:
                continue
            best = max(vals, key=lambda k: vals[k])
            reat_rank = 1 + sum(v > vals["reat"] for v in vals.values()) if "reat" in vals else None
            per[model] = {"best": best, "best_value": vals[best], "reat_rank": reat_rank, "n_methods": len(vals)}
        out[section] = per
    return out


def save_chart(chart: alt.TopLevelMixin, stem: Path, *, formats: str) -> list[str]:
    """Save ``chart`` as ``stem.png`` and/or ``stem.html``; PNG falls back to HTML without vl-convert."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    want_png = formats in ("png", "both")
    want_html = formats in ("html", "both")
    if want_png:
        try:
            chart.save(str(stem.with_suffix(".png")), scale_factor=1.5)
            written.append(stem.with_suffix(".png").name)
        except (ImportError, ValueError) as exc:
            log.warning(
                "cannot render %s.png (%s); writing HTML instead (pip install vl-convert-python)", stem.name, exc
            )
            want_html = True
    if want_html:
        chart.save(str(stem.with_suffix(".html")))
        written.append(stem.with_suffix(".html").name)
    return written


def write(out: Path, results: dict[str, Any], per_model: dict[str, dict[str, Any]], cfg: EvalConfig) -> None:
    """Write the report folder: results.json, details, charts and report.md."""
    from audit.evaluation.markdown import render_markdown

    out.mkdir(parents=True, exist_ok=True)
    chart_dir = out / "charts"
    written: dict[str, list[str]] = {}
    ref_label = results["provenance"]["paper_reference"] or "paper"
    if "faithfulness" in results:
        details = {
            name: {m: [asdict(it) | {"drop": it.drop} for it in res.items] for m, res in r["faithfulness"].items()}
            for name, r in per_model.items()
        }
        texts = {
            name: {str(it.index): " ".join(it.tokens) for it in r["faithfulness_items"]}
            for name, r in per_model.items()
        }
        _dump(out / "faithfulness_items.json", {"texts": texts, "items": details})
        written["faithfulness"] = save_chart(
            charts.ours_vs_paper_chart(
                _long(results["faithfulness"]["rows"]),
                title=f"Faithfulness (Eq. 23) vs {ref_label}",
                value_title="mean drop of predicted-class probability",
            ),
            chart_dir / "faithfulness",
            formats=cfg.charts,
        )
    if "interpretability" in results:
        written["interpretability"] = save_chart(
            charts.ours_vs_paper_chart(
                _long(results["interpretability"]["rows"]),
                title=f"Interpretability (Eq. 24) vs {ref_label}",
                value_title="match rate (%)",
            ),
            chart_dir / "interpretability",
            formats=cfg.charts,
        )
    if "patterns" in results:
        frames = []
        for name, r in per_model.items():
            st = r["pos_stats"]
            frames.append(st.assign(model=name))
            written[f"pos_{name}"] = save_chart(
                charts.pos_boxplot(st, title=f"{name}: REAT score by POS (toward prediction)"),
                chart_dir / f"pos_{name}",
                formats=cfg.charts,
            )
        pd.concat(frames, ignore_index=True).to_csv(out / "pos_stats.csv", index=False)
    if "misbehaviour" in results:
        rows = [
            {"model": name, "word": w, "score": s}
            for name, r in per_model.items()
            if "misbehaviour" in r
            for w, occ in r["misbehaviour"]["words"].items()
            for s in occ.scores
        ]
        if rows:
            target = cfg.misbehaviour.words_target
            label = (
                results["provenance"]["dataset"]["label_names"][target]
                if target < len(results["provenance"]["dataset"]["label_names"])
                else str(target)
            )
            written["words"] = save_chart(
                charts.word_score_chart(
                    pd.DataFrame(rows), title="Word score distributions (Fig. 8)", target_name=f"class {label}"
                ),
                chart_dir / "words",
                formats=cfg.charts,
            )
        _dump(
            out / "failures.json",
            {
                name: [asdict(f) for f in r["misbehaviour"]["failures"]]
                for name, r in per_model.items()
                if "misbehaviour" in r
            },
        )
    if "hierarchical" in results:
        examples = results["hierarchical"]
        (out / "hierarchical.html").write_text(
            hierarchical.page_html(examples, title="Hierarchical attribution (Fig. 6)"), encoding="utf-8"
        )
        written["hierarchical_html"] = ["../hierarchical.html"]
        if cfg.hierarchical.png:
            for name, ex in examples.items():
                written[f"hierarchical_{name}"] = save_chart(
                    charts.hierarchy_heatmap(
                        hierarchical.cells(ex), title=f"{name}: predicted {ex['label']} ({100 * ex['prob']:.1f}%)"
                    ),
                    chart_dir / f"hierarchical_{name}",
                    formats="png" if cfg.charts != "html" else "html",
                )
    results["charts"] = {k: [f"charts/{f}" if not f.startswith("..") else f[3:] for f in v] for k, v in written.items()}
    _dump(out / "results.json", results)
    (out / "report.md").write_text(render_markdown(results), encoding="utf-8")


def _long(rows: list[dict[str, Any]]) -> pd.DataFrame:
    recs = []
    for r in rows:
        m = paper.method_label(r["method"])
        if r["ours"] is not None:
            recs.append({"model": r["model"], "method": m, "source": "ours", "value": r["ours"]})
        if r["paper"] is not None:
            recs.append({"model": r["model"], "method": m, "source": "paper", "value": r["paper"]})
    return pd.DataFrame(recs, columns=["model", "method", "source", "value"])


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(_clean(obj), indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
