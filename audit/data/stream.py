"""Read a labelled dataset block by block, never whole (bounded memory for large inputs).

The row parsing and every check are those of :mod:`audit.data.readers` (the
same :class:`~audit.errors.DataError` naming file, line and problem, the same
labels, texts and line numbers, the same sha256 of the file bytes), so a
streamed dataset yields exactly the rows :func:`~audit.data.readers.read_dataset`
returns.  Only the I/O differs: text formats are read line by line (each line
decoded on its own), Parquet batch by batch with only the two needed columns.

Two steps:

* :func:`scan_dataset` reads the file once, validates every row (so a bad row
  fails the job before a run is opened, as with the whole-file reader), hashes
  the bytes and records where each block of ``block_rows`` rows starts
  (:class:`BlockRef`: first row, byte offset and line of its first record).
  What it keeps grows with ``N / block_rows``, not with ``N``.
* :func:`iter_blocks` reads the blocks in order (one sequential pass), and
  :func:`read_block` reads one block anywhere in the file (a seek for text
  formats; the covering row groups for Parquet), which is how Ray workers read
  their blocks without the driver shipping the texts.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from audit.data.readers import FORMATS, _column_index, _delimited_rows, _jsonl_rows, _Labeller, infer_format
from audit.errors import DataError

__all__ = ["Block", "BlockRef", "ScannedDataset", "StreamSource", "iter_blocks", "read_block", "scan_dataset"]

log = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH = 8192

RowHook = Callable[[int, str], None]
"""Called as ``hook(line, text)`` for each row during the scan (the job checks tokens there)."""


@dataclass(frozen=True)
class BlockRef:
    """Where one block starts: rows ``start..stop-1`` (0-based example ids)."""

    index: int
    start: int
    stop: int
    offset: int = 0  # byte offset of the block's first record (text formats)
    line: int = 1  # line of the block's first record (text formats)


@dataclass(frozen=True)
class Block:
    """The rows of one block, as :class:`~audit.data.readers.Dataset` holds them."""

    ref: BlockRef
    texts: list[str]
    labels: list[int]
    lines: list[int]


@dataclass(frozen=True)
class StreamSource:
    """How to read one dataset file (plain data: it travels to Ray workers as JSON)."""

    name: str
    path: str
    fmt: str
    text_column: str | int = "text"
    label_column: str | int = "label"
    label_map: dict[str, int] | None = None
    label_names: tuple[str, ...] | None = None
    header: tuple[str, ...] = ()  # first record of a TSV/CSV file (its column names)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "fmt": self.fmt, "text_column": self.text_column,
                "label_column": self.label_column, "label_map": self.label_map,
                "label_names": list(self.label_names) if self.label_names is not None else None,
                "header": list(self.header)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamSource:
        names = data.get("label_names")
        return cls(name=data["name"], path=data["path"], fmt=data["fmt"], text_column=data["text_column"],
                   label_column=data["label_column"], label_map=data.get("label_map"),
                   label_names=tuple(names) if names is not None else None, header=tuple(data.get("header") or ()))


@dataclass
class ScannedDataset:
    """A validated dataset file: its identity, size, labels and block starts (not its rows)."""

    source: StreamSource
    sha256: str
    n_rows: int
    label_names: tuple[str, ...]
    blocks: list[BlockRef] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name


# ----------------------------------------------------------------------------- text formats
def _decode(raw: bytes, path: Path, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 (byte {raw[exc.start]:#04x} in the line)", path=path, line=line,
                        hint="re-save the file as UTF-8") from exc


def _raw_lines(fh: IO[bytes], *, offset: int, line: int) -> Iterator[tuple[int, int, bytes, int]]:
    """``(line, byte offset, bytes incl. newline (a leading BOM dropped), offset of the next line)``."""
    fh.seek(offset)
    pos = offset
    for raw in iter(fh.readline, b""):
        end = pos + len(raw)
        yield line, pos, (raw[len(_BOM):] if pos == 0 and raw.startswith(_BOM) else raw), end
        pos = end
        line += 1


def _content_lines(fh: IO[bytes], path: Path, *, offset: int, line: int) -> Iterator[tuple[int, int, str]]:
    """Decoded lines without their newline; trailing blank lines at the end of the file dropped, as
    :mod:`audit.data.readers` does for TSV and JSONL (a blank line in the middle is kept, and refused)."""
    pending: list[tuple[int, int, str]] = []
    for no, pos, raw, _ in _raw_lines(fh, offset=offset, line=line):
        text = _decode(raw, path, no)
        text = text.removesuffix("\n")
        if not text.strip():
            pending.append((no, pos, text))
            continue
        yield from pending
        pending.clear()
        yield no, pos, text


def _text_records(fh: IO[bytes], path: Path, fmt: str, *, offset: int,
                  line: int) -> Iterator[tuple[int, int, list[str] | str]]:
    """``(line, offset, record)``: TSV/CSV fields, or the JSONL line."""
    if fmt == "csv":
        feed = _CsvFeed(_raw_lines(fh, offset=offset, line=line), path, offset=offset, line=line)
        reader = csv.reader(feed)
        while True:
            start_line, start_offset = feed.next_line, feed.next_offset
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(f"malformed CSV ({exc})", path=path, line=start_line) from exc
            yield start_line, start_offset, row
    for no, pos, text in _content_lines(fh, path, offset=offset, line=line):
        yield no, pos, (text.rstrip("\r").split("\t") if fmt == "tsv" else text)


class _CsvFeed:
    """Decoded lines for ``csv.reader``, tracking where the next record starts."""

    def __init__(self, lines: Iterator[tuple[int, int, bytes, int]], path: Path, *, offset: int, line: int) -> None:
        self._lines, self._path = lines, path
        self.next_offset, self.next_line = offset, line

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        no, _, raw, end = next(self._lines)
        self.next_offset, self.next_line = end, no + 1
        return _decode(raw, self._path, no)


def _jsonl_row(text: str, path: Path, source: StreamSource, line: int) -> tuple[int, str | None, object]:
    try:
        rows = list(_jsonl_rows(text, path, str(source.text_column), str(source.label_column)))
    except DataError as exc:  # the readers number the lines of the text they get: renumber
        raise DataError(exc.message, path=path, line=line, hint=exc.hint) from exc
    if len(rows) != 1:
        raise DataError("blank line in the middle of the file", path=path, line=line, hint="remove it")
    return (line, rows[0][1], rows[0][2])


def _text_rows(source: StreamSource, fh: IO[bytes], *, offset: int, line: int,
               skip_header: bool) -> Iterator[tuple[int, int, str | None, object]]:
    """``(line, offset, text, raw label)`` of the data rows from ``offset``."""
    path = Path(source.path)
    records = _text_records(fh, path, source.fmt, offset=offset, line=line)
    if source.fmt == "jsonl":
        for no, pos, rec in records:
            assert isinstance(rec, str)
            _, txt, lab = _jsonl_row(rec, path, source, no)
            yield no, pos, txt, lab
        return
    offsets: dict[int, int] = {}

    def tracked() -> Iterator[tuple[int, list[str]]]:
        if not skip_header:  # a block in the middle: the readers check fields against the header record
            yield 0, list(source.header)
        for no, pos, rec in records:
            assert isinstance(rec, list)
            offsets[no] = pos
            yield no, rec

    for no, txt, lab in _delimited_rows(tracked(), path, source.text_column, source.label_column, header=True):
        yield no, offsets.pop(no), txt, lab
        offsets.clear()


# ----------------------------------------------------------------------------- parquet
def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq  # lazy: pyarrow is heavy

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"cannot read Parquet file ({exc})", path=path) from exc


def _parquet_rows(source: StreamSource, *, start: int = 0,
                  stop: int | None = None) -> Iterator[tuple[int, str | None, object]]:
    """``(row number from 1, text, raw label)`` for rows ``start..stop-1``, reading only the covering row groups
    (the whole file batch by batch when ``stop`` is None; row groups through a small per-process cache for a
    block, so neighbouring blocks of one row group decode it once)."""
    path = Path(source.path)
    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    cols = [names[_column_index(names, c, path, w)] for c, w in ((source.text_column, "text"),
                                                                 (source.label_column, "label"))]
    try:
        if stop is None:
            row = 0
            for batch in pf.iter_batches(batch_size=_PARQUET_BATCH, columns=cols):
                for txt, lab in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    if row >= start:
                        yield _parquet_row(path, row, txt, lab)
                    row += 1
            return
        row0 = 0
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if row0 + n > start and row0 < stop:
                texts, labels = _row_group(pf, path, g, cols)
                for i in range(max(start - row0, 0), min(stop - row0, n)):
                    yield _parquet_row(path, row0 + i, texts[i], labels[i])
            row0 += n
            if row0 >= stop:
                return
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read Parquet file ({exc})", path=path) from exc


def _parquet_row(path: Path, row: int, txt: object, lab: object) -> tuple[int, str | None, object]:
    if txt is not None and not isinstance(txt, str):
        raise DataError(f"text must be a string, got {type(txt).__name__}", path=path, line=row + 1)
    return row + 1, txt, lab


_GROUPS: OrderedDict[tuple[str, int, int, int], tuple[list[Any], list[Any]]] = OrderedDict()
_GROUPS_KEPT = 2


def _row_group(pf: Any, path: Path, group: int, cols: list[str]) -> tuple[list[Any], list[Any]]:
    """The text and label columns of one row group (the last few kept, keyed by file identity)."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, group)
    if key in _GROUPS:
        _GROUPS.move_to_end(key)
        return _GROUPS[key]
    table = pf.read_row_group(group, columns=cols)
    value = (table.column(0).to_pylist(), table.column(1).to_pylist())
    _GROUPS[key] = value
    while len(_GROUPS) > _GROUPS_KEPT:
        _GROUPS.popitem(last=False)
    return value


