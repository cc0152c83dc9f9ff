"""Read labelled text datasets (TSV, CSV, JSONL, Parquet) into a :class:`Dataset`.

Every row of the file becomes one example, in file order: nothing is dropped,
truncated or deduplicated.  A row that cannot be used raises
:class:`~audit.errors.DataError` naming the file, the line and the problem
(missing column, empty file, unknown label, invalid UTF-8, empty text, wrong
number of fields, invalid JSON).

TSV files are read without quoting (SST-2 has neither quotes nor tabs inside a
text): each line is split on tabs and must have as many fields as the header.
CSV files use the standard ``csv`` quoting rules, so quoted fields may span lines;
``Dataset.lines`` holds the line where each record starts.  Parquet rows are
numbered from 1 in ``Dataset.lines``.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.errors import DataError

__all__ = ["Dataset", "read_dataset", "FORMATS", "infer_format"]

log = logging.getLogger(__name__)

FORMATS = ("tsv", "csv", "jsonl", "parquet")
_SUFFIXES = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_INT = re.compile(r"^[+-]?\d+$")


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
            hint=f"use one of {', '.join(sorted(_SUFFIXES))} or pass fmt= ({'|'.join(FORMATS)})",
        )
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
) -> Dataset:
    """Read ``path`` into a :class:`Dataset`.

    Labels are integers ``0..K-1`` in the file, or any strings mapped by
    ``label_map`` (``{"neg": 0, "pos": 1}``; keys are compared as strings).
    ``label_names`` names the classes (default: the ``label_map`` keys in id
    order, else ``"0", "1", ...``).  For a TSV/CSV file without a header row
    pass ``header=False`` and integer column positions.
    """
    p = Path(path)
    fmt = (fmt or infer_format(p)).lower()
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}", path=p, hint=f"use one of {'|'.join(FORMATS)}")
    if not p.is_file():
        message, fix = not_a_file(p)
        raise DataError(message, path=p, hint=fix)
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

    if fmt == "parquet":
        rows = _parquet_rows(p, text_column, label_column)
    else:
        text = _decode(raw, p)
        if fmt == "tsv":
            rows = _delimited_rows(_tsv_records(text), p, text_column, label_column, header=header)
        elif fmt == "csv":
            rows = _delimited_rows(_csv_records(text), p, text_column, label_column, header=header)
        else:
            rows = _jsonl_rows(text, p, str(text_column), str(label_column))

    labeller = _Labeller(p, label_map, label_names)
    texts: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    for line, txt, lab in rows:
        if txt is None or not str(txt).strip():
            raise DataError("empty text", path=p, line=line, hint="remove the row or give it a text")
        texts.append(str(txt))
        labels.append(labeller(lab, line))
        lines.append(line)
    if not texts:
        raise DataError("the file has a header but no rows", path=p)
    ds = Dataset(
        name=name or p.stem,
        path=p,
        texts=texts,
        labels=labels,
        lines=lines,
        label_names=labeller.names(labels),
        sha256=digest,
    )
    log.debug("read %d rows from %s (%s, sha256 %s)", len(ds), p, fmt, digest[:12])
    return ds


# ----------------------------------------------------------------------------- labels


class _Labeller:
    def __init__(self, path: Path, label_map: Mapping[str, int] | None, label_names: Sequence[str] | None) -> None:
        self.path = path
        self.map = {str(k): int(v) for k, v in label_map.items()} if label_map is not None else None
        self.given_names = tuple(label_names) if label_names is not None else None
        if self.map is not None:
            ids = sorted(set(self.map.values()))
            if ids != list(range(len(ids))):
                raise DataError(f"label_map ids must be 0..K-1, got {ids}", path=path)

    def __call__(self, raw: object, line: int) -> int:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise DataError("empty label", path=self.path, line=line)
        if self.map is not None:
            key = str(raw).strip()
            if key not in self.map:
                raise DataError(
                    f"unknown label {key!r}", path=self.path, line=line, hint=f"known labels: {', '.join(self.map)}"
                )
            return self.map[key]
        if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and _INT.match(raw.strip()))):
            raise DataError(
                f"unknown label {raw!r}: not an integer class id",
                path=self.path,
                line=line,
                hint="give a label_map such as {'negative': 0, 'positive': 1}",
            )
        value = int(raw)  # type: ignore[arg-type]
        limit = len(self.given_names) if self.given_names is not None else None
        if value < 0 or (limit is not None and value >= limit):
            raise DataError(
                f"unknown label {value}", path=self.path, line=line, hint=f"class ids are 0..{(limit or 1) - 1}"
            )
        return value

    def names(self, labels: list[int]) -> tuple[str, ...]:
        if self.given_names is not None:
            return self.given_names
        if self.map is not None:
            by_id: dict[int, str] = {}
            for key, idx in self.map.items():
                by_id.setdefault(idx, key)
            return tuple(by_id[i] for i in range(len(by_id)))
        return tuple(str(i) for i in range(max(max(labels) + 1, 2)))


# ----------------------------------------------------------------------------- formats


def _decode(raw: bytes, path: Path) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"not valid UTF-8 (byte {raw[exc.start]:#04x} at offset {exc.start})",
            path=path,
            line=line,
            hint="re-save the file as UTF-8",
        ) from exc
    return text[1:] if text.startswith("\ufeff") else text


def _tsv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # trailing newline(s) are not rows
        lines.pop()
    for i, line in enumerate(lines, start=1):
        yield i, line.rstrip("\r").split("\t")


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


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
) -> Iterator[tuple[int, str | None, object]]:
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
            raise DataError("blank line in the middle of the file", path=path, line=line, hint="remove it")
        if len(fields) != n_fields:
            raise DataError(f"expected {n_fields} fields, found {len(fields)}", path=path, line=line)
        yield line, fields[ti], fields[li].strip()


def _jsonl_rows(text: str, path: Path, text_column: str, label_column: str) -> Iterator[tuple[int, str | None, object]]:
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError("blank line in the middle of the file", path=path, line=i, hint="remove it")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg})", path=path, line=i) from exc
        if not isinstance(obj, dict):
            raise DataError("each line must be a JSON object", path=path, line=i)
        for col, what in ((text_column, "text"), (label_column, "label")):
            if col not in obj:
                raise DataError(f"missing {what} column {col!r}", path=path, line=i, hint=f"keys: {sorted(obj)}")
        txt = obj[text_column]
        if txt is not None and not isinstance(txt, str):
            raise DataError(f"text must be a string, got {type(txt).__name__}", path=path, line=i)
        yield i, txt, obj[label_column]


def _parquet_rows(path: Path, text_column: str | int, label_column: str | int) -> Iterator[tuple[int, str | None, object]]:
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
        if txt is not None and not isinstance(txt, str):
            raise DataError(f"text must be a string, got {type(txt).__name__}", path=path, line=i)
        yield i, txt, lab
