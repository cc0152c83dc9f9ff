"""``audit run``: the nightly audit job (predict, explain, find failure drivers, attack, gate)."""

from __future__ import annotations

from pathlib import Path

import typer

from audit.errors import GateFailure


def _pct(value: object) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.2f}%"  # type: ignore[arg-type]


def _summary(result: object) -> list[str]:
    from audit.engine.job import JobResult

    assert isinstance(result, JobResult)
    m, t = result.metrics, result.timings
    lines = [
        f"run {result.run_id} ({'resumed' if result.resumed else 'new'}), model {result.record.manifest.get('model_ref')}"
        f", executor {result.record.manifest.get('executor', 'local')}",
        f"  examples {m.get('n_examples')}, errors {m.get('n_errors')}, accuracy {_pct(m.get('accuracy'))}, "
        f"max completeness delta {m.get('max_completeness_delta', float('nan')):.2e}",
    ]
    if m.get("n_skipped_rows"):
        lines.append(f"  {m['n_skipped_rows']} bad rows skipped (on_bad_rows: skip), each listed in the report:")
        for r in (result.record.manifest.get("skipped_rows") or [])[:10]:
            lines.append(f"    - {r.get('path')}:{r.get('line')}: {r.get('reason')}")
    per = m.get("per_dataset") or {}
    if len(per) > 1:
        for name, d in per.items():
            lines.append(f"  {name}: examples {d.get('n_examples')}, errors {d.get('n_errors')}, "
                         f"accuracy {_pct(d.get('accuracy'))}, attacked {d.get('n_attacked')}, "
                         f"attack success {_pct(d.get('attack_success_rate'))}")
    if m.get("n_truncated"):
        lines.append(f"  {m['n_truncated']} texts longer than max_len={m.get('max_len')} were truncated")
    if m.get("n_confirmed_drivers") is not None:
        lines.append(f"  confirmed driver words: {m['n_confirmed_drivers']}")
    if m.get("n_attacked"):
        lines.append(
            f"  attacked {m['n_attacked']} texts: success {_pct(m.get('attack_success_rate'))}, "
            f"constrained {_pct(m.get('attack_success_rate_constrained'))}, "
            f"strict-valid {_pct(m.get('attack_success_rate_valid'))} ({m.get('attack_recipe')} recipe), "
            f"mean queries {m.get('mean_queries'):.1f}"
        )
    lines.append(
        f"  time: attribution+findings {t.get('attribution_and_findings', 0.0):.1f}s, "
        f"driver statistics {t.get('driver_statistics', 0.0):.1f}s, attack {t.get('attack', 0.0):.1f}s,"
        f" total {t.get('total', 0.0):.1f}s"
    )
    prev = result.previous_run_id
    if prev:
        words = ", ".join(result.new_driver_words[:10]) or "none"
        lines.append(f"  vs {prev}: new confirmed driver words: {words}")
    else:
        lines.append("  no previous complete run of this model to compare with")
    gate = result.gate
    lines.append("  gate: PASSED" if gate.passed else "  gate: FAILED")
    for breach in gate.breaches:
        lines.append(f"    - {breach}")
    for check in gate.checks:
        if check.get("status") == "skipped":  # configured but not evaluated: say so, never imply it passed
            lines.append(f"    - {check.get('message')}")
    lines.append(f"  report: {result.record.path / 'report.md'}")
    return lines


def register(app: typer.Typer) -> None:
    """Add ``audit run`` to ``app``."""

    @app.command("run")
    def run(
        config: Path = typer.Option(Path("configs/nightly.yaml"), "--config", "-c", help="Nightly job config (YAML)."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse completed chunks of an interrupted run."),
        store: Path | None = typer.Option(None, "--store", help="Run store directory (default: $AUDIT_STORE, else the config's `store`)."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the config)."),
        progress: bool | None = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: on a terminal)."),
        wait: float = typer.Option(
            0.0, "--wait", min=0.0, metavar="SECONDS",
            help="If another job holds the run store, wait up to SECONDS for it (default: refuse at once)."),
        executor: str | None = typer.Option(None, "--executor", help="local|ray: where the chunks run (default: the config's `executor`, else local; same tables). ray needs pip install 'reat-audit[ray]'."),
    ) -> None:
        """Audit a model on the configured datasets and publish a run; exit 2 when the gate fails."""
        from audit.engine.config import EXECUTORS, load_config, parse_config
        from audit.engine.job import run_job

        from audit.settings import store_dir

        if executor is not None and executor not in EXECUTORS:  # a usage error (exit 64), before the config is read
            raise typer.BadParameter(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}",
                                     param_hint="'--executor'")
        cfg = load_config(config)
        if executor is not None:
            cfg = parse_config({**cfg.as_dict(), "executor": executor}, source="--executor")
        store_root = store_dir(store, configured=cfg.store)
        result = run_job(cfg, config_path=config, resume=resume, store_root=store_root, seed=seed, progress=progress,
                         wait_s=wait)
        for line in _summary(result):
            typer.echo(line)
        typer.echo(result.run_id)
        if not result.gate.passed:
            raise GateFailure(
                "regression gate failed: " + "; ".join(result.gate.breaches),
                hint=f"see {result.record.path / 'report.md'} or `audit runs diff`",
            )
