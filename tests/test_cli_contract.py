"""The CLI contract: a usage error prints the usage line and a one-line error, no traceback, exit 64.

These run the *installed* console script in a subprocess (as a user or CI would), so they
also catch an entry point that lets a parser exception escape (typer vendoring its own click).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from audit.cli import _common
from audit.errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_USAGE

from tests._timeouts import HANG_GUARD_S

AUDIT = Path(sys.executable).parent / "audit"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert AUDIT.is_file(), f"console script not installed at {AUDIT} (run `make setup`)"
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([str(AUDIT), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=HANG_GUARD_S)


USAGE_ERRORS = {
    "no arguments": ((), "Missing command"),
    "missing option (train)": (("train",), "--config"),
    "missing option (predict)": (("predict", "--text", "good"), "--model"),
    "missing argument (runs show)": (("runs", "show"), "run_id"),
    "missing argument (export)": (("export",), "run_id"),
    "unknown option": (("run", "--bogus-flag"), "--bogus-flag"),
    "bad value": (("run", "--seed", "abc"), "--seed"),
    "unknown command": (("frobnicate",), "frobnicate"),
    "unknown subcommand": (("runs", "frobnicate"), "frobnicate"),
    "group without subcommand": (("runs",), "Missing command"),
    "bad value (range)": (("dashboard", "--port", "0"), "--port"),
    "conflicting options (command)": (("predict", "--model", "m"), "--text"),
}


@pytest.mark.parametrize("args,needle", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_error_is_short_and_exits_64(args: tuple[str, ...], needle: str, tmp_path: Path) -> None:
    proc = _run(*args, cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE == 64, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 2 <= len(lines) <= 5, proc.stderr
    assert lines[0].startswith("Usage: audit"), proc.stderr
    assert lines[-1].startswith("error: ") and needle in lines[-1], proc.stderr
    assert proc.stdout == ""


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    proc = _run("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"audit (reat-audit) {version('reat-audit')}"


def test_help_still_exits_0(tmp_path: Path) -> None:
    proc = _run("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "--config" in proc.stdout and proc.stderr == ""


def test_audit_error_keeps_its_code(tmp_path: Path) -> None:
    proc = _run("runs", "show", "nope", "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert proc.returncode == EXIT_CODES["store"] == 7
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # one line
    assert proc.stderr.startswith("error: ") and "unknown run 'nope'" in proc.stderr


def test_exit_codes_are_distinct() -> None:
    codes = [v for k, v in EXIT_CODES.items() if k not in ("data",)]  # data and resources share 4
    assert len(set(codes)) == len(codes)
    assert EXIT_CODES["usage"] == 64 and EXIT_CODES["gate_failed"] == 2 and EXIT_CODES["other"] == 1


def test_parser_exception_classes_are_typers_own() -> None:
    """The one wrapper around click internals: fails loudly if typer's exception hierarchy changes."""
    assert issubclass(typer.BadParameter, _common.UsageError)
    assert issubclass(_common.UsageError, _common.ClickException)
    assert _common.UsageError.__name__ == "UsageError" and _common.ClickException.__name__ == "ClickException"
    # what show_usage_error reads from an exception raised while parsing
    err = typer.BadParameter("x")
    assert hasattr(err, "ctx") and callable(err.format_message)
    # the classes the parser actually raises are the ones we catch
    from audit.cli import app

    cmd = typer.main.get_command(app)
    with pytest.raises(_common.UsageError):
        cmd.main(args=["--no-such-flag"], prog_name="audit", standalone_mode=False)


def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize("exc", [typer.Abort(), EOFError(), KeyboardInterrupt()], ids=["abort", "eof-at-prompt", "ctrl-c"])
def test_interrupt_and_abort_exit_130(exc: BaseException, capsys: pytest.CaptureFixture[str]) -> None:
    """An aborted prompt (typer.Abort; EOF at a prompt, which typer turns into Abort) and Ctrl-C (typer's
    Exit(130)) are interruptions, not bugs (exit 1)."""
    code = _common.run_app(_app_raising(exc), [])
    assert code == EXIT_CODES["interrupted"] == EXIT_INTERRUPTED == 130
    if not isinstance(exc, KeyboardInterrupt):
        assert capsys.readouterr().err.strip() == "aborted"
