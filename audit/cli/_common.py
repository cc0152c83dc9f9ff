"""Shared CLI plumbing: logging set-up, usage errors and AuditError -> exit code mapping.

Exit codes (documented in README and docs/ci.md): 0 ok, 2 gate failed, 3-7 the
:class:`~audit.errors.AuditError` families, 64 a usage error (EX_USAGE: unknown or
missing option, bad value, unknown command, no arguments), 130 interrupted (Ctrl-C or an
aborted prompt), 1 a bug.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import typer

from audit.errors import EXIT_INTERRUPTED, EXIT_USAGE, AuditError

log = logging.getLogger("audit")


def _parser_error_classes() -> tuple[type[Exception], type[Exception]]:
    """``(ClickException, UsageError)`` of the click that *typer itself* uses.

    typer >= 0.29 vendors its own copy of click (``typer._click``); older releases use the
    separately installed ``click``. Catching the classes of a separately imported ``click``
    therefore misses every parse error of a vendoring typer. ``typer.BadParameter`` is
    public in both and derives from the right ``UsageError`` and ``ClickException``, so
    they are taken from its MRO. ``tests/test_cli_contract.py`` fails loudly if that
    hierarchy changes.
    """
    by_name = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    try:
        click_exc, usage_exc = by_name["ClickException"], by_name["UsageError"]
    except KeyError as exc:  # pragma: no cover - only with an incompatible typer
        raise RuntimeError(
            f"typer {getattr(typer, '__version__', '?')}: typer.BadParameter no longer derives from "
            f"click's UsageError/ClickException (MRO: {[c.__name__ for c in typer.BadParameter.__mro__]})"
        ) from exc
    return click_exc, usage_exc


ClickException, UsageError = _parser_error_classes()


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


def package_version() -> str:
    """The installed distribution's version (``reat-audit``), else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reat-audit")
    except PackageNotFoundError:
        import audit

        return str(getattr(audit, "__version__", "unknown"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def show_usage_error(exc: Exception) -> None:
    """The usage line, a help hint and a one-line error on stderr (never the whole help page)."""
    ctx: Any = getattr(exc, "ctx", None)
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        typer.echo(f"Try '{ctx.command_path} --help' for help.", err=True)
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    typer.echo(f"error: {_one_line(message)}", err=True)


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Run the Typer app in process and return its exit code (used by tests and ``main``)."""
    try:
        # With standalone_mode=False, click returns an Exit's code instead of raising it, and
        # raises parse errors to us instead of printing them and calling sys.exit.
        result = app(args=argv, prog_name="audit", standalone_mode=False)
    except AuditError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except UsageError as exc:
        show_usage_error(exc)
        return EXIT_USAGE
    except ClickException as exc:  # e.g. a file option that cannot be opened: still the caller's input
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)  # type: ignore[attr-defined]
        return EXIT_USAGE
    except typer.Abort:  # raised by a command, or by typer for EOF at a prompt (Ctrl-D); Ctrl-C is Exit(130)
        typer.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
