"""`audit predict`: labels and class probabilities for raw texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import typer

from audit.errors import InputError

PREDICT_CHUNK = 256  # texts per forward pass


class _Prediction(TypedDict):
    text: str
    label: str
    label_id: int
    probs: dict[str, float]


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read input file ({exc.strerror})", path=path) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("not valid UTF-8", path=path, line=raw.count(b"\n", 0, exc.start) + 1) from exc
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError("empty text", path=path, line=i, hint="one text per line, no blank lines")
    if not lines:
        raise InputError("the input file has no texts", path=path)
    return [line.rstrip("\r") for line in lines]


def predict(
    model: str = typer.Option(..., "--model", "-m", help="Model directory or module:function."),
    text: list[str] | None = typer.Option(None, "--text", "-t", help="A text to classify (repeatable)."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help="UTF-8 file, one text per line."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of predictions."),
) -> None:
    """Predict labels and probabilities."""
    from audit.models.io import load_model_ref

    if bool(text) == (input_file is not None):
        raise typer.BadParameter("give either --text or --input")
    texts = list(text) if text else _read_lines(input_file)  # type: ignore[arg-type]
    for i, t in enumerate(texts):
        if not t.strip():
            raise InputError(f"text #{i + 1} is empty", hint="pass a non-empty --text")
    m = load_model_ref(model)
    probs: list[list[float]] = []
    for start in range(0, len(texts), PREDICT_CHUNK):  # bounded memory for long --input files
        probs.extend(m.predict_proba(texts[start : start + PREDICT_CHUNK]).tolist())
    rows: list[_Prediction] = []
    for t, p in zip(texts, probs):
        best = max(range(len(p)), key=p.__getitem__)
        rows.append({"text": t, "label": m.labels[best], "label_id": best, "probs": dict(zip(m.labels, p))})
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        typer.echo(f"{r['label']}\t{r['probs'][r['label']]:.4f}\t{r['text']}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("predict")(predict)
