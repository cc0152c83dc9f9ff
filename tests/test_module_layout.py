"""Modules split along concept lines keep their old import paths: each moved public name is re-exported."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MOVED = {  # old module -> (new module, names that moved)
    "audit.data.readers": ("audit.data.rows", ["BAD_ROW_POLICIES", "BLANK_LINE", "BadRow", "Labeller", "OnBadRows",
                                               "RawRow", "bad_rows_error", "check_row", "check_rows",
                                               "control_character", "record_problem", "row_problem"]),
    "audit.store.runs": ("audit.store.writer", ["RunWriter", "MANIFEST", "CHUNKS"]),
    "audit.reports.run_report": ("audit.reports._format", ["_METRICS", "_fmt", "_html_escape", "_md", "_heatmap"]),
    "audit.findings.drivers": ("audit.findings.association", ["WholeRun", "_in_scope", "_presence",
                                                              "_scopes"]),
    "audit.engine.job": ("audit.engine.stream_findings", ["FindingsTables", "attribution_blocks", "findings_of_blocks",
                                                          "_reat_word_drivers"]),
}


@pytest.mark.parametrize("old", list(MOVED))
def test_moved_names_are_re_exported_from_the_old_module(old: str) -> None:
    new, names = MOVED[old]
    before, after = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(before, name) is getattr(after, name), f"{old}.{name} is not {new}.{name}"
    if hasattr(before, "__all__"):  # a module with an export list keeps listing what it exported
        assert set(before.__all__) >= {n for n in names if n in getattr(after, "__all__", [])}


@pytest.mark.parametrize("module", ["audit/data/readers.py", "audit/data/rows.py", "audit/store/runs.py",
                                    "audit/store/writer.py", "audit/reports/run_report.py",
                                    "audit/reports/_format.py", "audit/reports/_provenance.py",
                                    "audit/findings/drivers.py", "audit/findings/association.py",
                                    "audit/engine/job.py", "audit/engine/stream_findings.py"])
def test_split_modules_stay_under_400_lines(module: str) -> None:
    assert len((ROOT / module).read_text(encoding="utf-8").splitlines()) <= 400
