"""Read a labelled dataset block by block, never whole (bounded memory for large inputs).

The row parsing and every check are those of :mod:`audit.data.readers`
(:func:`~audit.data.readers.check_row` per row, :func:`~audit.data.readers.check_rows`
for the file: the same bad rows, ``on_bad_rows`` error or skip, the same
:class:`~audit.errors.DataError` naming file, line and problem, the same labels,
texts and line numbers, the same sha256 of the file bytes), so a streamed
dataset yields exactly the rows :func:`~audit.data.readers.read_dataset` returns,
and :func:`scan_spec` exactly those of :func:`~audit.data.spec.read_spec`
(``max_examples``; labels checked against and mapped onto the model's by
:func:`~audit.data.spec.align_labels`).  Only the I/O differs: text formats are
read line by line (each line decoded on its own), Parquet batch by batch with
only the two needed columns.

Two steps:

* :func:`scan_dataset` reads the file once, checks every row (so a bad row
  fails the job before a run is opened, or is listed as skipped, as with the
  whole-file reader), hashes the bytes and records where each block of
  ``block_rows`` kept rows starts (:class:`BlockRef`: first example id, byte
  offset and line of its first record).  What it keeps grows with
  ``N / block_rows`` and with the bad rows it lists, not with ``N``.
* :func:`iter_blocks` reads the blocks in order (one sequential pass), and
  :func:`read_block` reads one block anywhere in the file (a seek for text
  formats; the covering row groups for Parquet), which is how Ray workers read
  their blocks without the driver shipping the texts.  Both apply the row rules
  again (give them the scan's ``tokenizer``) and so leave out the same rows.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from audit.data.readers import (
    BAD_ROW_POLICIES,
    BLANK_LINE,
    BadRow,
    Dataset,
    Labeller,
    checked_source,
    OnBadRows,
    RawRow,
    _column_index,
    _delimited_rows,
    _jsonl_rows,
    check_row,
    check_rows,
)
from audit._parquet import iter_row_group_batches
from audit.errors import DataError

if TYPE_CHECKING:
    from audit.data.spec import DatasetSpec

__all__ = ["Block", "BlockRef", "ScannedDataset", "StreamSource", "iter_blocks", "read_block", "scan_dataset",
           "scan_spec"]

log = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_PARQUET_BATCH = 8192

RowHook = Callable[[int, str], None]
"""Called as ``hook(line, text)`` for each kept row during the scan (the job counts truncated texts there)."""
Tokenizer = Callable[[str], list[str]]


@dataclass(frozen=True)
class BlockRef:
    """Where one block starts: kept rows ``start..stop-1`` (0-based example ids)."""

    index: int
    start: int
    stop: int
    offset: int = 0  # byte offset of the block's first record (text formats); its 0-based file row (Parquet)
    line: int = 1  # line of the block's first record (text formats); its row number from 1 (Parquet)
    records: int = 0  # file records the block spans (bad rows between its kept rows included)


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
    header: tuple[str, ...] = ()  # first record of a TSV/CSV file (its column names, or its first row)
    has_header: bool = True  # False: a TSV/CSV file without a header row (integer columns)
    to_model: tuple[int, ...] | None = None  # class id in the file -> the model's class id (None: the same)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "fmt": self.fmt, "text_column": self.text_column,
                "label_column": self.label_column, "label_map": self.label_map,
                "label_names": list(self.label_names) if self.label_names is not None else None,
                "header": list(self.header), "has_header": self.has_header,
                "to_model": list(self.to_model) if self.to_model is not None else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StreamSource:
        names, to_model = data.get("label_names"), data.get("to_model")
        return cls(name=data["name"], path=data["path"], fmt=data["fmt"], text_column=data["text_column"],
                   label_column=data["label_column"], label_map=data.get("label_map"),
                   label_names=tuple(names) if names is not None else None, header=tuple(data.get("header") or ()),
                   has_header=bool(data.get("has_header", True)),
                   to_model=tuple(to_model) if to_model is not None else None)

    def labeller(self) -> Labeller:
        return Labeller(Path(self.path), self.label_map, self.label_names)

    def label(self, value: int) -> int:
        """A class id of the file as the model's class id."""
        return self.to_model[value] if self.to_model is not None else value


