"""Read labelled text datasets (TSV, CSV, JSONL, Parquet) into a :class:`Dataset`.

Every row of the file becomes one example, in file order: nothing is silently
dropped, truncated or deduplicated.  Problems come in two kinds:

* **file problems** (missing or empty file, unknown format, a header without the
  text or label column, an unreadable Parquet file) raise
  :class:`~audit.errors.DataError` at once;
* **bad rows** (wrong number of fields, invalid JSON, invalid UTF-8, an empty
  text, a text with a control character, an empty or unknown label, a text
  without tokens when a tokenizer is given) are all collected first.  With
  ``on_bad_rows="error"`` (the default) the error names the first bad row's file,
  line and reason *and* how many other rows are bad (with their lines), so one
  fix-and-rerun cycle is enough.  With ``on_bad_rows="skip"`` the bad rows are
  left out and listed in :attr:`Dataset.skipped` (file, line, reason).

Control characters: a text holding a C0 control character other than tab, line
feed and carriage return (NUL included), DEL, or a C1 control character
(U+0080-U+009F) is a bad row, and so is a lone surrogate (a JSON ``"\ud800"``
escape); such characters are never stripped silently and never reach a report.

TSV files are read without quoting (SST-2 has neither quotes nor tabs inside a
text): each line is split on tabs and must have as many fields as the header.
CSV files use the standard ``csv`` quoting rules, so quoted fields may span lines;
``Dataset.lines`` holds the line where each record starts.  Fields of any length
are read (the ``csv`` module's 128 KiB field limit is lifted for the file being
read).  Parquet rows are numbered from 1 in ``Dataset.lines``.

The per-row rules live in :mod:`audit.data.rows` (re-exported here):
:func:`row_problem`, :func:`record_problem` and :class:`Labeller` (applied
together by :func:`check_row`; the whole file's verdict is :func:`check_rows`)
so that other readers (the streaming reader, :mod:`audit.data.stream`) apply
the same ones.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audit.data.rows import (  # the per-row rules, re-exported: they were defined here
    BAD_ROW_POLICIES,
    BLANK_LINE,
    BadRow,
    Labeller,
    OnBadRows,
    RawRow,
    bad_rows_error,
    check_row,
    check_rows,
    control_character,
    record_problem,
    row_problem,
)
from audit.errors import DataError

__all__ = [
    "BAD_ROW_POLICIES",
    "BLANK_LINE",
    "FORMATS",
    "BadRow",
    "Dataset",
    "Labeller",
    "OnBadRows",
    "RawRow",
    "bad_rows_error",
    "check_row",
    "check_rows",
    "control_character",
    "infer_format",
    "read_dataset",
    "record_problem",
    "row_problem",
]

log = logging.getLogger(__name__)

FORMATS = ("tsv", "csv", "jsonl", "parquet")
_SUFFIXES = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Dataset:
    """A labelled text dataset, one entry per row of the source file, in file order."""

    name: str
    path: Path
    texts: list[str]
    labels: list[int]
    lines: list[int]  # 1-based line (record start) in the file; row number for Parquet
    label_names: tuple[str, ...]
    sha256: str
    skipped: tuple[BadRow, ...] = field(default=())  # bad rows left out (on_bad_rows="skip")

    def __len__(self) -> int:
        return len(self.texts)


def not_a_file(p: Path) -> tuple[str, str]:
    """Message and fix for a dataset path that is not a readable regular file (directory, loop, absent)."""
    try:
        p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "dataset path is a symbolic link loop", "point the path at the real file"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"cannot reach the dataset file ({exc.strerror})", "make its folder readable by this user"
        return "dataset file does not exist", "check the path (data:... paths use AUDIT_DATA_DIR)"
    if p.is_dir():
        return "dataset path is a directory, not a file", "point the path at a .tsv/.csv/.jsonl/.parquet file in it"
    return "dataset path is not a regular file", "point the path at a .tsv/.csv/.jsonl/.parquet file"


def infer_format(path: Path) -> str:
    """``tsv|csv|jsonl|parquet`` from the file suffix, or :class:`DataError`."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"cannot tell the format from the suffix {path.suffix!r}",
            path=path,
            hint=f"use one of {', '.join(sorted(_SUFFIXES))} or pass format: ({'|'.join(FORMATS)})",
        )
    return fmt


def checked_source(path: Path, fmt: str | None) -> str:
    """The format of ``path`` (given, or from its suffix), after checking it is known and the path is a
    readable file; raises :class:`DataError` naming the file and the fix otherwise."""
    fmt = (fmt or infer_format(path)).lower()
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}", path=path, hint=f"use one of {'|'.join(FORMATS)}")
    if not path.is_file():
        message, fix = not_a_file(path)
        raise DataError(message, path=path, hint=fix)
    return fmt


