"""The per-chunk work of the nightly job, the same on every executor.

* attribution: predict + REAT (word, phrase, clause) one batch of texts ->
  chunks ``predict_attr_tokens``, ``predict_attr_segments``, ``predict_attr`` (marker);
* attack: the REAT-guided WordNet attack of one chunk of target texts -> chunk ``attack``;
* flip_candidates / flip_probes: the driver-word flip probes of one chunk of probed texts
  (:mod:`audit.engine.flips`) -> chunks ``flip_candidates``, then ``flip_variants`` + ``flip_counts``.

A payload carries either the batch itself (``batch``: texts, tokens, golds...)
or, for a streamed dataset, only where the block is (``block``: a
:class:`~audit.data.stream.StreamSource` and :class:`~audit.data.stream.BlockRef`),
which the worker reads itself.  :func:`build_work` loads the model once per
worker (or takes the driver's) and checks it is the model the driver hashed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.engine.attribute import BatchInput, attribute_batch
from audit.engine.executors.base import ChunkTask, ChunkWork, WorkSpec
from audit.engine.meta import seed_everything
from audit.errors import ModelError

if TYPE_CHECKING:
    from audit.data.stream import ScannedDataset
    from audit.engine.config import NightlyConfig
    from audit.models.base import AuditModel

log = logging.getLogger(__name__)

STAGE_PRED, STAGE_TOKENS, STAGE_SEGMENTS = "predict_attr", "predict_attr_tokens", "predict_attr_segments"
STAGE_ATTACK = "attack"


# ----------------------------------------------------------------------------- specs and tasks
def worker_model_ref(ref: str) -> str:
    """The model reference a worker loads: an existing directory made absolute (workers may run elsewhere)."""
    path = Path(ref)
    return str(path.resolve()) if path.is_dir() else ref


def attribution_spec(config: NightlyConfig) -> WorkSpec:
    return WorkSpec(kind="attribution", threads=config.threads, seed=config.seed, stages=(STAGE_TOKENS, STAGE_SEGMENTS, STAGE_PRED),
                    options={"max_len": config.max_len})


def batch_payload(batch: BatchInput) -> dict[str, Any]:
    ids = list(batch.example_ids)
    return {"batch": {"dataset": batch.dataset, "start": int(ids[0]) if ids else 0, "stop": int(ids[-1]) + 1 if ids else 0,
                      "lines": [int(x) for x in batch.lines], "texts": list(batch.texts),
                      "golds": [int(x) for x in batch.golds], "tokens": [list(t) for t in batch.tokens]}}


def memory_tasks(batches: Iterable[BatchInput]) -> Iterator[ChunkTask]:
    """Chunk ``i`` = the ``i``-th batch of the in-memory datasets."""
    for i, batch in enumerate(batches):
        yield ChunkTask(index=i, payload=batch_payload(batch), n_texts=len(batch.texts))


def stream_tasks(scanned: Sequence[ScannedDataset], *, max_len: int | None, with_rows: bool,
                 tokenize: Callable[[str], list[str]]) -> Iterator[ChunkTask]:
    """Chunk ``i`` = the ``i``-th block of the streamed datasets (the same chunks as :func:`memory_tasks`).

    ``with_rows``: read each block here in one sequential pass and ship its rows (local executor);
    otherwise ship only where the block is, and the worker reads it (Ray).  ``tokenize``: the model's, which
    the scan's row rules used (a text without tokens is a bad row), so the blocks leave out the same rows."""
    from audit.data.stream import iter_blocks

    index = 0
    for ds in scanned:
        if with_rows:
            for block in iter_blocks(ds, tokenizer=tokenize):
                toks = [_truncate(tokenize(t), max_len) for t in block.texts]
                batch = BatchInput(dataset=ds.name, example_ids=range(block.ref.start, block.ref.stop),
                                   lines=block.lines, texts=block.texts, golds=block.labels, tokens=toks)
                yield ChunkTask(index=index, payload=batch_payload(batch), n_texts=len(block.texts))
                index += 1
        else:
            for ref in ds.blocks:
                yield ChunkTask(index=index, payload={"block": {"source": ds.source.to_json(),
                                                                "ref": dataclasses.asdict(ref)}},
                                n_texts=ref.stop - ref.start)
                index += 1


def attack_spec(config: NightlyConfig) -> WorkSpec:
    from audit.engine.adversarial import ATTACK_SEED_OFFSET

    return WorkSpec(kind="attack", threads=config.threads, seed=config.seed + ATTACK_SEED_OFFSET, stages=(STAGE_ATTACK,),
                    options={"attack": config.attack.library_config().model_dump(mode="json")})


def attack_tasks(targets: pd.DataFrame, tokens: Mapping[str, Sequence[Sequence[str]]],
                 config: NightlyConfig) -> tuple[WorkSpec, Iterator[ChunkTask]]:
    """The attack stage: chunks of ``batch_size`` target texts, in table order."""
    spec = attack_spec(config)
    size = config.batch_size

    def tasks() -> Iterator[ChunkTask]:
        for i, start in enumerate(range(0, len(targets), size)):
            chunk = targets.iloc[start : start + size]
            items = [[str(ds), int(ex), int(gold), list(tokens[str(ds)][int(ex)])]
                     for ds, ex, gold in zip(chunk["dataset"], chunk["example_id"], chunk["gold"], strict=True)]
            yield ChunkTask(index=i, payload={"items": items}, n_texts=len(items))

    return spec, tasks()


