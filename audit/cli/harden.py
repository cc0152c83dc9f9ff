"""``audit harden --run RUN_ID --out MODEL_DIR``: retrain with a run's findings, then audit again."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from audit.cli.runs import STORE_HELP, resolve_store


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def register(app: typer.Typer) -> None:
    """Add ``audit harden`` to ``app``."""

    @app.command("harden")
    def harden_cmd(
        run: str = typer.Option(..., "--run", help="Published run whose findings drive the retraining."),
        out: Path = typer.Option(..., "--out", "-o", help="New model directory (must not exist or be empty)."),
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        config: Path | None = typer.Option(None, "--config", "-c", help="harden.yaml (default: built-in defaults)."),
        no_eval: bool = typer.Option(False, "--no-eval", help="Do not audit the new model afterwards."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Retrain the run's model with counterfactual / adversarial augmentation and REAT regularisation."""
        from audit.harden import harden, load_harden_config

        cfg = load_harden_config(config)
        result = harden(run, store=resolve_store(store), out_dir=out, config=cfg, evaluate=not no_eval)
        summary = result.to_dict()
        if as_json:
            typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
            return
        if not result.trained:
            typer.echo(result.message or "nothing to do")
            return
        typer.echo(f"hardened model: {result.model_dir}")
        typer.echo(f"  drivers: {', '.join(result.plan.drivers) or '-'}")
        typer.echo(f"  added training texts: {summary['augmentation'] or '-'}; training {summary['train_seconds']} s")
        if result.new_run_id:
            typer.echo(f"  new run: {result.new_run_id} (compare: audit runs diff {run} {result.new_run_id})")
        for key, before in summary["before"].items():
            after = summary["after"].get(key)
            typer.echo(f"  {key}: {_fmt(before)} -> {_fmt(after)}")
