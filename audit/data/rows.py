"""The per-row rules every dataset reader applies, and the bad rows they yield.

A row is *bad* when its text is empty, not a string, not valid UTF-8 (bytes that
are not UTF-8 decode to lone surrogates with ``errors="surrogateescape"``), holds
a lone surrogate or a forbidden control character (a C0 control other than tab,
LF and CR, NUL included; DEL; a C1 control), has no tokens when a tokenizer is
given, or has an empty or unknown label (:class:`Labeller`).  :func:`check_row`
applies them to one parsed row, :func:`check_rows` gives the whole file's
verdict and :func:`bad_rows_error` the one error for all bad rows.  Used by the
whole-file reader (:mod:`audit.data.readers`, which re-exports these names) and
the streaming one (:mod:`audit.data.stream`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audit.errors import DataError

__all__ = [
    "BAD_ROW_POLICIES",
    "BLANK_LINE",
    "BadRow",
    "Labeller",
    "OnBadRows",
    "RawRow",
    "bad_rows_error",
    "check_row",
    "check_rows",
    "control_character",
    "record_problem",
    "row_problem",
]

log = logging.getLogger(__name__)

BAD_ROW_POLICIES = ("error", "skip")
OnBadRows = Literal["error", "skip"]
_INT = re.compile(r"^[+-]?\d+$")
# C0 controls except tab, LF, CR; DEL; C1 controls
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# bytes that are not UTF-8 decode to lone surrogates U+DC80..U+DCFF with errors="surrogateescape"
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LISTED_BAD_ROWS = 10
BLANK_LINE = "blank line in the middle of the file (remove it)"


@dataclass(frozen=True)
class BadRow:
    """A row left out of (or refusing) a dataset: where it is and why."""

    path: Path
    line: int
    reason: str

    def to_dict(self, dataset: str | None = None) -> dict[str, object]:
        """The manifest's ``skipped_rows`` entry."""
        return {"dataset": dataset, "path": str(self.path), "line": int(self.line), "reason": self.reason}


def control_character(text: str) -> tuple[int, str] | None:
    """``(column, "U+0000")`` of the first forbidden control character in ``text`` (1-based column), or None."""
    m = _CONTROL.search(text)
    return None if m is None else (m.start() + 1, f"U+{ord(m.group()):04X}")


def row_problem(text: object, *, tokenizer: Callable[[str], list[str]] | None = None) -> str | None:
    """Why ``text`` cannot be a dataset text (None when it can): the per-row rules every reader applies."""
    if text is None or not str(text).strip():
        return "empty text"
    if not isinstance(text, str):
        return f"text must be a string, got {type(text).__name__}"
    escaped = _ESCAPED_BYTE.search(text)
    if escaped is not None:
        return f"not valid UTF-8 (byte {ord(escaped.group()) - 0xDC00:#04x} in the text)"
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:  # e.g. a JSON "\ud800" escape: not encodable as UTF-8
        return f"lone surrogate U+{ord(surrogate.group()):04X} in the text (not valid Unicode)"
    ctrl = control_character(text)
    if ctrl is not None:
        return f"control character {ctrl[1]} at column {ctrl[0]} of the text"
    if tokenizer is not None and not tokenizer(text):
        return "the text has no tokens"
    return None


def record_problem(fields: Sequence[str]) -> str | None:
    """A raw record (all its fields) holding bytes that are not UTF-8, else None."""
    for value in fields:
        escaped = _ESCAPED_BYTE.search(value)
        if escaped is not None:
            return f"not valid UTF-8 (byte {ord(escaped.group()) - 0xDC00:#04x})"
    return None


RawRow = tuple[int, str | None, object]
"""A parsed row before the per-row rules: ``(line, text, raw label)``."""


def check_row(row: RawRow | BadRow, path: Path, labeller: Labeller, *,
              tokenizer: Callable[[str], list[str]] | None = None) -> tuple[int, str, int] | BadRow:
    """One parsed row through the per-row rules (:func:`row_problem`, then the label): ``(line, text, class id)``,
    or the :class:`BadRow` it is."""
    if isinstance(row, BadRow):
        return row
    line, txt, lab = row
    problem = row_problem(txt, tokenizer=tokenizer)
    if problem is None:
        try:
            return line, str(txt), labeller(lab, line)
        except DataError as exc:
            problem = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return BadRow(path, line, problem)


def check_rows(path: Path, *, n_rows: int, bad: Sequence[BadRow], n_kept: int, on_bad_rows: OnBadRows) -> None:
    """The whole file's verdict once every row is checked: no rows, bad rows under ``error``, or nothing kept."""
    if n_rows == 0:
        raise DataError("the file has a header but no rows", path=path)
    if bad and on_bad_rows == "error":
        raise bad_rows_error(bad, total=n_rows)
    if not n_kept:
        raise DataError(f"every one of the {n_rows} rows is bad (first: line {bad[0].line}: {bad[0].reason})",
                        path=path, hint="check text_column / label_column / format")
    if bad:
        log.warning("%s: skipped %d bad rows of %d (on_bad_rows: skip; listed in the run)", path, len(bad), n_rows)


def bad_rows_error(bad: Sequence[BadRow], *, total: int | None = None) -> DataError:
    """One :class:`DataError` for all ``bad`` rows: the first named in full, the others counted and listed."""
    first, others = bad[0], bad[1:]
    message = first.reason
    if others:
        listed = "; ".join(f"line {b.line}: {b.reason}" for b in others[:_LISTED_BAD_ROWS])
        more = f"; ... {len(others) - _LISTED_BAD_ROWS} more" if len(others) > _LISTED_BAD_ROWS else ""
        message += f" -- and {len(others)} other bad row{'s' if len(others) > 1 else ''} ({listed}{more})"
    of = f" of {total}" if total is not None else ""
    return DataError(
        message,
        path=first.path,
        line=first.line,
        hint=f"correct the {len(bad)} bad row{'s' if len(bad) > 1 else ''}{of}, or set on_bad_rows: skip on this "
        "dataset to leave them out (each is then listed in the run's manifest and report)",
    )


class Labeller:
    """Turns a raw label value into a class id (raises :class:`DataError` naming the line)."""

    def __init__(self, path: Path, label_map: Mapping[str, int] | None, label_names: Sequence[str] | None) -> None:
        self.path = path
        self.map = {str(k): int(v) for k, v in label_map.items()} if label_map is not None else None
        self.given_names = tuple(label_names) if label_names is not None else None
        if self.map is not None:
            ids = sorted(set(self.map.values()))
            if ids != list(range(len(ids))):
                raise DataError(f"label_map ids must be 0..K-1, got {ids}", path=path)
            if self.given_names is not None and len(ids) > len(self.given_names):
                raise DataError(
                    f"label_map has {len(ids)} classes but label_names names {len(self.given_names)}: "
                    f"{list(self.given_names)}",
                    path=path,
                    hint="give one name per label_map id",
                )

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
