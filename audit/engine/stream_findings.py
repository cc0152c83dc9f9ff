"""The streamed findings stage of ``stream: true`` runs: the attribution chunks read back as blocks of whole
texts, and every findings table accumulated from them in two passes (no run-sized table assembled).

:func:`attribution_blocks` yields the blocks :func:`~audit.findings.analyze.analyze_blocks` takes;
:func:`findings_of_blocks` runs it and counts the raw driver words and POS statistics in its first pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.engine.config import NightlyConfig
from audit.engine.drivers import DriverWordCounts, failure_drivers
from audit.engine.executors.work import STAGE_PRED, STAGE_SEGMENTS, STAGE_TOKENS
from audit.engine.pos_stats import PosScores
from audit.engine.prepare import Prepared
from audit.findings import Findings
from audit.findings.analyze import Block, analyze_blocks
from audit.store import RunWriter

__all__ = ["BLOCK_TEXTS", "FindingsTables", "attribution_blocks", "findings_of_blocks"]

_FINDINGS_PRED = ["dataset", "example_id", "gold", "pred", "correct"]
_FINDINGS_TOKENS = ["dataset", "example_id", "position", "token", "pos", "score_pred"]


BLOCK_TEXTS = 4096
"""Texts per block the streamed findings work on: whole chunks joined up to this many texts (a block's
tables are a few MB; fewer, larger blocks keep the per-call pandas overhead off 1M-row runs)."""


def attribution_blocks(writer: RunWriter, *, block_texts: int | None = None) -> Iterator[Block]:
    """The run's ``(predictions, token_attributions, segments)`` as blocks of whole attribution chunks (at
    least ``block_texts`` texts each but the last), in table order, with the columns the findings read:
    the blocks :func:`~audit.findings.analyze.analyze_blocks` takes (``block_texts`` default: :data:`BLOCK_TEXTS`)."""
    limit = BLOCK_TEXTS if block_texts is None else block_texts
    parts: list[tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]] = []

    def block() -> Block:
        pred = pd.concat([p for p, _, _ in parts], ignore_index=True)
        toks = [t for _, t, _ in parts if t is not None and len(t.columns)]
        segs = [s for _, _, s in parts if s is not None and len(s.columns)]
        parts.clear()
        return (pred, pd.concat(toks, ignore_index=True) if toks else pd.DataFrame(columns=_FINDINGS_TOKENS),
                pd.concat(segs, ignore_index=True) if segs else None)

    n = 0
    for index, pred in writer.iter_chunks(STAGE_PRED, columns=_FINDINGS_PRED):
        parts.append((pred, writer.read_chunk(STAGE_TOKENS, index, columns=_FINDINGS_TOKENS),
                      writer.read_chunk(STAGE_SEGMENTS, index)))
        n += len(pred)
        if n >= limit:
            yield block()
            n = 0
    if parts:
        yield block()


@dataclass
class FindingsTables:
    """The findings stage's output: :class:`Findings` plus the raw driver words and POS statistics."""

    found: Findings
    driver_words: pd.DataFrame
    pos_stats: pd.DataFrame


def _reat_word_drivers(pred: pd.DataFrame, toks: pd.DataFrame, config: NightlyConfig) -> pd.DataFrame:
    """Each error's top REAT words (the word rows of ``failure_drivers``, before the cap samples errors)."""
    return failure_drivers(pred, toks, pd.DataFrame(columns=["dataset", "example_id", "level"]),
                           top_k=config.findings.top_k, levels=("word",))


def findings_of_blocks(prep: Prepared, blocks: Callable[[], Iterable[Block]], config: NightlyConfig, *,
                       spill_dir: Path | None = None) -> FindingsTables:
    """Every findings table from the run given block by block (two passes, no table assembled): see
    :func:`~audit.findings.analyze.analyze_blocks`; driver words and POS statistics are accumulated in
    its first pass.  Rows kept for ranks and quantiles go to disk under ``spill_dir`` past
    :data:`audit._spill.SPILL_ROWS` (the job passes its run's scratch folder)."""
    words = DriverWordCounts(words_only=config.findings.words_only, spill_dir=spill_dir)
    pos = PosScores(spill_dir=spill_dir)

    def count(block: Block) -> None:
        pred, toks, _ = block
        words.add(pred, toks, _reat_word_drivers(pred, toks, config))
        pos.add(toks)

    found = analyze_blocks(blocks, model=prep.model, config=config.findings, seed=config.seed, on_block=count,
                           spill_dir=spill_dir)
    for _, toks, _ in blocks():  # the driver words are known now: their scores, for mean and std
        words.add_scores(toks)
    return FindingsTables(found=found, pos_stats=pos.finish(),
                          driver_words=words.finish(label_names=prep.model.labels, train_counts=prep.train_counts))
