"""Word vectors from a GloVe / word2vec *text* file (optionally gzipped).

:func:`load_vectors` builds an embedding matrix for a :class:`Vocab`: rows of
words found in the file get their vector; ``<pad>`` is all zeros; every other
word gets a small random vector drawn from a seeded generator, so the same
vocab, file and seed always give the same matrix.

SST-2 writes brackets and slashes as ``-lrb-``, ``-rrb-``, ``\\/`` and ``\\*``;
those are looked up as ``(``, ``)``, ``/`` and ``*``.  A hyphenated or slashed
compound missing from the file (``re-imagining``) gets the mean of its parts'
vectors when all parts are found.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from pathlib import Path

import torch

from audit.data.vocab import Vocab
from audit.errors import DataError, ResourceMissingError

__all__ = ["load_vectors", "sst_alias", "vector_words"]

log = logging.getLogger(__name__)

_ALIASES = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}
_SPLIT = re.compile(r"[-/]")


def sst_alias(token: str) -> str:
    """The plain spelling of an SST/PTB-escaped token (``-lrb-`` -> ``(``, ``\\/`` -> ``/``)."""
    return _ALIASES.get(token, token.replace("\\/", "/").replace("\\*", "*"))


def _candidates(vocab: Vocab) -> dict[str, list[int]]:
    """Word in the file -> vocab rows that want it (exact word or its SST alias)."""
    wanted: dict[str, list[int]] = {}
    for idx, tok in enumerate(vocab.tokens):
        if idx in (vocab.pad_id, vocab.unk_id):
            continue
        wanted.setdefault(tok, []).append(idx)
        alias = sst_alias(tok)
        if alias != tok:
            wanted.setdefault(alias, []).append(idx)
        for part in _SPLIT.split(alias):
            if part and part != alias:
                wanted.setdefault(part, [])
    return wanted


def load_vectors(
    path: str | Path,
    vocab: Vocab,
    *,
    seed: int = 0,
    unk_scale: float = 0.1,
) -> tuple[torch.Tensor, int]:
    """Return ``(matrix (len(vocab), dim) float32, number of vocab words found)``.

    Words not in the file get ``uniform(-unk_scale, unk_scale)`` vectors from
    ``torch.Generator().manual_seed(seed)``.  A first line of two integers (word2vec
    text header) is skipped.  Raises :class:`ResourceMissingError` when the file
    is absent and :class:`DataError` (with the line) on a malformed line.
    """
    p = Path(path)
    if not p.is_file():
        raise ResourceMissingError("word-vector file not found", path=p, hint="check `embeddings:` in the config")
    wanted = _candidates(vocab)
    found: dict[str, torch.Tensor] = {}
    dim: int | None = None
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise DataError("not valid UTF-8", path=p, line=lineno) from exc
                if not line.strip():
                    continue
                word, _, rest = line.partition(" ")
                if lineno == 1 and word.isdigit() and rest.strip().isdigit():
                    continue  # word2vec header "count dim"
                values = rest.split()
                if dim is None:
                    dim = len(values)
                    if dim == 0:
                        raise DataError("a word vector line has no values", path=p, line=lineno)
                elif len(values) != dim:
                    raise DataError(f"expected {dim} values, found {len(values)}", path=p, line=lineno)
                if word in wanted and word not in found:
                    try:
                        found[word] = torch.tensor([float(v) for v in values], dtype=torch.float32)
                    except ValueError as exc:
                        raise DataError(f"non-numeric value in the vector of {word!r}", path=p, line=lineno) from exc
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # truncated or corrupt gzip and the like
        raise DataError(f"cannot read word-vector file ({exc})", path=p) from exc
    if dim is None:
        raise DataError("the word-vector file is empty", path=p)

    gen = torch.Generator().manual_seed(seed)
    matrix = (torch.rand(len(vocab), dim, generator=gen) * 2 - 1) * unk_scale
    matrix[vocab.pad_id] = 0.0
    n_exact = n_alias = n_parts = 0
    for idx, tok in enumerate(vocab.tokens):
        if idx in (vocab.pad_id, vocab.unk_id):
            continue
        alias = sst_alias(tok)
        if tok in found:
            matrix[idx] = found[tok]
            n_exact += 1
        elif alias in found:
            matrix[idx] = found[alias]
            n_alias += 1
        else:
            parts = [q for q in _SPLIT.split(alias) if q]
            if len(parts) > 1 and all(q in found for q in parts):
                matrix[idx] = torch.stack([found[q] for q in parts]).mean(0)
                n_parts += 1
    total = n_exact + n_alias + n_parts
    log.info(
        "word vectors from %s: %d of %d vocab words found (%d exact, %d via SST aliases, %d as mean of parts), dim %d",
        p.name, total, len(vocab) - 2, n_exact, n_alias, n_parts, dim,
    )
    return matrix, total


def vector_words(path: str | Path) -> list[str]:
    """The words of a GloVe/word2vec text file, in file order (no vectors parsed)."""
    p = Path(path)
    if not p.is_file():
        raise ResourceMissingError("word-vector file not found", path=p, hint="check `embeddings:` in the config")
    words: list[str] = []
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                word, _, rest = raw.partition(b" ")
                if not rest.strip():
                    continue
                if lineno == 1 and word.isdigit() and rest.strip().isdigit():
                    continue
                try:
                    words.append(word.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise DataError("not valid UTF-8", path=p, line=lineno) from exc
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # truncated or corrupt gzip and the like
        raise DataError(f"cannot read word-vector file ({exc})", path=p) from exc
    return words
