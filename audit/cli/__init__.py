"""The ``audit`` command line. Thin: parses options, calls the library, prints.

Each command group lives in its own module exposing ``register(app)``.
Errors from the :class:`~audit.errors.AuditError` tree become one-line messages
and the documented exit codes (see ``audit.errors.EXIT_CODES``).
"""

from __future__ import annotations

import logging
import sys

import typer

from audit.cli import _common
from audit.cli import data as data_cmd
from audit.cli import dashboard as dashboard_cmd
from audit.cli import evaluate as evaluate_cmd
from audit.cli import explain as explain_cmd
from audit.cli import harden as harden_cmd
from audit.cli import export as export_cmd
from audit.cli import predict as predict_cmd
from audit.cli import run as run_cmd
from audit.cli import runs as runs_cmd
from audit.cli import suite as suite_cmd
from audit.cli import train as train_cmd

app = typer.Typer(
    name="audit",
    help="Debug and audit recurrent text classifiers with REAT attributions.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"audit (reat-audit) {_common.package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only log warnings and errors."),
) -> None:
    _common.configure_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


for _module in (train_cmd, predict_cmd, explain_cmd, data_cmd, run_cmd, runs_cmd, export_cmd, suite_cmd, evaluate_cmd,
                dashboard_cmd, harden_cmd):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Returns the process exit code."""
    return _common.run_app(app, argv if argv is not None else sys.argv[1:])