@dataclass
class ScannedDataset:
    """A checked dataset file: its identity, size, labels and block starts (not its rows)."""

    source: StreamSource
    sha256: str
    n_rows: int  # kept rows: the examples
    label_names: tuple[str, ...]
    blocks: list[BlockRef] = field(default_factory=list)
    skipped: tuple[BadRow, ...] = ()  # bad rows left out (on_bad_rows: skip), as ``Dataset.skipped``
    label_rows: list[tuple[int, int]] = field(default_factory=list)  # (line, class id), see scan_dataset

    @property
    def name(self) -> str:
        return self.source.name


# ----------------------------------------------------------------------------- text formats
def _decode(raw: bytes) -> str:
    """As the whole-file reader decodes: bytes that are not UTF-8 become lone surrogates, which the row rules
    report as a bad row (:func:`~audit.data.readers.record_problem`)."""
    return raw.decode("utf-8", errors="surrogateescape")


def _raw_lines(fh: IO[bytes], *, offset: int, line: int) -> Iterator[tuple[int, int, bytes, int]]:
    """``(line, byte offset, bytes incl. newline (a leading BOM dropped), offset of the next line)``."""
    fh.seek(offset)
    pos = offset
    for raw in iter(fh.readline, b""):
        end = pos + len(raw)
        yield line, pos, (raw[len(_BOM):] if pos == 0 and raw.startswith(_BOM) else raw), end
        pos = end
        line += 1


def _content_lines(fh: IO[bytes], *, offset: int, line: int) -> Iterator[tuple[int, int, str]]:
    """Decoded lines without their newline; trailing blank lines at the end of the file dropped, as
    :mod:`audit.data.readers` does for TSV and JSONL (a blank line in the middle is kept, and is a bad row)."""
    pending: list[tuple[int, int, str]] = []
    for no, pos, raw, _ in _raw_lines(fh, offset=offset, line=line):
        text = _decode(raw).removesuffix("\n")
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
        # as the whole-file reader: no field is refused for its length (the csv module's limit is process-wide)
        old = csv.field_size_limit()
        csv.field_size_limit(min(max(old, path.stat().st_size + 1), sys.maxsize))
        try:
            feed = _CsvFeed(_raw_lines(fh, offset=offset, line=line), offset=offset, line=line)
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
        finally:
            csv.field_size_limit(old)
    for no, pos, text in _content_lines(fh, offset=offset, line=line):
        yield no, pos, (text.rstrip("\r").split("\t") if fmt == "tsv" else text)


class _CsvFeed:
    """Decoded lines for ``csv.reader``, tracking where the next record starts."""

    def __init__(self, lines: Iterator[tuple[int, int, bytes, int]], *, offset: int, line: int) -> None:
        self._lines = lines
        self.next_offset, self.next_line = offset, line

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        no, _, raw, end = next(self._lines)
        self.next_offset, self.next_line = end, no + 1
        return _decode(raw)


def _jsonl_row(text: str, path: Path, source: StreamSource, line: int) -> RawRow | BadRow:
    """One JSONL line through the readers' parser (which numbers the lines of the text it gets: renumbered)."""
    if not text.strip():
        return BadRow(path, line, BLANK_LINE)
    (row,) = _jsonl_rows(text, path, str(source.text_column), str(source.label_column))
    if isinstance(row, BadRow):
        return BadRow(path, line, row.reason)
    return (line, row[1], row[2])


