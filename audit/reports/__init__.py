"""Run reports (``report.md`` + ``report.html``)."""

from audit.reports.run_report import write_run_report

__all__ = ["write_run_report"]
