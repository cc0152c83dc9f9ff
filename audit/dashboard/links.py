"""Deep links: the dashboard's URL query parameters, parsed and built (pure; no Streamlit).

Every page reads and writes the same small vocabulary, so a URL such as
``/failures?run=<id>&word=terribly`` or ``/explain?run=<id>&example=sst2_test:17&level=phrase``
can be shared and opens that view:

========  =====================================================================
``run``      a run id (the sidebar's run picker)
``word``     a word (Failures: texts containing it; Driver words: that word)
``example``  one text, as ``dataset:example_id`` (Explain pre-fills it)
``level``    ``word`` | ``phrase`` | ``clause``
``method``   an attribution method name (Explain), several joined by ``,``
========  =====================================================================

Unknown parameters are ignored; malformed ones are dropped with a log line, never an error
(a URL typed by hand must not crash a page).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

log = logging.getLogger(__name__)

PARAMS: tuple[str, ...] = ("run", "word", "example", "level", "method")
LEVELS: tuple[str, ...] = ("word", "phrase", "clause")

PAGE_PATHS: dict[str, str] = {
    "runs": "",
    "failures": "failures",
    "drivers": "drivers",
    "pos_patterns": "pos_patterns",
    "variants": "variants",
    "explain": "explain",
}
"""Page name -> URL path (``st.navigation`` derives it from the page file's name; Runs is the default page)."""


@dataclass(frozen=True)
class Selection:
    """What a deep link selects; None (or empty) means 'not given'."""

    run: str | None = None
    word: str | None = None
    example: tuple[str, int] | None = None
    level: str | None = None
    methods: tuple[str, ...] = ()

    def with_(self, **changes: Any) -> Selection:
        return replace(self, **changes)


def format_example(dataset: str, example_id: int) -> str:
    """``dataset:example_id`` (the ``example`` parameter)."""
    return f"{dataset}:{int(example_id)}"


def parse_example(value: str | None) -> tuple[str, int] | None:
    """``"sst2_test:17"`` -> ``("sst2_test", 17)``; None when missing or malformed.

    The id is after the *last* colon, so dataset names may contain colons.
    """
    if not value:
        return None
    dataset, sep, ident = str(value).strip().rpartition(":")
    if not sep or not dataset:
        log.info("ignoring malformed example parameter %r (want dataset:id)", value)
        return None
    try:
        number = int(ident)
    except ValueError:
        log.info("ignoring malformed example parameter %r (id is not an integer)", value)
        return None
    return (dataset, number) if number >= 0 else None


def _first(value: Any) -> str | None:
    """A query value as one string: lists (repeated keys) give their last element."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_query(params: Mapping[str, Any]) -> Selection:
    """A :class:`Selection` from query parameters (``st.query_params`` or a plain dict)."""
    level = _first(params.get("level"))
    if level is not None and level not in LEVELS:
        log.info("ignoring level parameter %r (want one of %s)", level, ", ".join(LEVELS))
        level = None
    method = _first(params.get("method"))
    methods = tuple(m.strip() for m in method.split(",") if m.strip()) if method else ()
    return Selection(
        run=_first(params.get("run")),
        word=_first(params.get("word")),
        example=parse_example(_first(params.get("example"))),
        level=level,
        methods=methods,
    )


def to_query(selection: Selection) -> dict[str, str]:
    """Query parameters of ``selection`` (only the parts that are set), in :data:`PARAMS` order."""
    out: dict[str, str] = {}
    if selection.run:
        out["run"] = selection.run
    if selection.word:
        out["word"] = selection.word
    if selection.example is not None:
        out["example"] = format_example(*selection.example)
    if selection.level:
        out["level"] = selection.level
    if selection.methods:
        out["method"] = ",".join(selection.methods)
    return out


def page_url(page: str, selection: Selection | None = None, **parts: Any) -> str:
    """Relative URL of ``page`` (a key of :data:`PAGE_PATHS`) opening ``selection``.

    Keyword ``parts`` (run, word, example, level, methods) override the selection's:
    ``page_url("failures", run=rid, word="terribly")`` -> ``"/failures?run=...&word=terribly"``.
    Values are URL-encoded.
    """
    if page not in PAGE_PATHS:
        raise ValueError(f"unknown page {page!r}; pages: {', '.join(PAGE_PATHS)}")
    sel = (selection or Selection()).with_(**parts) if parts else (selection or Selection())
    query = urlencode(to_query(sel))
    return "/" + PAGE_PATHS[page] + (f"?{query}" if query else "")


def link_column(
    keys: Sequence[Mapping[str, Any]], page: str, *, run: str | None, field: str = "word"
) -> list[str]:
    """One URL per row of ``keys`` for a table's link column.

    ``field`` names what each row links by: ``word`` (the row's ``word``) or ``example``
    (the row's ``dataset`` and ``example_id``).
    """
    urls = []
    for row in keys:
        if field == "word":
            urls.append(page_url(page, run=run, word=str(row["word"])))
        elif field == "example":
            urls.append(page_url(page, run=run, example=(str(row["dataset"]), int(row["example_id"]))))
        else:
            raise ValueError(f"field must be 'word' or 'example', got {field!r}")
    return urls


class QuerySync:
    """Reconciles URL parameters with widget state across reruns (pure bookkeeping).

    A parameter is *applied* (copied into the widget's state) only when it differs from what
    this session last wrote to the URL: a fresh URL or a followed link wins, while a user's
    change to a widget is not undone by the stale URL of the previous rerun.
    """

    def __init__(self, last_written: Mapping[str, str] | None = None) -> None:
        self.last_written: dict[str, str] = dict(last_written or {})

    def incoming(self, params: Mapping[str, Any]) -> dict[str, str]:
        """The parameters that came from outside (new or changed since this session wrote them)."""
        out = {}
        for key in PARAMS:
            value = _first(params.get(key))
            if value is not None and self.last_written.get(key) != value:
                out[key] = value
        return out

    def outgoing(self, selection: Selection) -> dict[str, str]:
        """The parameters to write for ``selection``; remembered as written."""
        self.last_written = to_query(selection)
        return dict(self.last_written)