def _text_rows(source: StreamSource, fh: IO[bytes], *, offset: int, line: int,
               from_start: bool) -> Iterator[tuple[int, RawRow | BadRow]]:
    """``(offset, row)`` of the data rows from ``offset`` (``from_start``: the file's first record)."""
    path = Path(source.path)
    records = _text_records(fh, path, source.fmt, offset=offset, line=line)
    if source.fmt == "jsonl":
        for no, pos, rec in records:
            assert isinstance(rec, str)
            yield pos, _jsonl_row(rec, path, source, no)
        return
    offsets: dict[int, int] = {}

    def tracked() -> Iterator[tuple[int, list[str]]]:
        if not from_start:  # a block in the middle: the readers check fields against the first record
            yield 0, list(source.header)
        for no, pos, rec in records:
            assert isinstance(rec, list)
            offsets[no] = pos
            yield no, rec

    # in the middle of the file the first record fed above is only the field count: never a row
    header = source.has_header or not from_start
    for row in _delimited_rows(tracked(), path, source.text_column, source.label_column, header=header):
        no = row.line if isinstance(row, BadRow) else row[0]
        yield offsets.pop(no), row
        offsets.clear()


# ----------------------------------------------------------------------------- parquet
def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq  # lazy: pyarrow is heavy

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"cannot read Parquet file ({exc})", path=path) from exc


def _parquet_rows(source: StreamSource, *, start: int = 0, stop: int | None = None) -> Iterator[RawRow]:
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
            for batch in iter_row_group_batches(pf, batch_size=_PARQUET_BATCH, columns=cols):
                for txt, lab in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    if row >= start:
                        yield row + 1, txt, lab
                    row += 1
            return
        row0 = 0
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if row0 + n > start and row0 < stop:
                texts, labels = _row_group(pf, path, g, cols)
                for i in range(max(start - row0, 0), min(stop - row0, n)):
                    yield row0 + i + 1, texts[i], labels[i]
            row0 += n
            if row0 >= stop:
                return
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read Parquet file ({exc})", path=path) from exc


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
            label_map: Mapping[str, int] | None, label_names: Sequence[str] | None, header: bool) -> StreamSource:
    fmt = checked_source(path, fmt)
    if not header and not (isinstance(text_column, int) and isinstance(label_column, int)):
        raise DataError("header=False needs integer text_column and label_column", path=path)
    return StreamSource(name=name or path.stem, path=str(path), fmt=fmt, text_column=text_column,
                        label_column=label_column, label_map=dict(label_map) if label_map is not None else None,
                        label_names=tuple(label_names) if label_names is not None else None, has_header=header)


def _file_digest(path: Path) -> tuple[str, bool]:
    """sha256 of the bytes (as the whole-file reader computes it) and whether any byte is not whitespace."""
    h, content = hashlib.sha256(), False
    try:
        with path.open("rb") as fh:
            for piece in iter(lambda: fh.read(1 << 20), b""):
                h.update(piece)
                content = content or bool(piece.strip())
    except OSError as exc:
        raise DataError(f"cannot read the dataset file ({exc.strerror or exc})", path=path,
                        hint="make it readable by this user") from exc
    return h.hexdigest(), content


def _rows_from(source: StreamSource, *, offset: int = 0, line: int = 1, stop: int | None = None,
               from_start: bool = True) -> Iterator[tuple[int, RawRow | BadRow]]:
    """``(offset, row)``: text formats from byte ``offset`` (``from_start``: the file's start, header included),
    Parquet rows ``offset..stop-1`` (offset: the row's index)."""
    if source.fmt == "parquet":
        for row in _parquet_rows(source, start=offset, stop=stop):
            yield row[0] - 1, row
        return
    with Path(source.path).open("rb") as fh:
        yield from _text_rows(source, fh, offset=offset, line=line, from_start=from_start)


