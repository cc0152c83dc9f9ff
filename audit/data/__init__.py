"""Datasets, tokenization, vocabulary and word vectors.

Public API (see docs/ARCHITECTURE.md, "Data contract")::

    from audit.data import Dataset, DatasetSpec, read_spec, read_dataset, tokenize, Vocab, load_vectors
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports only inform type checkers; names resolve lazily)
from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import attach

_EXPORTS = {
    "load_vectors": "audit.data.embeddings",
    "FORMATS": "audit.data.readers",
    "Dataset": "audit.data.readers",
    "read_dataset": "audit.data.readers",
    "BadRow": "audit.data.readers",
    "DatasetSpec": "audit.data.spec",
    "ReadOptions": "audit.data.spec",
    "read_spec": "audit.data.spec",
    "tokenize": "audit.data.tokenize",
    "PAD": "audit.data.vocab",
    "UNK": "audit.data.vocab",
    "Vocab": "audit.data.vocab",
}
__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from audit.data.embeddings import load_vectors
    from audit.data.readers import FORMATS, BadRow, Dataset, read_dataset
    from audit.data.spec import DatasetSpec, ReadOptions, read_spec
    from audit.data.tokenize import tokenize
    from audit.data.vocab import PAD, UNK, Vocab
