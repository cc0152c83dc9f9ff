"""`audit explain`: REAT (or a baseline) heatmap for one text."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from audit.errors import InputError

LEVEL_CHOICES = ("word", "phrase", "clause", "all")


def register(app: typer.Typer) -> None:
    """Add ``audit explain`` to ``app``."""

    @app.command("explain")
    def explain_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Model directory or module:function reference."),
        text: str = typer.Option(..., "--text", "-t", help="The text to explain."),
        method: str = typer.Option("reat", "--method", help="reat, naive_reat, vanilla_grad, integrated_gradients, grad_input, lime."),
        level: str = typer.Option("word", "--level", help="word, phrase, clause or all."),
        target: str | None = typer.Option(None, "--target", help="Class (label or index) to explain; default: predicted."),
        as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
        html_file: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML page to this file."),
    ) -> None:
        """Show how much each word (phrase, clause) of TEXT pushes the prediction."""
        from audit.attribution import explain
        from audit.attribution.render import heatmap_rich, page_html
        from audit.models.io import load_model_ref

        if level not in LEVEL_CHOICES:
            raise InputError(f"unknown --level {level!r}", hint=f"choose one of {', '.join(LEVEL_CHOICES)}")
        if as_json and html_file is not None:
            raise InputError("--json and --html are exclusive", hint="pick one output")
        levels = ("word", "phrase", "clause") if level == "all" else tuple(dict.fromkeys(("word", level)))
        loaded = load_model_ref(model)
        result = explain(loaded, text, method=method, target=target, levels=levels)
        summary = (
            f"prediction: {result.label} ({result.confidence:.1%}); scores toward {result.target_label} "
            f"with {result.method}"
        )
        if result.completeness_delta is not None:
            summary += f"; logit {result.logit:+.4f} = bias {result.bias:+.4f} + sum of scores (gap {result.completeness_delta:.2g})"
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
            return
        if html_file is not None:
            levels_out = result.hierarchy.levels if result.hierarchy is not None else None
            html_file.parent.mkdir(parents=True, exist_ok=True)
            html_file.write_text(page_html(result.tokens, result.scores, summary=summary, levels=levels_out), encoding="utf-8")
            typer.echo(f"wrote {html_file}")
            return
        from rich.console import Console
        from rich.table import Table

        console = Console()
        console.print(summary)
        console.print(heatmap_rich(result.tokens, result.scores))
        if any(result.oov):
            console.print("out of vocabulary: " + ", ".join(t for t, o in zip(result.tokens, result.oov) if o), markup=False)
        for name, segs in (result.hierarchy.levels.items() if result.hierarchy is not None else []):
            if name == "word" and level != "all" and level != "word":
                continue
            table = Table(title=f"{name} level")
            table.add_column("segment")
            table.add_column("tokens")
            table.add_column("score", justify="right")
            peak = max(abs(s.score) for s in segs)
            for seg in segs:
                table.add_row(heatmap_rich([seg.text], [seg.score], peak=peak), f"{seg.start}-{seg.end}", f"{seg.score:+.4f}")
            console.print(table)
