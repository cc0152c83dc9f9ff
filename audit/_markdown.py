"""One Markdown escape for every report that shows dataset text (run report, run diff, paper evaluation)."""

from __future__ import annotations

from typing import Any

# Backslash escapes for Markdown syntax (links, images, emphasis, code spans, headings, table
# cells); "&", "<" and ">" become entities, which every renderer honours (a backslash before
# "<" is not an escape in all of them, and inline HTML is passed through).
_TABLE = {ord(c): "\\" + c for c in "\\`*_{}[]()#+!|"}
_TABLE.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\n"): " ", ord("\r"): " "})
# control characters (C0 but tab, DEL, C1) never reach a report: shown as U+FFFD
_TABLE.update({c: "\ufffd" for c in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))})


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown: safe inline and inside a table cell, on one line."""
    return str(text).translate(_TABLE)
