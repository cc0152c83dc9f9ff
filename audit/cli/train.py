"""`audit train`: train a reference classifier from a YAML config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def train(
    config: Path = typer.Option(..., "--config", "-c", help="Training config, e.g. configs/train/gru.yaml."),
    arch: str | None = typer.Option(None, "--arch", help="Override: gru | lstm | bigru | bilstm."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override training.epochs."),
    train_path: str | None = typer.Option(None, "--train", help="Override data.train (path or data:...)."),
    dev_path: str | None = typer.Option(None, "--dev", help="Override data.dev."),
    test_path: str | None = typer.Option(None, "--test", help="Override data.test."),
    seed: int | None = typer.Option(None, "--seed", help="Override training.seed."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Model directory (default artifacts/models/<name>)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Train a GRU/LSTM/BiGRU/BiLSTM classifier and write a model directory."""
    from audit.models.config import load_train_config
    from audit.models.train import train_model

    overrides: dict[str, Any] = {}
    for key, value in (
        ("arch", arch),
        ("training.epochs", epochs),
        ("data.train", train_path),
        ("data.dev", dev_path),
        ("data.test", test_path),
        ("training.seed", seed),
    ):
        if value is not None:
            overrides[key] = value
    cfg = load_train_config(config, overrides=overrides)
    out_dir = out if out is not None else cfg.out_dir()
    result = train_model(cfg, out_dir=out_dir)
    m = result.metrics
    if as_json:
        typer.echo(json.dumps({k: v for k, v in m.items() if k != "history"} | {"out_dir": str(result.out_dir)}))
        return
    line = f"{cfg.name} ({cfg.arch}): best dev accuracy {m['dev_accuracy']:.4f} at epoch {m['best_epoch']}/{m['epochs_run']}"
    if "test_accuracy" in m:
        line += f", test accuracy {m['test_accuracy']:.4f}"
    typer.echo(line)
    typer.echo(f"model written to {result.out_dir}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("train")(train)
