"""The findings stage in one call: driver statistics, failure reasons, minimal fixes.

:func:`analyze` builds every counterfactual variant the three tables need
(driver fix rates and matched controls, each reason's removal, each minimal-fix
prefix, the unchanged failures), predicts them in ONE batched pass
(:class:`~audit.findings.counterfactual.VariantBatch`), and assembles the tables.
:func:`driver_statistics` and :func:`failure_reasons` run one half each.

The statistics accept any attribution method's token scores: ``token_scores``
is a table shaped like ``token_attributions`` (``score_pred`` = score toward the
predicted class); :func:`token_scores_table` builds one from a method's
:class:`~audit.attribution.Attribution` list.  Everything is deterministic: ties
are broken by position, rank and unit text, and no step samples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from audit.findings._inputs import KEY, PRED_NEEDS, TOKEN_NEEDS, Inputs, build_inputs
from audit.findings.association import WholeRun
from audit.findings.config import FindingsConfig
from audit.findings.counterfactual import VariantBatch
from audit.findings.drivers import finish_driver_stats, plan_driver_variants
from audit.findings.reasons import failure_drivers, finish_reasons, plan_reasons
from audit.models.base import AuditModel

log = logging.getLogger(__name__)

__all__ = ["Block", "Findings", "analyze", "analyze_blocks", "default_stopwords", "driver_statistics", "failure_reasons", "sample_errors", "token_scores_table"]


@dataclass(frozen=True)
class Findings:
    """The findings tables of one run, and how many distinct variants were re-predicted.

    ``n_errors`` misclassified texts in the run; ``n_errors_tested`` of them had their counterfactuals
    built (all of them unless ``findings.max_error_texts`` binds: then a seeded sample, see :func:`analyze`)."""

    driver_stats: pd.DataFrame
    failure_drivers: pd.DataFrame
    minimal_fixes: pd.DataFrame
    n_variants: int
    n_errors: int = 0
    n_errors_tested: int = 0

    @property
    def capped(self) -> bool:
        """True when the error cap bound (``failure_drivers`` / ``minimal_fixes`` cover a sample)."""
        return self.n_errors_tested < self.n_errors

    def sample_record(self, config: FindingsConfig, *, seed: int) -> dict[str, Any]:
        """The manifest's ``findings_sample`` entry."""
        return {"max_error_texts": config.max_error_texts, "n_errors": int(self.n_errors),
                "n_errors_tested": int(self.n_errors_tested), "capped": bool(self.capped), "seed": int(seed)}


Block = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]
"""``(predictions, token_scores, segments)`` of a block of whole texts (e.g. one store chunk)."""


def default_stopwords() -> frozenset[str]:
    """NLTK's English stopword list (raises ResourceMissingError naming ``audit data fetch`` when absent)."""
    from audit.nlp.lexicons import stopwords

    return stopwords()


def _config(config: FindingsConfig | None) -> FindingsConfig:
    return config if config is not None else FindingsConfig()


def sample_errors(n_errors: int, *, cap: int | None, seed: int) -> npt.NDArray[np.int64] | None:
    """Ordinals (0 = the first error in table order) of the errors whose counterfactuals are tested:
    ``None`` (all of them) when ``n_errors <= cap``, else ``cap`` of them drawn without replacement by
    ``numpy.random.default_rng(seed)``, sorted -- the same draw however the run is split into blocks."""
    if cap is None or n_errors <= cap:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_errors, size=cap, replace=False)).astype(np.int64)


