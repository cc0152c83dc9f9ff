"""Glue between a loaded model, the attribution methods and the metric modules.

One function per section of the paper; each takes an :class:`~audit.models.base.AuditModel`,
the tokenized test set and the config, and returns plain data for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from audit.engine.meta import seed_everything  # noqa: F401  (re-exported: sections.seed_everything)
from audit.evaluation import faithfulness as faith
from audit.evaluation import interpretability as interp
from audit.evaluation import misbehaviour as misb
from audit.evaluation import patterns
from audit.evaluation.config import EvalConfig, MethodEntry
from audit.models.base import AuditModel

log = logging.getLogger(__name__)


def predict(model: AuditModel, tokens: Sequence[Sequence[str]], *, batch_size: int) -> np.ndarray:
    """Class probabilities ``(N, C)``."""
    parts = [
        model.predict_proba_tokens(tokens[i : i + batch_size]).cpu().numpy() for i in range(0, len(tokens), batch_size)
    ]
    return np.concatenate(parts, axis=0).astype(float) if parts else np.zeros((0, model.num_classes))


def proba_fn(model: AuditModel) -> Callable[[Sequence[Sequence[str]]], np.ndarray]:
    return lambda batch: model.predict_proba_tokens(batch).cpu().numpy()


def reat_matrix(
    model: AuditModel, tokens: Sequence[Sequence[str]], *, batch_size: int, naive: bool = False
) -> list[np.ndarray]:
    """REAT scores of every token toward every class, ``(T, C)`` per text, in one pass per batch."""
    from audit.attribution._reat import reat_scores

    model.module.eval()
    out: list[np.ndarray] = []
    for i in range(0, len(tokens), batch_size):
        enc = model.encode_tokens(tokens[i : i + batch_size])
        with torch.inference_mode():
            emb = model.embedding(enc.ids)
            scores = reat_scores(model.rnn, model.head, emb, enc.lengths, naive=naive).cpu().numpy()
        out.extend(scores[b, : int(n)].astype(float) for b, n in enumerate(enc.lengths.tolist()))
    return out


def method_scores(
    model: AuditModel,
    method: MethodEntry,
    tokens: Sequence[Sequence[str]],
    targets: Sequence[int],
    *,
    batch_size: int,
    seed: int,
) -> list[np.ndarray]:
    """One method's word scores ``(T,)`` toward ``targets``, through the public method registry."""
    from audit.attribution.methods import get_method

    impl = get_method(method.name, **method.options)
    seed_everything(seed)
    out: list[np.ndarray] = []
    for i in range(0, len(tokens), batch_size):
        chunk = [list(t) for t in tokens[i : i + batch_size]]
        attrs = impl.attribute(model, chunk, targets=[int(t) for t in targets[i : i + batch_size]])
        out.extend(np.asarray(a.scores, dtype=float) for a in attrs)
    return out


def run_faithfulness(
    model: AuditModel, tokens: Sequence[Sequence[str]], cfg: EvalConfig, *, seed: int
) -> tuple[list[faith.TwoClauseText], dict[str, dict[str, faith.FaithfulnessResult]]]:
    """Eq. 23 under the configured rule (key ``main``) and, with ``sensitivity``, two variant rules.

    Attributions do not depend on the rule (they are of the full text toward its prediction), so
    each method runs once on the union of the selections."""
    fc = cfg.faithfulness
    rules = {"main": (fc.min_clause_tokens, fc.conjunction_goes_with)}
    if fc.sensitivity:
        other: Literal["second", "neither"] = "neither" if fc.conjunction_goes_with == "second" else "second"
        if fc.min_clause_tokens != 1:
            rules["min_clause_tokens=1"] = (1, fc.conjunction_goes_with)
        rules[f"conjunction_goes_with={other}"] = (fc.min_clause_tokens, other)
    selections = {
        name: faith.select_two_clause_texts(
            tokens, conjunction=fc.conjunction, min_clause_tokens=k, conjunction_goes_with=goes
        )[: fc.max_texts]
        for name, (k, goes) in rules.items()
    }
    union = sorted({it.index for items in selections.values() for it in items})
    union_tokens = [list(tokens[i]) for i in union]
    preds = predict(model, union_tokens, batch_size=cfg.batch_size).argmax(axis=1).tolist() if union else []
    by_method = {
        m.name: dict(zip(union, method_scores(model, m, union_tokens, preds, batch_size=cfg.batch_size, seed=seed)))
        for m in cfg.methods
    }
    proba = proba_fn(model)
    results: dict[str, dict[str, faith.FaithfulnessResult]] = {}
    for name, items in selections.items():
        table = faith.deletion_table(items, proba, batch_size=cfg.batch_size)
        results[name] = {
            m.name: faith.faithfulness(m.name, items, [by_method[m.name][it.index] for it in items], table)
            for m in cfg.methods
        }
    for m in cfg.methods:
        r = results["main"][m.name]
        log.info("%s faithfulness %s: %.3f on %d texts", model.name, m.name, r.score, r.n)
    return selections["main"], results


