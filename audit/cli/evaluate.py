"""`audit evaluate`: reproduce the paper's evaluation (section 4) from a config."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("evaluate")
    def evaluate(
        config: Path = typer.Option(..., "--config", "-c", help="Evaluation config, e.g. configs/paper/sst2.yaml."),
        out: Path = typer.Option(
            Path("reports/paper"), "--out", "-o", help="Report folder (created; files are overwritten)."
        ),
    ) -> None:
        """Train or load the models, run the paper's section 4 and write Markdown, JSON and charts."""
        from audit.evaluation.runner import run_evaluation

        command = "audit evaluate " + " ".join(shlex.quote(a) for a in ["--config", str(config), "--out", str(out)])
        results = run_evaluation(config, out_dir=out, command=command)  # AuditError -> exit code in run_app
        typer.echo(f"wrote {out / 'report.md'} and {out / 'results.json'}")
        for row in results.get("accuracy", []):
            paper = "" if row["paper"] is None else f" (paper {row['paper']:.1f})"
            typer.echo(f"  {row['model']}: accuracy {row['ours']:.1f}%{paper}")
        for section in ("faithfulness", "interpretability"):
            for model, v in results.get("verdicts", {}).get(section, {}).items():
                typer.echo(f"  {section} {model}: best {v['best']}, REAT rank {v['reat_rank']}/{v['n_methods']}")
        t = results["timings"]
        typer.echo(f"  time: {t['total_seconds']:.0f} s (training {t['training_seconds']:.0f} s)")
