"""Shared CLI plumbing: logging set-up and AuditError -> exit code mapping."""

from __future__ import annotations

import logging
import sys

import typer
from click.exceptions import ClickException, Exit

from audit.errors import AuditError

log = logging.getLogger("audit")


def configure_logging(level: int) -> None:
    root = logging.getLogger("audit")
    root.setLevel(level)
    if not any(getattr(h, "_audit_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._audit_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def fail(exc: AuditError) -> typer.Exit:
    """Print ``exc`` as one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=exc.exit_code)


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Run the Typer app in process and return its exit code (used by tests and ``main``)."""
    try:
        # With standalone_mode=False, click returns an Exit's code instead of raising it.
        result = app(args=argv, prog_name="audit", standalone_mode=False)
    except AuditError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (Exit, typer.Exit) as exc:
        return int(exc.exit_code or 0)
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0
