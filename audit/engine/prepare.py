"""The nightly job's inputs: load the model and read (or, with ``stream: true``, scan) every dataset.

Everything here happens before a run is opened, so a bad input fails the job with nothing written.
Datasets are read with :func:`audit.data.spec.read_spec` (labels checked against and mapped onto the
model's, ``on_bad_rows``, ``max_examples``; a text without tokens is a bad row), or scanned block by
block with its streaming twin :func:`audit.data.stream.scan_spec` (the same rows, errors and skipped rows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.data.readers import Dataset
from audit.data.spec import read_spec
from audit.data.stream import ScannedDataset, scan_spec
from audit.engine.config import DatasetSpec, NightlyConfig
from audit.engine.drivers import train_label_counts
from audit.errors import DataError
from audit.models.base import AuditModel

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything read before the run starts."""

    model: AuditModel
    model_ref: str
    model_hash: str
    datasets: list[Dataset]
    tokens: dict[str, list[list[str]]]  # dataset name -> per-example tokens (truncated to max_len)
    n_truncated: int
    train_counts: pd.DataFrame | None
    train_hash: str | None
    truncated: dict[str, int] = field(default_factory=dict)  # dataset name -> texts truncated to max_len
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)  # bad rows left out (on_bad_rows: skip)
    scanned: list[ScannedDataset] = field(default_factory=list)  # ``stream: true``: datasets are not held whole


def load_model_for_job(config: NightlyConfig) -> tuple[AuditModel, str]:
    """Load the configured model (training the reference model first if its directory is missing)."""
    from audit.models.io import fingerprint_model, load_model_ref, model_fingerprint

    ref = config.model
    path = Path(ref)
    if not path.is_dir() and ":" in ref:  # module:function or path/file.py:function adapter
        model = load_model_ref(ref)
        return model, fingerprint_model(model)
    if not path.exists() and config.train_config is not None:
        from audit.models.train import ensure_reference_model

        log.info("model %s is missing: training it from %s", path, config.train_config)
        ensure_reference_model(config.train_config, path)
    model = load_model_ref(str(path))
    return model, model_fingerprint(path)


def _read(spec: DatasetSpec, *, model: AuditModel) -> Dataset:
    """The dataset with labels as the model's class ids (refused when they do not map onto the model's labels);
    a text without tokens is a bad row (``spec.on_bad_rows``)."""
    return read_spec(spec, model_labels=tuple(model.labels), tokenizer=model.tokenize)


def _tokenize(model: AuditModel, ds: Dataset, max_len: int | None) -> tuple[list[list[str]], int]:
    out, truncated = [], 0
    for text, line in zip(ds.texts, ds.lines, strict=True):
        toks = model.tokenize(text)
        if not toks:
            raise DataError("the text has no tokens", path=ds.path, line=line, hint="remove the row or give it a text")
        if max_len is not None and len(toks) > max_len:
            toks, truncated = toks[:max_len], truncated + 1
        out.append(toks)
    return out, truncated


def _scan(spec: DatasetSpec, *, model: AuditModel, config: NightlyConfig) -> tuple[ScannedDataset, int]:
    """``stream: true``: check (as :func:`_read`) and tokenize every row in one bounded pass; keep only the
    block starts.  Returns the scan and how many kept texts are longer than ``max_len``."""
    truncated = 0
    last: list[str] = []

    def tokenize(text: str) -> list[str]:  # the row rules tokenize each text; the hook below reuses it
        nonlocal last
        last = model.tokenize(text)
        return last

    def count(line: int, text: str) -> None:  # called right after the row rules accepted ``text``
        nonlocal truncated
        truncated += config.max_len is not None and len(last) > config.max_len

    scanned = scan_spec(spec, block_rows=config.batch_size, model_labels=tuple(model.labels), tokenizer=tokenize,
                        on_row=count)
    return scanned, truncated


def prepare(config: NightlyConfig) -> Prepared:
    """Load the model and read every dataset (all errors surface before a run is opened).

    With ``stream: true`` the datasets are scanned (validated, hashed, tokenized) block by block and
    not kept: :attr:`Prepared.scanned` replaces ``datasets`` and ``tokens``."""
    model, model_hash = load_model_for_job(config)
    labels = tuple(model.labels)
    scanned: list[ScannedDataset] = []
    tokens: dict[str, list[list[str]]] = {}
    n_truncated, truncated = 0, {}
    if config.stream:
        for spec in config.datasets:
            ds_scan, n = _scan(spec, model=model, config=config)
            scanned.append(ds_scan)
            n_truncated += n
            truncated[ds_scan.name] = n
            if n:
                log.warning("%s: %d of %d texts are longer than max_len=%d tokens and were truncated",
                            ds_scan.name, n, ds_scan.n_rows, config.max_len)
    datasets = [] if config.stream else [_read(spec, model=model) for spec in config.datasets]
    skipped = [b.to_dict(ds.name) for ds in scanned for b in ds.skipped]
    skipped += [b.to_dict(ds.name) for ds in datasets for b in ds.skipped]
    for ds in datasets:
        tokens[ds.name], n = _tokenize(model, ds, config.max_len)
        n_truncated += n
        truncated[ds.name] = n
        if n:
            log.warning("%s: %d of %d texts are longer than max_len=%d tokens and were truncated",
                        ds.name, n, len(ds), config.max_len)
    train_counts, train_hash = None, None
    if config.train_data is not None:
        train = _read(config.train_data, model=model)
        train_counts = train_label_counts([model.tokenize(t) for t in train.texts], train.labels, labels)
        train_hash = train.sha256
        skipped += [b.to_dict("train_data") for b in train.skipped]
    return Prepared(model, config.model, model_hash, datasets, tokens, n_truncated, train_counts, train_hash,
                    truncated=truncated, skipped_rows=skipped, scanned=scanned)


def attack_tokens(prep: Prepared, predictions: pd.DataFrame, *, max_len: int | None,
                  only: pd.DataFrame | None = None) -> dict[str, list[list[str]]]:
    """Per-dataset tokens for the attack stage: ``prep.tokens``, or re-tokenized from the predictions'
    texts when the datasets were streamed.  With ``only`` (rows with dataset and example_id: the texts
    to attack) a streamed run tokenizes just those; every other text gets an empty (shared) list, so the
    stage holds the attacked texts' tokens plus one pointer per text (see docs/scale-out.md).

    The lists are indexed by example_id: ``predictions`` may hold only some rows of each dataset (the
    streamed job keeps just the ones the attack reads); a list runs up to its largest example_id."""
    if not prep.scanned:
        return prep.tokens
    wanted = None if only is None else set(zip(only["dataset"].astype(str), only["example_id"].astype(int)))
    none: list[str] = []
    out: dict[str, list[list[str]]] = {}
    for name, group in predictions.groupby("dataset", sort=False):
        ids = [int(ex) for ex in group["example_id"]]
        toks: list[list[str]] = [none] * (max(ids) + 1)
        for ex, text in zip(ids, group["text"], strict=True):
            if wanted is not None and (str(name), ex) not in wanted:
                continue
            t = prep.model.tokenize(str(text))
            toks[ex] = t[:max_len] if max_len else t
        out[str(name)] = toks
    return out