# ----------------------------------------------------------------------------- public API
def _source(path: Path, *, name: str | None, fmt: str | None, text_column: str | int, label_column: str | int,
            label_map: Mapping[str, int] | None, label_names: Sequence[str] | None) -> StreamSource:
    fmt = (fmt or infer_format(path)).lower()
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}", path=path, hint=f"use one of {'|'.join(FORMATS)}")
    if not path.is_file():
        raise DataError("dataset file does not exist", path=path, hint="check the path (data:... paths use AUDIT_DATA_DIR)")
    return StreamSource(name=name or path.stem, path=str(path), fmt=fmt, text_column=text_column,
                        label_column=label_column, label_map=dict(label_map) if label_map is not None else None,
                        label_names=tuple(label_names) if label_names is not None else None)


def _file_digest(path: Path) -> tuple[str, bool]:
    """sha256 of the bytes (as the whole-file reader computes it) and whether any byte is not whitespace."""
    h, content = hashlib.sha256(), False
    with path.open("rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            h.update(piece)
            content = content or bool(piece.strip())
    return h.hexdigest(), content


def _rows_from(source: StreamSource, *, offset: int = 0, line: int = 1, start: int = 0, stop: int | None = None,
               first: bool = True) -> Iterator[tuple[int, int, str | None, object]]:
    """``(line, offset, text, raw label)``; text formats from ``offset`` (``first``: the file start, header
    included), Parquet rows ``start..stop-1``."""
    if source.fmt == "parquet":
        for no, txt, lab in _parquet_rows(source, start=start, stop=stop):
            yield no, 0, txt, lab
        return
    with Path(source.path).open("rb") as fh:
        yield from _text_rows(source, fh, offset=offset, line=line, skip_header=first)


def _header(source: StreamSource) -> StreamSource:
    """The source with its TSV/CSV header record (needed to read a block in the middle of the file)."""
    if source.fmt not in ("tsv", "csv"):
        return source
    path = Path(source.path)
    with path.open("rb") as fh:
        for _, _, rec in _text_records(fh, path, source.fmt, offset=0, line=1):
            assert isinstance(rec, list)
            return StreamSource(**{**source.__dict__, "header": tuple(rec)})
    return source


def scan_dataset(
    path: str | Path, *, block_rows: int, text_column: str | int = "text", label_column: str | int = "label",
    label_map: Mapping[str, int] | None = None, fmt: str | None = None, name: str | None = None,
    label_names: Sequence[str] | None = None, on_row: RowHook | None = None,
) -> ScannedDataset:
    """Validate every row of ``path`` in one bounded pass and record its blocks of ``block_rows`` rows."""
    if block_rows < 1:
        raise ValueError("block_rows must be >= 1")
    p = Path(path)
    source = _source(p, name=name, fmt=fmt, text_column=text_column, label_column=label_column,
                     label_map=label_map, label_names=label_names)
    digest, content = _file_digest(p)
    if not content:
        raise DataError("the file is empty", path=p)
    source = _header(source)
    labeller = _Labeller(p, source.label_map, source.label_names)
    blocks: list[BlockRef] = []
    n, max_label = 0, 0
    block_offset, block_line = 0, 1
    for no, pos, txt, lab in _rows_from(source):
        if n % block_rows == 0:
            block_offset, block_line = pos, no
        text = _checked_text(txt, p, no)
        max_label = max(max_label, labeller(lab, no))
        if on_row is not None:
            on_row(no, text)
        n += 1
        if n % block_rows == 0:
            blocks.append(BlockRef(index=len(blocks), start=n - block_rows, stop=n, offset=block_offset,
                                   line=block_line))
    if n % block_rows:
        blocks.append(BlockRef(index=len(blocks), start=n - n % block_rows, stop=n, offset=block_offset,
                               line=block_line))
    if n == 0:
        raise DataError("the file has a header but no rows", path=p)
    scanned = ScannedDataset(source=source, sha256=digest, n_rows=n, label_names=labeller.names([max_label]),
                             blocks=blocks)
    log.debug("scanned %d rows in %d blocks from %s (%s, sha256 %s)", n, len(blocks), p, source.fmt, digest[:12])
    return scanned


def _checked_text(txt: str | None, path: Path, line: int) -> str:
    if txt is None or not str(txt).strip():
        raise DataError("empty text", path=path, line=line, hint="remove the row or give it a text")
    return str(txt)


def read_block(source: StreamSource, ref: BlockRef) -> Block:
    """The rows of block ``ref`` (a seek for text formats; only its row groups for Parquet)."""
    labeller = _Labeller(Path(source.path), source.label_map, source.label_names)
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    rows = _rows_from(source, offset=ref.offset, line=ref.line, start=ref.start, stop=ref.stop,
                      first=ref.offset == 0 and source.fmt != "parquet")
    for no, _, txt, lab in rows:
        texts.append(_checked_text(txt, Path(source.path), no))
        labels.append(labeller(lab, no))
        lines.append(no)
        if len(texts) == ref.stop - ref.start:
            break
    if len(texts) != ref.stop - ref.start:
        raise DataError(f"block {ref.index} has {len(texts)} rows, expected {ref.stop - ref.start}: the file "
                        "changed since it was scanned", path=source.path, line=ref.line)
    return Block(ref=ref, texts=texts, labels=labels, lines=lines)


def iter_blocks(scanned: ScannedDataset) -> Iterator[Block]:
    """Every block of ``scanned`` in order, from one sequential pass over the file."""
    source = scanned.source
    labeller = _Labeller(Path(source.path), source.label_map, source.label_names)
    refs = iter(scanned.blocks)
    ref = next(refs, None)
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    for no, _, txt, lab in _rows_from(source):
        if ref is None:
            break
        texts.append(_checked_text(txt, Path(source.path), no))
        labels.append(labeller(lab, no))
        lines.append(no)
        if len(texts) == ref.stop - ref.start:
            yield Block(ref=ref, texts=texts, labels=labels, lines=lines)
            texts, labels, lines = [], [], []
            ref = next(refs, None)
    if ref is not None:
        raise DataError("the file has fewer rows than when it was scanned (it changed)", path=source.path)