def read_dataset(
    path: str | Path,
    *,
    text_column: str | int = "text",
    label_column: str | int = "label",
    label_map: Mapping[str, int] | None = None,
    fmt: str | None = None,
    name: str | None = None,
    label_names: Sequence[str] | None = None,
    header: bool = True,
    on_bad_rows: OnBadRows = "error",
    tokenizer: Callable[[str], list[str]] | None = None,
) -> Dataset:
    """Read ``path`` into a :class:`Dataset`.

    Labels are integers ``0..K-1`` in the file, or any strings mapped by
    ``label_map`` (``{"neg": 0, "pos": 1}``; keys are compared as strings).
    ``label_names`` names the classes (default: the ``label_map`` keys in id
    order, else ``"0", "1", ...``).  For a TSV/CSV file without a header row
    pass ``header=False`` and integer column positions.  ``on_bad_rows`` is
    ``"error"`` or ``"skip"`` (see the module docstring); with ``tokenizer`` a
    text that has no tokens is a bad row too.
    """
    p = Path(path)
    fmt = checked_source(p, fmt)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the dataset file ({exc.strerror or exc})", path=p,
                        hint="make it readable by this user") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise DataError("the file is empty", path=p)
    if not header and not (isinstance(text_column, int) and isinstance(label_column, int)):
        raise DataError("header=False needs integer text_column and label_column", path=p)
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise DataError(f"unknown on_bad_rows {on_bad_rows!r}", path=p, hint="use error or skip")

    rows: Iterator[tuple[int, str | None, object] | BadRow]
    if fmt == "parquet":
        rows = _parquet_rows(p, text_column, label_column)
    else:
        text = _decode(raw)
        if fmt == "tsv":
            rows = _delimited_rows(_tsv_records(text), p, text_column, label_column, header=header)
        elif fmt == "csv":
            rows = _delimited_rows(_csv_records(text), p, text_column, label_column, header=header)
        else:
            rows = _jsonl_rows(text, p, str(text_column), str(label_column))

    labeller = Labeller(p, label_map, label_names)
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    n_rows = 0
    for row in rows:
        n_rows += 1
        checked = check_row(row, p, labeller, tokenizer=tokenizer)
        if isinstance(checked, BadRow):
            bad.append(checked)
            continue
        texts.append(checked[1])
        labels.append(checked[2])
        lines.append(checked[0])
    check_rows(p, n_rows=n_rows, bad=bad, n_kept=len(texts), on_bad_rows=on_bad_rows)
    ds = Dataset(
        name=name or p.stem,
        path=p,
        texts=texts,
        labels=labels,
        lines=lines,
        label_names=labeller.names(labels),
        sha256=digest,
        skipped=tuple(bad),
    )
    log.debug("read %d rows from %s (%s, sha256 %s)", len(ds), p, fmt, digest[:12])
    return ds


_Labeller = Labeller  # the former private name


# ----------------------------------------------------------------------------- formats


def _decode(raw: bytes) -> str:
    """UTF-8 text; bytes that are not UTF-8 become lone surrogates, reported per row by :func:`record_problem`."""
    text = raw.decode("utf-8", errors="surrogateescape")
    return text.removeprefix("\ufeff")


def _tsv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # trailing newline(s) are not rows
        lines.pop()
    for i, line in enumerate(lines, start=1):
        yield i, line.rstrip("\r").split("\t")


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    # The csv module refuses fields over its (process-wide) limit, 128 KiB by default. No field can be
    # longer than the file, so the limit is raised to that while this file is parsed, then restored.
    old = csv.field_size_limit()
    csv.field_size_limit(min(max(old, len(text) + 1), sys.maxsize))
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        records: list[tuple[int, list[str]]] = []
        start = 1
        for row in reader:
            records.append((start, row))
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(old)
    yield from records


def _column_index(header: list[str], column: str | int, path: Path, what: str) -> int:
    if isinstance(column, int):
        if not 0 <= column < len(header):
            raise DataError(f"{what} column #{column} does not exist ({len(header)} columns)", path=path, line=1)
        return column
    names = [h.strip() for h in header]
    if column not in names:
        raise DataError(
            f"missing {what} column {column!r}",
            path=path,
            line=1,
            hint=f"the header has {names}; pass {what}_column=",
        )
    return names.index(column)


def _delimited_rows(
    records: Iterator[tuple[int, list[str]]], path: Path, text_column: str | int, label_column: str | int, *, header: bool
) -> Iterator[tuple[int, str | None, object] | BadRow]:
    n_fields: int | None = None
    ti = li = -1
    for line, fields in records:
        if n_fields is None:
            n_fields = len(fields)
            ti = _column_index(fields, text_column, path, "text")
            li = _column_index(fields, label_column, path, "label")
            if header:
                continue
        if fields == [] or fields == [""]:
            yield BadRow(path, line, BLANK_LINE)
        elif len(fields) != n_fields:
            yield BadRow(path, line, f"expected {n_fields} fields, found {len(fields)}")
        elif (problem := record_problem(fields)) is not None:
            yield BadRow(path, line, problem)
        else:
            yield line, fields[ti], fields[li].strip()


def _jsonl_rows(text: str, path: Path, text_column: str, label_column: str) -> Iterator[tuple[int, str | None, object] | BadRow]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            yield BadRow(path, i, BLANK_LINE)
            continue
        problem = record_problem([line])
        if problem is not None:
            yield BadRow(path, i, problem)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadRow(path, i, f"invalid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield BadRow(path, i, "each line must be a JSON object")
            continue
        missing = [f"missing {what} column {col!r} (keys: {sorted(obj)})"
                   for col, what in ((text_column, "text"), (label_column, "label")) if col not in obj]
        if missing:
            yield BadRow(path, i, missing[0])
            continue
        yield i, obj[text_column], obj[label_column]


def _parquet_rows(path: Path, text_column: str | int, label_column: str | int) -> Iterator[tuple[int, str | None, object] | BadRow]:
    import pyarrow.parquet as pq  # lazy: pyarrow is heavy

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"cannot read Parquet file ({exc})", path=path) from exc
    names = table.column_names
    cols = [_column_index(names, c, path, w) for c, w in ((text_column, "text"), (label_column, "label"))]
    texts = table.column(cols[0]).to_pylist()
    labels = table.column(cols[1]).to_pylist()
    for i, (txt, lab) in enumerate(zip(texts, labels), start=1):
        yield i, txt, lab