def _rows_of(df: pd.DataFrame | None, keys: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of ``df`` whose (dataset, example_id) is in ``keys`` (table order kept)."""
    if df is None or df.empty:
        return df
    mask = pd.MultiIndex.from_frame(df[KEY]).isin(pd.MultiIndex.from_frame(keys[KEY]))
    return df[mask].reset_index(drop=True)


def _tested_keys(predictions: pd.DataFrame, chosen: npt.NDArray[np.int64] | None, first: int) -> pd.DataFrame:
    """Keys of the errors of ``predictions`` that are tested; ``first`` is the ordinal of its first error."""
    errors = predictions.loc[~predictions["correct"].astype(bool).to_numpy(), KEY]
    if chosen is None:
        return errors
    ordinals = first + np.arange(len(errors), dtype=np.int64)
    return errors[np.isin(ordinals, chosen)]


def analyze(predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None, *,
            model: AuditModel, config: FindingsConfig | None = None, stopwords: Collection[str] | None = None,
            reasons: bool = True, drivers: bool = True, seed: int = 0) -> Findings:
    """All findings tables from one batched re-prediction (see the module docstring).

    ``reasons`` / ``drivers`` switch either half off (its tables are then empty).
    Failure reasons are ranked from ``token_scores`` and ``segments``' ``score_pred``.
    Support, lift and contrast are counted over every text; the counterfactual tests, failure reasons
    and minimal fixes use every error, or -- when there are more than ``config.max_error_texts`` -- a
    sample of that many drawn with ``seed`` (:func:`sample_errors`).
    """
    cfg = _config(config)
    stops = default_stopwords() if stopwords is None else frozenset(stopwords)
    inp = build_inputs(predictions, token_scores, segments, top_k=cfg.top_k, stopwords=stops)
    whole = WholeRun(phrases=cfg.phrases)
    whole.add(inp)
    n_errors = int(inp.docs["error"].sum())
    chosen = sample_errors(n_errors, cap=cfg.max_error_texts, seed=seed)
    if chosen is not None:
        keys = _tested_keys(predictions, chosen, 0)
        predictions, token_scores = _rows_of(predictions, keys), _rows_of(token_scores, keys)  # type: ignore[assignment]
        segments = _rows_of(segments, keys)
        inp = build_inputs(predictions, token_scores, segments, top_k=cfg.top_k, stopwords=stops)
    return _analyze(inp, predictions, token_scores, segments, whole, n_errors=n_errors, model=model, config=cfg,
                    reasons=reasons, drivers=drivers)


def analyze_blocks(blocks: Callable[[], Iterable[Block]], *, model: AuditModel, config: FindingsConfig | None = None,
                   stopwords: Collection[str] | None = None, seed: int = 0,
                   on_block: Callable[[Block], None] | None = None, spill_dir: Path | None = None,
                   select: Callable[[Sequence[int]], Iterable[Block]] | None = None) -> Findings:
    """:func:`analyze` of a run given as blocks of whole texts in table order (e.g. the store chunks of a
    ``stream: true`` run), in two passes over ``blocks()`` and without assembling the run's tables.

    Pass 1 counts what the association tests need (:class:`~audit.findings.association.WholeRun`) and calls
    ``on_block`` with each block (other per-block aggregates: driver words, POS statistics); pass 2 keeps
    only the rows of the errors whose counterfactuals are tested (all of them, or the seeded sample of
    ``max_error_texts``), and reads only the blocks that hold one: ``select(ordinals)`` yields the blocks
    of those ordinals (0 = the first of ``blocks()``), in order (default: ``blocks()`` filtered; a reader
    that can skip a block unread makes pass 2 cost the errors, not the run).  Same tables as
    :func:`analyze` of the assembled run, whatever the split.
    The rows the contrast test ranks go to disk under ``spill_dir`` (default ``TMPDIR``) past
    :data:`audit._spill.SPILL_ROWS` (see :class:`~audit.findings.association.WholeRun`)."""
    cfg = _config(config)
    stops = default_stopwords() if stopwords is None else frozenset(stopwords)
    whole = WholeRun(phrases=cfg.phrases, spill_dir=spill_dir)
    errors_per_block: list[int] = []
    for block in blocks():
        pred, toks, segs = block
        whole.add(build_inputs(pred, toks, segs, top_k=cfg.top_k, stopwords=stops))
        errors_per_block.append(int((~pred["correct"].astype(bool)).sum()))
        if on_block is not None:
            on_block(block)
    n_errors = whole.n_errors()
    chosen = sample_errors(n_errors, cap=cfg.max_error_texts, seed=seed)
    firsts = np.concatenate([[0], np.cumsum(errors_per_block, dtype=np.int64)]).astype(np.int64)
    wanted = _blocks_with_tested(firsts, chosen)
    wanted_set = set(wanted)
    chosen_blocks = select(wanted) if select is not None else (b for i, b in enumerate(blocks()) if i in wanted_set)
    parts: list[Block] = []
    for ordinal, (pred, toks, segs) in zip(wanted, chosen_blocks, strict=True):
        keys = _tested_keys(pred, chosen, int(firsts[ordinal]))
        if len(keys):
            parts.append((_rows_of(pred, keys), _rows_of(toks, keys), _rows_of(segs, keys)))  # type: ignore[arg-type]
    if parts:
        predictions = pd.concat([p for p, _, _ in parts], ignore_index=True)
        token_scores = pd.concat([t for _, t, _ in parts], ignore_index=True)
        seg_parts = [s for _, _, s in parts if s is not None and not s.empty]
        segments = pd.concat(seg_parts, ignore_index=True) if seg_parts else None
    else:
        pred0, toks0, _ = next(iter(blocks()), (pd.DataFrame(columns=list(PRED_NEEDS)),
                                                 pd.DataFrame(columns=list(TOKEN_NEEDS)), None))
        predictions, token_scores, segments = pred0.iloc[:0], toks0.iloc[:0], None
    inp = build_inputs(predictions, token_scores, segments, top_k=cfg.top_k, stopwords=stops)
    return _analyze(inp, predictions, token_scores, segments, whole, n_errors=n_errors, model=model, config=cfg,
                    reasons=True, drivers=True)


def _blocks_with_tested(firsts: npt.NDArray[np.int64], chosen: npt.NDArray[np.int64] | None) -> list[int]:
    """Ordinals of the blocks holding a tested error; ``firsts[b]`` is block ``b``'s first error ordinal
    (``firsts[-1]``: the number of errors)."""
    counts = np.diff(firsts)
    if chosen is None:
        return [int(b) for b in np.flatnonzero(counts > 0)]
    owners = np.searchsorted(firsts, chosen, side="right") - 1
    return [int(b) for b in np.unique(owners)]


def _analyze(inp: Inputs, predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None,
             whole: WholeRun, *, n_errors: int, model: AuditModel, config: FindingsConfig, reasons: bool,
             drivers: bool) -> Findings:
    """The tables from the run-wide counts (``whole``) and the tested texts (``inp``, the table rows)."""
    from audit.store.schemas import DRIVER_STATS, FAILURE_DRIVERS, MINIMAL_FIXES, empty_table

    cfg = config
    batch = VariantBatch()
    try:
        dplan = plan_driver_variants(inp, cfg, batch, whole=whole) if drivers else None
    finally:
        whole.close()  # its presence rows (on disk when spilled) are read once, by the association tests
    rplan = None
    if reasons:
        segs = segments if segments is not None and not segments.empty else pd.DataFrame(
            columns=["example_id", "dataset", "level", "start", "end", "text", "score_pred"])
        ranked = failure_drivers(predictions, token_scores, segs, top_k=cfg.top_k, levels=("word", "phrase", "clause"),
                                 exclude_whole_text=True)
        rplan = plan_reasons(inp, ranked, cfg, batch)
    probs = batch.predict(model, batch_size=cfg.cf_batch_size) if len(batch) else np.zeros((0, model.num_classes))
    log.info("findings: re-predicted %d counterfactual variants in one batch", len(batch))
    stats = finish_driver_stats(dplan, probs) if dplan is not None else empty_table(DRIVER_STATS)
    if rplan is not None:
        fdrivers, fixes = finish_reasons(rplan, probs, min_delta=cfg.reason_min_delta)
    else:
        fdrivers, fixes = empty_table(FAILURE_DRIVERS), empty_table(MINIMAL_FIXES)
    n_tested = int(inp.docs["error"].sum())
    if n_tested < n_errors:
        log.info("findings: counterfactuals of %d of %d errors (findings.max_error_texts)", n_tested, n_errors)
    return Findings(driver_stats=stats, failure_drivers=fdrivers, minimal_fixes=fixes, n_variants=len(batch),
                    n_errors=n_errors, n_errors_tested=n_tested)


def driver_statistics(predictions: pd.DataFrame, token_scores: pd.DataFrame, *, model: AuditModel,
                      config: FindingsConfig | None = None, segments: pd.DataFrame | None = None,
                      stopwords: Collection[str] | None = None) -> pd.DataFrame:
    """The ``driver_stats`` table for any attribution method's ``token_scores`` (phrases when ``segments`` given)."""
    return analyze(predictions, token_scores, segments, model=model, config=config, stopwords=stopwords,
                   reasons=False).driver_stats


def failure_reasons(predictions: pd.DataFrame, token_scores: pd.DataFrame, segments: pd.DataFrame | None, *,
                    model: AuditModel, config: FindingsConfig | None = None,
                    stopwords: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(failure_drivers, minimal_fixes)``: each failure's top reasons with their verified effect."""
    found = analyze(predictions, token_scores, segments, model=model, config=config, stopwords=stopwords,
                    drivers=False)
    return found.failure_drivers, found.minimal_fixes


def token_scores_table(predictions: pd.DataFrame, attributions: Sequence[Any]) -> pd.DataFrame:
    """A ``token_attributions``-shaped table (dataset, example_id, position, token, score_pred) from one
    attribution method's results, one :class:`~audit.attribution.Attribution` per row of ``predictions``
    (same order), each computed toward that row's predicted class."""
    if len(attributions) != len(predictions):
        raise ValueError(f"{len(attributions)} attributions for {len(predictions)} predictions")
    ds: list[Any] = []
    ex: list[int] = []
    pos: list[int] = []
    tok: list[str] = []
    score: list[float] = []
    for (d, e), a in zip(predictions[["dataset", "example_id"]].itertuples(index=False), attributions, strict=True):
        n = len(a.tokens)
        ds.extend([d] * n)
        ex.extend([int(e)] * n)
        pos.extend(range(n))
        tok.extend(a.tokens)
        score.extend(np.asarray(a.scores, dtype=np.float64).tolist())
    return pd.DataFrame({"example_id": np.asarray(ex, dtype=np.int64), "dataset": ds,
                         "position": np.asarray(pos, dtype=np.int64), "token": tok,
                         "score_pred": np.asarray(score, dtype=np.float64)})
