"""Datasets, tokenization, vocabulary and word vectors.

Public API (see docs/ARCHITECTURE.md, "Data contract")::

    from audit.data import Dataset, read_dataset, tokenize, Vocab, load_vectors
"""

from __future__ import annotations

from audit.data.embeddings import load_vectors
from audit.data.readers import FORMATS, Dataset, read_dataset
from audit.data.tokenize import tokenize
from audit.data.vocab import PAD, UNK, Vocab

__all__ = ["Dataset", "FORMATS", "PAD", "UNK", "Vocab", "load_vectors", "read_dataset", "tokenize"]