def _header(source: StreamSource) -> StreamSource:
    """The source with its TSV/CSV first record (needed to read a block in the middle of the file)."""
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
    label_names: Sequence[str] | None = None, header: bool = True, on_bad_rows: OnBadRows = "error",
    tokenizer: Tokenizer | None = None, max_rows: int | None = None, label_rows_from: int | None = None,
    on_row: RowHook | None = None,
) -> ScannedDataset:
    """Check every row of ``path`` in one bounded pass and record its blocks of ``block_rows`` kept rows.

    The options are :func:`~audit.data.readers.read_dataset`'s; ``max_rows`` keeps the first kept rows only
    (``max_examples``: every row is still checked, as :func:`~audit.data.spec.read_spec` does).
    :attr:`ScannedDataset.label_rows` lists ``(line, class id)`` of the first kept row of each class and of
    every kept row whose class id is ``>= label_rows_from`` (what :func:`scan_spec` needs to check the labels
    against the model's, with the whole-file reader's message)."""
    if block_rows < 1:
        raise ValueError("block_rows must be >= 1")
    p = Path(path)
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise DataError(f"unknown on_bad_rows {on_bad_rows!r}", path=p, hint="use error or skip")
    source = _source(p, name=name, fmt=fmt, text_column=text_column, label_column=label_column,
                     label_map=label_map, label_names=label_names, header=header)
    digest, content = _file_digest(p)
    if not content:
        raise DataError("the file is empty", path=p)
    source = _header(source)
    labeller = source.labeller()
    blocks: list[BlockRef] = []
    bad: list[BadRow] = []
    label_rows: list[tuple[int, int]] = []
    seen_labels: set[int] = set()
    n_records = n = n_beyond = max_label = last_line = 0
    block_offset, block_line, block_record = 0, 1, 0
    limit = max_rows if max_rows is not None else sys.maxsize
    for pos, raw in _rows_from(source):
        n_records += 1
        row = check_row(raw, p, labeller, tokenizer=tokenizer)
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        if n >= limit:  # past max_examples: checked, not kept
            n_beyond += 1
            continue
        no, text, label = row
        last_line = no
        if n % block_rows == 0:
            block_offset, block_line, block_record = pos, no, n_records - 1
        max_label = max(max_label, label)
        if label not in seen_labels or (label_rows_from is not None and label >= label_rows_from):
            seen_labels.add(label)
            label_rows.append((no, label))
        if on_row is not None:
            on_row(no, text)
        n += 1
        if n % block_rows == 0 or n == limit:
            blocks.append(BlockRef(index=len(blocks), start=len(blocks) * block_rows, stop=n, offset=block_offset,
                                   line=block_line, records=n_records - block_record))
    if n % block_rows and n < limit:
        blocks.append(BlockRef(index=len(blocks), start=n - n % block_rows, stop=n, offset=block_offset,
                               line=block_line, records=n_records - block_record))
    check_rows(p, n_rows=n_records, bad=bad, n_kept=n, on_bad_rows=on_bad_rows)
    if n_beyond:  # cut at max_examples: as read_spec, only the bad rows before the last kept one are listed
        bad = [b for b in bad if b.line < last_line]
    scanned = ScannedDataset(source=source, sha256=digest, n_rows=n, label_names=labeller.names([max_label]),
                             blocks=blocks, skipped=tuple(bad), label_rows=label_rows)
    log.debug("scanned %d rows in %d blocks from %s (%s, sha256 %s)", n, len(blocks), p, source.fmt, digest[:12])
    return scanned


