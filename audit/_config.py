"""Reading YAML configs and turning pydantic errors into :class:`~audit.errors.ConfigError`.

Shared by the training, nightly and evaluation configs so that every config error
reads the same: ``<file>[:<line>]: <dotted.field>: <message>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from audit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml_mapping(path: str | Path) -> tuple[dict[str, Any], str]:
    """Parse the YAML mapping in ``path``; return it with the file's text (for hashing)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", path=p) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config ({exc})", path=p) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML ({getattr(exc, 'problem', None) or exc})", path=p, line=line) from exc
    if not isinstance(data, dict):
        raise ConfigError("the config must be a YAML mapping of keys to values", path=p)
    return data, text


def validation_message(exc: ValidationError) -> str:
    """``field.path: message`` for each problem, joined with ``; ``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(parts)


def validate(model: type[M], data: object, *, path: str | Path, hint: str | None = None) -> M:
    """``model.model_validate(data)``, raising :class:`ConfigError` naming ``path`` and each field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc), path=path, hint=hint) from exc