def run_interpretability(
    model: AuditModel,
    tokens: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    lexicons: tuple[frozenset[str], frozenset[str]],
    cfg: EvalConfig,
    *,
    seed: int,
) -> tuple[list[interp.PolarText], dict[str, dict[str, interp.InterpretabilityResult]]]:
    """Eq. 24 under the configured rule (``main``) and, with ``sensitivity``, the other POS-filter setting."""
    ic = cfg.interpretability
    pos_lex, neg_lex = lexicons
    rules = {"main": ic.adjectives_only}
    if ic.sensitivity:
        rules[f"adjectives_only={not ic.adjectives_only}"] = not ic.adjectives_only
    selections = {
        name: interp.select_polar_texts(tokens, positive=pos_lex, negative=neg_lex, tags=tags if adj else None)[
            : ic.max_texts
        ]
        for name, adj in rules.items()
    }
    everywhere = set(ic.sensitivity_methods) if ic.sensitivity_methods is not None else {m.name for m in cfg.methods}
    by_method: dict[str, dict[int, np.ndarray]] = {}
    for m in cfg.methods:
        chosen = selections.values() if m.name in everywhere else [selections["main"]]
        idx = sorted({it.index for items in chosen for it in items})
        scores = method_scores(
            model,
            m,
            [list(tokens[i]) for i in idx],
            [cfg.positive_class] * len(idx),
            batch_size=cfg.batch_size,
            seed=seed,
        )
        by_method[m.name] = dict(zip(idx, scores))
    results: dict[str, dict[str, interp.InterpretabilityResult]] = {}
    for name, items in selections.items():
        results[name] = {
            m.name: interp.interpretability(
                m.name, items, [by_method[m.name][it.index] for it in items], primary=ic.aggregation
            )
            for m in cfg.methods
            if name == "main" or m.name in everywhere
        }
    for m in cfg.methods:
        r = results["main"][m.name]
        log.info("%s interpretability %s: %.3f on %d texts", model.name, m.name, r.score(ic.aggregation), r.n)
    return selections["main"], results


def run_misbehaviour(
    model: AuditModel,
    tokens: Sequence[Sequence[str]],
    gold: Sequence[int],
    probs: np.ndarray,
    reat: Sequence[np.ndarray],
    cfg: EvalConfig,
    *,
    cases: bool,
) -> dict[str, Any]:
    """Word distributions and failures for every model; substitution cases when ``cases``."""
    mc = cfg.misbehaviour
    preds = probs.argmax(axis=1)
    toward_pred = [r[:, int(p)] for r, p in zip(reat, preds)]
    toward_target = [r[:, mc.words_target] for r in reat]
    words = misb.word_scores(tokens, toward_target, mc.words)
    failures = misb.failure_drivers(
        tokens, gold, preds.tolist(), probs[np.arange(len(preds)), preds].tolist(), toward_pred, top_k=mc.top_k
    )
    out: dict[str, Any] = {"words": words, "failures": failures, "cases": [], "searches": []}
    if not cases:
        return out
    proba = proba_fn(model)
    for case in mc.cases:
        toks = model.tokenize(case.text)
        r = reat_matrix(model, [toks], batch_size=1)[0]
        pred = int(predict(model, [toks], batch_size=1)[0].argmax())
        for sub in case.substitutions:
            out["cases"].append(
                misb.substitution_case(toks, sub.source, sub.replacement, proba, scores_pred=r[:, pred])
            )
    for search in mc.searches:
        hits = misb.find_search_cases(tokens, preds.tolist(), word=search.word, predicted_label=search.predicted_label)
        results = [
            misb.substitution_case(tokens[i], search.word, search.replacement, proba, scores_pred=toward_pred[i])
            for i in hits
        ]
        out["searches"].append(
            {"word": search.word, "replacement": search.replacement, "indices": hits, "results": results}
        )
    return out


def run_patterns(
    tokens: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    reat: Sequence[np.ndarray],
    preds: np.ndarray,
    cfg: EvalConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    toward_pred = [r[:, int(p)] for r, p in zip(reat, preds)]
    table = patterns.token_table(tokens, tags, toward_pred)
    stats = patterns.tag_stats(table, min_count=cfg.patterns.min_count, exclude=cfg.patterns.exclude_tags)
    return table, stats
