"""The streamed findings stage of ``stream: true`` runs: the attribution chunks read back as blocks of whole
texts, and every findings table accumulated from them in two passes (no run-sized table assembled).

:func:`attribution_blocks` yields the blocks :func:`~audit.findings.analyze.analyze_blocks` takes;
:func:`findings_of_blocks` runs it and counts the raw driver words and POS statistics in its first pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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

__all__ = ["BLOCK_TEXTS", "AttributionBlocks", "FindingsTables", "attribution_blocks", "findings_of_blocks"]

_FINDINGS_PRED = ["dataset", "example_id", "gold", "pred", "correct"]
_FINDINGS_TOKENS = ["dataset", "example_id", "position", "token", "pos", "score_pred"]


BLOCK_TEXTS = 4096
"""Texts per block the streamed findings work on: whole chunks joined up to this many texts (a block's
tables are a few MB; fewer, larger blocks keep the per-call pandas overhead off 1M-row runs)."""


class AttributionBlocks:
    """The run's ``(predictions, token_attributions, segments)`` as blocks of whole attribution chunks (at
    least ``block_texts`` texts each but the last), in table order, with the columns the findings read:
    the blocks :func:`~audit.findings.analyze.analyze_blocks` takes (``block_texts`` default: :data:`BLOCK_TEXTS`).

    Calling it reads every block (and learns which chunks make each one); :meth:`select` then reads only
    the given blocks and :meth:`tokens` only the token tables, so the findings' later passes skip what
    they do not need (the per-chunk file reads were half of the findings' time)."""

    def __init__(self, writer: RunWriter, *, block_texts: int | None = None) -> None:
        self.writer = writer
        self.limit = BLOCK_TEXTS if block_texts is None else block_texts
        self._chunks: list[list[int]] | None = None
        self._has_errors: set[int] = set()

    def __call__(self) -> Iterator[Block]:
        chunks: list[list[int]] = []
        group: list[int] = []
        parts: list[tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]] = []
        n = 0
        for index, pred in self.writer.iter_chunks(STAGE_PRED, columns=_FINDINGS_PRED):
            parts.append((pred, self._tokens(index), self.writer.read_chunk(STAGE_SEGMENTS, index)))
            group.append(index)
            if not pred["correct"].astype(bool).all():
                self._has_errors.add(index)
            n += len(pred)
            if n >= self.limit:
                chunks.append(group)
                group, n = [], 0
                yield _block(parts)
        if parts:
            chunks.append(group)
            yield _block(parts)
        self._chunks = chunks

    def _partition(self) -> list[list[int]]:
        if self._chunks is None:
            for _ in self():
                pass
        assert self._chunks is not None
        return self._chunks

    def _tokens(self, index: int) -> pd.DataFrame | None:
        return self.writer.read_chunk(STAGE_TOKENS, index, columns=_FINDINGS_TOKENS)

    def select(self, ordinals: Sequence[int]) -> Iterator[Block]:
        """The blocks of ``ordinals`` (0 = the first block), in the order given, each read afresh and
        holding only its chunks with an error: the others add no error and no row the findings' error
        pass keeps, so the block's errors, in order, are the whole block's."""
        chunks = self._partition()
        for b in ordinals:
            parts = [(self.writer.read_chunk(STAGE_PRED, i, columns=_FINDINGS_PRED), self._tokens(i),
                      self.writer.read_chunk(STAGE_SEGMENTS, i)) for i in chunks[b] if i in self._has_errors]
            yield _block([(p, t, s) for p, t, s in parts if p is not None])

    def tokens(self) -> Iterator[pd.DataFrame]:
        """The token table of each block, in order (the other tables unread)."""
        for group in self._partition():
            toks = [t for t in (self._tokens(i) for i in group) if t is not None and len(t.columns)]
            yield pd.concat(toks, ignore_index=True) if toks else pd.DataFrame(columns=_FINDINGS_TOKENS)


def attribution_blocks(writer: RunWriter, *, block_texts: int | None = None) -> Iterator[Block]:
    """Every block of :class:`AttributionBlocks` once, in table order."""
    return AttributionBlocks(writer, block_texts=block_texts)()


def _block(parts: list[tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]]) -> Block:
    """One block from its chunks' tables (``parts`` is emptied)."""
    if not parts:
        return pd.DataFrame(columns=_FINDINGS_PRED), pd.DataFrame(columns=_FINDINGS_TOKENS), None
    pred = pd.concat([p for p, _, _ in parts], ignore_index=True)
    toks = [t for _, t, _ in parts if t is not None and len(t.columns)]
    segs = [s for _, _, s in parts if s is not None and len(s.columns)]
    parts.clear()
    return (pred, pd.concat(toks, ignore_index=True) if toks else pd.DataFrame(columns=_FINDINGS_TOKENS),
            pd.concat(segs, ignore_index=True) if segs else None)


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


def findings_of_blocks(prep: Prepared, blocks: Callable[[], Iterable[Block]] | AttributionBlocks, config: NightlyConfig, *,
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
                           spill_dir=spill_dir, select=blocks.select if isinstance(blocks, AttributionBlocks) else None)
    token_tables = blocks.tokens() if isinstance(blocks, AttributionBlocks) else (t for _, t, _ in blocks())
    for toks in token_tables:  # the driver words are known now: their scores, for mean and std
        words.add_scores(toks)
    return FindingsTables(found=found, pos_stats=pos.finish(),
                          driver_words=words.finish(label_names=prep.model.labels, train_counts=prep.train_counts))