def _truncate(tokens: list[str], max_len: int | None) -> list[str]:
    return tokens[:max_len] if max_len is not None else tokens


# ----------------------------------------------------------------------------- building the work
def load_worker_model(model_ref: str, model_hash: str) -> AuditModel:
    """Load the model in a worker and check it is the one the driver hashed."""
    from audit.models.io import fingerprint_model, load_model_ref, model_fingerprint

    model = load_model_ref(model_ref)
    digest = model_fingerprint(model_ref) if Path(model_ref).is_dir() else fingerprint_model(model)
    if model_hash and digest != model_hash:
        raise ModelError("the model a worker loaded is not the one the driver audits (different fingerprint)",
                         path=model_ref, hint="put the model where every node reads the same files")
    model.module.eval()
    return model


def build_work(spec: WorkSpec, *, model: AuditModel) -> ChunkWork:
    """The callable ``work(index, payload) -> {stage: table}`` of ``spec`` for an already loaded model."""
    if spec.kind == "attribution":
        return _AttributionWork(spec, model)
    if spec.kind == "attack":
        return _AttackWork(spec, model)
    if spec.kind == "flip_candidates":
        return _FlipCandidatesWork(spec, model)
    if spec.kind == "flip_probes":
        return _FlipProbesWork(spec, model)
    raise ValueError(f"unknown work kind {spec.kind!r}")


class _AttributionWork:
    def __init__(self, spec: WorkSpec, model: AuditModel) -> None:
        self.spec, self.model = spec, model
        self.max_len: int | None = spec.options.get("max_len")

    def _batch(self, payload: Mapping[str, Any]) -> BatchInput:
        if "batch" in payload:
            b = payload["batch"]
            return BatchInput(dataset=b["dataset"], example_ids=range(b["start"], b["stop"]), lines=b["lines"],
                              texts=b["texts"], golds=b["golds"], tokens=b["tokens"])
        from audit.data.stream import BlockRef, StreamSource, read_block

        source = StreamSource.from_json(payload["block"]["source"])
        block = read_block(source, BlockRef(**payload["block"]["ref"]), tokenizer=self.model.tokenize)
        toks = [_truncate(self.model.tokenize(t), self.max_len) for t in block.texts]
        return BatchInput(dataset=source.name, example_ids=range(block.ref.start, block.ref.stop),
                          lines=block.lines, texts=block.texts, golds=block.labels, tokens=toks)

    def __call__(self, index: int, payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
        batch = self._batch(payload)
        seed_everything(self.spec.seed + index)
        tables = attribute_batch(self.model, batch)
        return {STAGE_TOKENS: tables.tokens, STAGE_SEGMENTS: tables.segments, STAGE_PRED: tables.predictions}


class _AttackWork:
    def __init__(self, spec: WorkSpec, model: AuditModel) -> None:
        from audit.attack import AttackConfig, ReatWordNetAttack

        self.spec, self.model = spec, model
        self.attack = ReatWordNetAttack(AttackConfig.model_validate(spec.options["attack"]))

    def __call__(self, index: int, payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
        from audit.engine.adversarial import attack_chunk

        seed_everything(self.spec.seed + index)
        items = [(str(d), int(e), int(g), list(t)) for d, e, g, t in payload["items"]]
        return {STAGE_ATTACK: attack_chunk(self.attack, self.model, items)}


class _FlipCandidatesWork:
    """Stage 1 of the driver-word flip probes (:mod:`audit.engine.flips`): synonym candidates per chunk."""

    def __init__(self, spec: WorkSpec, model: AuditModel) -> None:
        from audit.attack import AttackConfig

        self.spec, self.model = spec, model
        self.config = AttackConfig.model_validate(spec.options["attack"])
        self.words = [str(w) for w in spec.options["words"]]

    def __call__(self, index: int, payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
        from audit.engine.flips import STAGE_FLIP_CANDIDATES, candidates_chunk

        seed_everything(self.spec.seed + index)
        return {STAGE_FLIP_CANDIDATES: candidates_chunk(self.model, self.config, self.words, payload["items"])}


class _FlipProbesWork:
    """Stage 2 of the driver-word flip probes: every probe of the plan on one chunk of texts."""

    def __init__(self, spec: WorkSpec, model: AuditModel) -> None:
        from audit.attack import AttackConfig, MeaningFlagger, ReatWordNetAttack

        self.spec, self.model = spec, model
        self.config = AttackConfig.model_validate(spec.options["attack"])
        self.plan = [tuple(p) for p in spec.options["plan"]]
        self.validator = ReatWordNetAttack(self.config).validator
        self.flagger = MeaningFlagger(top_k=self.config.sense_top_k, expand_intensifiers=self.config.expand_intensifiers,
                                      extra_synonyms=self.config.extra_synonyms)

    def __call__(self, index: int, payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
        from audit.engine.flips import probes_chunk

        seed_everything(self.spec.seed + index)
        return probes_chunk(self.model, self.config, self.plan, payload["items"], validator=self.validator,
                            flagger=self.flagger)
