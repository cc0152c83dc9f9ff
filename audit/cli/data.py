"""`audit data check` / `audit data fetch`: the NLTK data reat-audit needs."""

from __future__ import annotations

from pathlib import Path

import typer

from audit.errors import ResourceMissingError


def register(app: typer.Typer) -> None:
    """Add the ``audit data`` group to ``app``."""
    group = typer.Typer(help="Check or fetch the NLTK data (tagger, universal tagset, WordNet...).", no_args_is_help=False)

    @group.command("check")
    def check_cmd() -> None:
        """Print whether each NLTK resource is available; exit 4 if any is missing."""
        from audit.nlp import resources
        from audit.settings import nltk_data_dir

        where = nltk_data_dir()
        typer.echo(f"NLTK data dir: {where if where is not None else '(NLTK defaults; NLTK_DATA not set)'}")
        status = resources.check()
        for name, ok in status.items():
            typer.echo(f"  {'ok     ' if ok else 'MISSING'}  {name}  ({resources.RESOURCES[name][0]})")
        missing = [n for n, ok in status.items() if not ok]
        if missing:
            raise ResourceMissingError(f"missing NLTK resources: {', '.join(missing)}", hint="run `audit data fetch`")

    @group.command("fetch")
    def fetch_cmd(
        directory: Path | None = typer.Option(None, "--dir", help="Download into this directory (default: NLTK_DATA)."),
    ) -> None:
        """Download the missing NLTK resources (needs network access)."""
        from audit.nlp import resources

        missing = [n for n, ok in resources.check().items() if not ok] if directory is None else None
        if missing == []:
            typer.echo("all NLTK resources are present")
            return
        results = resources.fetch(download_dir=directory, names=missing)
        for name, ok in results.items():
            typer.echo(f"  {'ok    ' if ok else 'FAILED'}  {name}")
        failed = [n for n, ok in results.items() if not ok]
        if failed:
            raise ResourceMissingError(f"could not download: {', '.join(failed)}", hint="check network access or copy nltk_data by hand")

    app.add_typer(group, name="data")
