"""``audit export RUN_ID --format jsonl|csv|pytest|junit --out PATH``: a run's variants as a test suite."""

from __future__ import annotations

from pathlib import Path

import typer

from audit.cli.runs import STORE_HELP, resolve_store
from audit.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``audit export`` to ``app``."""

    @app.command("export")
    def export_cmd(
        run_id: str = typer.Argument(..., help="Run id (see `audit runs list`)."),
        fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl | csv | pytest | junit."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file."),
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        include_flagged: bool = typer.Option(
            False, "--include-flagged",
            help="Also export variants that failed a validity check or carry a meaning flag (labelled invalid)."),
        recipe: str = typer.Option(
            "strict", "--recipe",
            help="strict: only strict-valid variants (default) | loose: the raw variants too, labelled."),
        tolerance: float = typer.Option(
            0.0, "--tolerance", min=0.0, max=1.0, help="Failure rate a rerun may have and still pass (jsonl)."),
    ) -> None:
        """Export a run's adversarial variants as invariance (INV) test cases."""
        from audit.export import FORMATS, export_suite

        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
        if recipe not in ("strict", "loose"):
            raise ConfigError(f"--recipe: unknown recipe {recipe!r}", hint="use strict or loose")
        record = resolve_store(store).get(run_id)
        path = export_suite(record, fmt=fmt, out=out, include_flagged=include_flagged,  # type: ignore[arg-type]
                            tolerance=tolerance, recipe=recipe)  # type: ignore[arg-type]
        typer.echo(str(path))
