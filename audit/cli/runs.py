"""``audit runs list|show|diff|reindex``: browse the run store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from audit.settings import DEFAULT_STORE, STORE_ENV, store_dir

if TYPE_CHECKING:  # the store pulls in pandas: imported when a command runs, not at CLI start-up
    from audit.store import RunRecord, RunStore

STORE_HELP = f"Run store directory (default: ${STORE_ENV}, else the --config's `store`, else {DEFAULT_STORE})."
CONFIG_HELP = "Nightly job config (as given to `audit run --config`): its `store` is the default store."


def configured_store(config: Path | None) -> str | None:
    """The ``store`` of a nightly config (validated like ``audit run`` does), or None without one."""
    if config is None:
        return None
    from audit.engine.config import load_config

    return load_config(config).store


def resolve_store(store: Path | None, config: Path | None = None) -> RunStore:
    """``--store`` beats ``$AUDIT_STORE`` beats the ``--config``'s ``store`` beats ``reports/runs``
    (relative to the current directory) -- the same order as ``audit run``."""
    from audit.store import RunStore

    return RunStore(store_dir(store, configured=configured_store(config)))


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.2f}%"


def _gate(passed: bool | None) -> str:
    return "-" if passed is None else ("pass" if passed else "FAIL")


def _confirmed(record: RunRecord) -> list[dict[str, Any]] | None:
    """The run's confirmed drivers in rank order (the manifest's list, else from ``driver_stats``); None: no table."""
    listed = record.manifest.get("confirmed_drivers")
    if isinstance(listed, list):
        return listed
    if not record.has_table("driver_stats"):
        return None
    from audit.findings.drivers import confirmed_drivers

    return confirmed_drivers(record.table("driver_stats"))


def _dump(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command group to ``app``."""
    runs_app = typer.Typer(help="List, inspect and compare audit runs in the run store.", no_args_is_help=False)
    app.add_typer(runs_app, name="runs")

    @runs_app.command("list")
    def list_cmd(
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
        complete_only: bool = typer.Option(False, "--complete", help="Only complete (published) runs."),
    ) -> None:
        """List runs, oldest first."""
        runs = resolve_store(store, config).list_runs(include_incomplete=not complete_only)
        if as_json:
            _dump([r.to_dict() for r in runs])
            return
        if not runs:
            typer.echo("no runs")
            return
        typer.echo(f"{'run_id':<28} {'status':<11} {'accuracy':>9} {'attack':>8} {'gate':>5}  model")
        for r in runs:
            typer.echo(f"{r.run_id:<28} {r.status:<11} {_pct(r.metrics.get('accuracy')):>9} "
                       f"{_pct(r.metrics.get('attack_success_rate')):>8} {_gate(r.gate_passed):>5}  {r.model_ref or '-'}")

    @runs_app.command("show")
    def show_cmd(
        run_id: str = typer.Argument(..., help="Run id (see `audit runs list`)."),
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON (plus confirmed_drivers, null when the findings stage did not run, and findings)."),
    ) -> None:
        """Show one run's manifest summary and its confirmed driver words."""
        from audit.metrics import FINDINGS_COMPUTED, FINDINGS_NOT_COMPUTED, NOT_COMPUTED_MESSAGE

        record = resolve_store(store, config).get(run_id)
        confirmed = _confirmed(record)
        if as_json:  # no driver_stats: null, not [] ("none confirmed" when nothing was tested)
            _dump({**record.manifest, "path": str(record.path), "tables": record.tables(),
                   "confirmed_drivers": confirmed,
                   "findings": FINDINGS_NOT_COMPUTED if confirmed is None else FINDINGS_COMPUTED})
            return
        m, gate = record.metrics, record.manifest.get("gate") or {}
        lines = [
            f"run {record.run_id} ({record.status})", f"  path: {record.path}",
            f"  created: {record.manifest.get('created_at')}",
            f"  model: {record.manifest.get('model_ref')} (hash {record.manifest.get('model_hash')})",
            f"  examples {m.get('n_examples')}, errors {m.get('n_errors')}, accuracy {_pct(m.get('accuracy'))}",
            f"  attack success {_pct(m.get('attack_success_rate'))}, "
            f"constrained {_pct(m.get('attack_success_rate_constrained'))}",
            f"  gate: {_gate(gate.get('passed'))}",
        ]
        lines += [f"    - {b}" for b in gate.get("breaches") or []]
        if confirmed is None:
            lines.append(f"  confirmed driver words: {FINDINGS_NOT_COMPUTED}. {NOT_COMPUTED_MESSAGE}")
        elif not confirmed:
            lines.append("  confirmed driver words: none (no confirmed driver words in this run)")
        else:
            lines.append("  confirmed driver words (fix rate vs control):")
            lines += [f"    {d['rank']}. {d['word']}: {d['n_errors']} errors, lift {d['lift']:.2f}, "
                      f"q {d['q_value']:.2g}, fix {_pct(d['fix_rate'])} vs {_pct(d['control_fix_rate'])}"
                      for d in confirmed]
        lines.append(f"  previous run: {record.manifest.get('previous_run_id') or '-'}")
        lines.append(f"  tables: {', '.join(record.tables()) or 'none'}")
        for line in lines:
            typer.echo(line)

    @runs_app.command("diff")
    def diff_cmd(
        old: str = typer.Argument(..., help="The older run id."),
        new: str = typer.Argument(..., help="The newer run id."),
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of Markdown."),
    ) -> None:
        """Compare two runs: accuracy, new/fixed failures, new driver words, attack success."""
        from audit.store import diff_runs

        rs = resolve_store(store, config)
        diff = diff_runs(rs.get(old), rs.get(new))
        if as_json:
            _dump(diff.to_dict())
        else:
            typer.echo(diff.to_markdown())

    @runs_app.command("reindex")
    def reindex_cmd(
        store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    ) -> None:
        """Rebuild index.sqlite from the run folders (the index is derived data; a corrupt one is kept aside)."""
        rs = resolve_store(store, config)
        aside = rs.rebuild_index()
        if aside is not None:
            typer.echo(f"the index was corrupt: kept it as {aside}", err=True)
        typer.echo(f"reindexed {len(rs.list_runs())} runs in {rs.root}")
