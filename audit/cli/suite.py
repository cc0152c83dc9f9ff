"""``audit suite run SUITE --model DIR``: re-check an exported JSONL suite against a model.

Exit 0 when the suite passes (failure rate <= tolerance; by default no case may fail),
2 (GateFailure) when it does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from audit.errors import GateFailure


def register(app: typer.Typer) -> None:
    """Add the ``suite`` command group to ``app``."""
    suite_app = typer.Typer(help="Run exported adversarial test suites.", no_args_is_help=False)
    app.add_typer(suite_app, name="suite")

    @suite_app.command("run")
    def run_cmd(
        suite_path: Path = typer.Argument(..., help="A suite exported with `audit export --format jsonl`."),
        model: str = typer.Option(..., "--model", "-m", help="Model directory or module:function reference."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        tolerance: float | None = typer.Option(
            None, "--tolerance", min=0.0, max=1.0, help="Allowed failure rate (default: the suite manifest's, 0)."),
        show: int = typer.Option(10, "--show", min=0, help="Failing cases to print."),
    ) -> None:
        """Re-predict every case; exit 2 if the failure rate exceeds the tolerance."""
        from audit.export import read_suite, run_suite
        from audit.models.io import load_model_ref

        suite = read_suite(suite_path)
        result = run_suite(suite, load_model_ref(model), tolerance=tolerance)
        if as_json:
            typer.echo(json.dumps(result.model_dump(), indent=2))
        else:
            by_id = {c.case_id: c for c in suite.cases}
            typer.echo(f"{result.n_cases} cases, {result.n_failed} failed "
                       f"({result.failure_rate * 100:.2f}%, tolerance {result.tolerance * 100:.2f}%)")
            for r in result.failures()[:show]:
                typer.echo(f"  FAIL {r.case_id}: predicted {r.predicted}, expected {r.expected}: "
                           f"{by_id[r.case_id].variant}")
        if not result.passed:
            raise GateFailure(f"{result.n_failed} of {result.n_cases} suite cases failed",
                              hint="the model changes its label on meaning-preserving variants")
