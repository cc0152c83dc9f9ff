"""The one exception tree of reat-audit.

Every error the library raises on purpose derives from :class:`AuditError`.
Each carries a human-readable message that names the offending file, line or
field and, where there is one, the fix.  The CLI maps each family to an exit
code (see :data:`EXIT_CODES`), so scripts can tell a bad config from a
breached gate.

    AuditError
    ├── ConfigError            bad YAML, unknown key, wrong type      (exit 3)
    ├── DataError              unreadable or malformed dataset rows   (exit 4)
    ├── ResourceMissingError   NLTK data, embeddings, data dir absent (exit 4)
    ├── ModelError             unsafe/truncated/mismatched model      (exit 5)
    │   └── IncompatibleModelError  model REAT cannot decompose       (exit 5)
    ├── InputError             empty text, all-OOV, bad target class  (exit 6)
    ├── StoreError             run store unreadable / read-only / full (exit 7)
    │   └── StoreLockedError   another job holds the store            (exit 7)
    ├── ExecutorError          a Ray worker died past its retries     (exit 8; rerun resumes)
    └── GateFailure            not an error of the tool: thresholds   (exit 2)

A command-line usage error (unknown or missing option, bad value, missing argument,
unknown command, no arguments) is not an AuditError: the CLI reports it with the
usage line and exits :data:`EXIT_USAGE` (64, BSD's EX_USAGE). An interrupted command
(Ctrl-C, an aborted prompt: ``typer.Abort``) exits :data:`EXIT_INTERRUPTED` (130 = 128 + SIGINT,
the shell's convention). Exit 1 means a bug.
"""

from __future__ import annotations

from pathlib import Path


class AuditError(Exception):
    """Base class of every error raised on purpose by reat-audit."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class ConfigError(AuditError):
    """A configuration file or option is invalid (unknown key, wrong type...)."""

    exit_code = 3


class DataError(AuditError):
    """A dataset file is missing, empty or has malformed rows."""

    exit_code = 4


class ResourceMissingError(AuditError):
    """An external resource (NLTK data, embeddings, data dir) is not available."""

    exit_code = 4


class ModelError(AuditError):
    """A model directory is unsafe, truncated, or does not match its config."""

    exit_code = 5


class IncompatibleModelError(ModelError):
    """The model cannot be decomposed by REAT (e.g. its head reads pooled states)."""


class InputError(AuditError):
    """A user input cannot be explained or predicted (empty text, bad target...)."""

    exit_code = 6


class StoreError(AuditError):
    """The run store cannot be read or written."""

    exit_code = 7


class StoreLockedError(StoreError):
    """Another job holds the run store's write lock."""


class ExecutorError(AuditError):
    """The executor lost work it could not retry (e.g. a Ray worker died past its retries).

    Completed chunks are kept in the staging folder: a rerun of the same job resumes."""

    exit_code = 8


class GateFailure(AuditError):
    """A run breached a regression threshold. Not a malfunction of the tool."""

    exit_code = 2


EXIT_USAGE = 64
"""Exit code of a command-line usage error (sysexits.h EX_USAGE)."""

EXIT_INTERRUPTED = 130
"""Exit code of an interrupted command: Ctrl-C or an aborted prompt (128 + SIGINT, as a shell reports it)."""

EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "gate_failed": GateFailure.exit_code,
    "config": ConfigError.exit_code,
    "data": DataError.exit_code,
    "model": ModelError.exit_code,
    "input": InputError.exit_code,
    "store": StoreError.exit_code,
    "executor": ExecutorError.exit_code,
    "usage": EXIT_USAGE,
    "interrupted": EXIT_INTERRUPTED,
    "other": 1,
}
