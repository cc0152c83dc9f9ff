"""Word vectors for similarity look-ups (the GloVe 50d file the models are trained with).

The file is read once per path with :mod:`audit.data.embeddings` (the one reader of
word-vector files) and kept as a row-normalised matrix.  The default file is
``<AUDIT_DATA_DIR>/embeddings/glove.6B.50d.subset.txt.gz``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from audit.settings import data_dir, resolve_data_path

log = logging.getLogger(__name__)

DEFAULT_VECTORS = "data:embeddings/glove.6B.50d.subset.txt.gz"


class WordVectors:
    """Unit-length word vectors; look-ups are lower-cased.  Build with :func:`load_word_vectors`."""

    def __init__(self, words: list[str], matrix: np.ndarray, *, source: str = "") -> None:
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        self._index = {w: i for i, w in enumerate(words)}
        self.source = source
        self.memo: dict[object, object] = {}
        """Derived values cached by their users (e.g. sense signature vectors)."""

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._index

    def vector(self, word: str) -> np.ndarray | None:
        i = self._index.get(word.lower())
        return None if i is None else self._matrix[i]

    def cosine(self, a: str, b: str) -> float | None:
        """Cosine similarity of two words; None when either is missing."""
        va, vb = self.vector(a), self.vector(b)
        if va is None or vb is None:
            return None
        return float(va @ vb)

    def mean(self, words: Iterable[str]) -> np.ndarray | None:
        """Unit-length mean of the vectors of the words found (None if none is)."""
        rows = [self._index[w.lower()] for w in words if w.lower() in self._index]
        if not rows:
            return None
        v = self._matrix[rows].mean(axis=0)
        n = float(np.linalg.norm(v))
        return None if n == 0 else v / n


def default_vectors_path() -> Path:
    return data_dir() / "embeddings" / "glove.6B.50d.subset.txt.gz"


@lru_cache(maxsize=2)
def _load(path: str) -> WordVectors:
    from audit.data.embeddings import load_vectors, vector_words
    from audit.data.vocab import PAD, UNK, Vocab

    words = list(dict.fromkeys(w for w in vector_words(path) if w not in (PAD, UNK)))
    matrix, _ = load_vectors(path, Vocab([PAD, UNK, *words]))
    log.info("word vectors for similarity: %d words from %s", len(words), path)
    return WordVectors(words, matrix.numpy()[2:], source=path)


def load_word_vectors(path: str | Path | None = None) -> WordVectors:
    """Word vectors from ``path`` (``data:`` prefix allowed; default: the shared GloVe 50d subset), cached."""
    resolved = default_vectors_path() if path is None else resolve_data_path(path)
    return _load(str(resolved))