def scan_spec(spec: DatasetSpec, *, block_rows: int, base: Path | None = None,
              model_labels: Sequence[str] | None = None, tokenizer: Tokenizer | None = None,
              on_row: RowHook | None = None) -> ScannedDataset:
    """:func:`~audit.data.spec.read_spec` block by block: the dataset ``spec`` describes, scanned
    (:func:`scan_dataset`); with ``model_labels`` its labels are checked and mapped onto the model's classes
    by :func:`~audit.data.spec.align_labels` (the blocks then hold the model's class ids)."""
    from audit.data.spec import align_labels, dataset_name, resolve_spec_path

    path = resolve_spec_path(spec.path, base=base)
    k = len(model_labels) if model_labels is not None and spec.label_names is None else None
    scanned = scan_dataset(path, block_rows=block_rows, text_column=spec.text_column, label_column=spec.label_column,
                           label_map=spec.label_map, fmt=spec.format, name=dataset_name(spec),
                           label_names=spec.label_names, header=spec.header, on_bad_rows=spec.on_bad_rows,
                           tokenizer=tokenizer, max_rows=spec.max_examples, label_rows_from=k, on_row=on_row)
    if model_labels is None:
        return scanned
    # the classes present (first row of each) and every row beyond the model's classes: align_labels gives the
    # mapping, or refuses with the message (lines, counts) it gives for the whole file
    rows = scanned.label_rows
    stand_in = Dataset(name=scanned.name, path=path, texts=[""] * len(rows), labels=[y for _, y in rows],
                       lines=[line for line, _ in rows], label_names=scanned.label_names, sha256=scanned.sha256)
    aligned = align_labels(stand_in, spec, model_labels)
    mapping = dict(zip(stand_in.labels, aligned.labels, strict=True))
    to_model = None
    if any(a != b for a, b in mapping.items()):
        to_model = tuple(mapping.get(i, i) for i in range(max(mapping) + 1))
    source = StreamSource(**{**scanned.source.__dict__, "to_model": to_model})
    return ScannedDataset(source=source, sha256=scanned.sha256, n_rows=scanned.n_rows,
                          label_names=aligned.label_names, blocks=scanned.blocks, skipped=scanned.skipped,
                          label_rows=[])


def _block_rows(source: StreamSource, ref: BlockRef | None, *,
                tokenizer: Tokenizer | None) -> Iterator[tuple[int, str, int]]:
    """The kept rows ``(line, text, class id)`` from the start of block ``ref`` (None: the file's start)."""
    path, labeller = Path(source.path), source.labeller()
    if ref is None:
        rows = _rows_from(source)
    elif source.fmt == "parquet":
        rows = _rows_from(source, offset=ref.offset, stop=ref.offset + max(ref.records, ref.stop - ref.start))
    else:
        rows = _rows_from(source, offset=ref.offset, line=ref.line, from_start=ref.offset == 0)
    for _, raw in rows:
        row = check_row(raw, path, labeller, tokenizer=tokenizer)
        if not isinstance(row, BadRow):
            yield row[0], row[1], source.label(row[2])


def read_block(source: StreamSource, ref: BlockRef, *, tokenizer: Tokenizer | None = None) -> Block:
    """The rows of block ``ref`` (a seek for text formats; only its row groups for Parquet); ``tokenizer``:
    the scan's, so that the same rows are left out."""
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    for no, text, label in _block_rows(source, ref, tokenizer=tokenizer):
        texts.append(text)
        labels.append(label)
        lines.append(no)
        if len(texts) == ref.stop - ref.start:
            break
    if len(texts) != ref.stop - ref.start:
        raise DataError(f"block {ref.index} has {len(texts)} rows, expected {ref.stop - ref.start}: the file "
                        "changed since it was scanned", path=source.path, line=ref.line)
    return Block(ref=ref, texts=texts, labels=labels, lines=lines)


def iter_blocks(scanned: ScannedDataset, *, tokenizer: Tokenizer | None = None) -> Iterator[Block]:
    """Every block of ``scanned`` in order, from one sequential pass over the file (``tokenizer``: the scan's)."""
    refs = iter(scanned.blocks)
    ref = next(refs, None)
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    for no, text, label in _block_rows(scanned.source, None, tokenizer=tokenizer):
        if ref is None:
            break
        texts.append(text)
        labels.append(label)
        lines.append(no)
        if len(texts) == ref.stop - ref.start:
            yield Block(ref=ref, texts=texts, labels=labels, lines=lines)
            texts, labels, lines = [], [], []
            ref = next(refs, None)
    if ref is not None:
        raise DataError("the file has fewer rows than when it was scanned (it changed)", path=scanned.source.path)
