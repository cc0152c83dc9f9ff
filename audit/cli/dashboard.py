"""`audit dashboard`: start the Streamlit dashboard on a run store (localhost by default)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import typer

from audit.dashboard.store import DEFAULT_STORE, STORE_ENV
from audit.errors import AuditError, ResourceMissingError

APP_ENV = "AUDIT_DASHBOARD_APP"


def find_app() -> Path:
    """``dashboards/app.py`` of the repository this package is installed from (editable installs).

    ``$AUDIT_DASHBOARD_APP`` overrides the location (for wheels installed away from the repo).
    """
    if os.environ.get(APP_ENV):
        candidates = [Path(os.environ[APP_ENV]).expanduser()]
    else:
        package_root = Path(__file__).resolve().parents[2]
        candidates = [package_root / "dashboards" / "app.py", Path.cwd() / "dashboards" / "app.py"]
    for path in candidates:
        if path.is_file():
            return path
    raise ResourceMissingError(
        f"dashboard app not found (looked at {', '.join(str(p) for p in candidates)})",
        hint=f"run from the reat-audit checkout or set {APP_ENV}=/path/to/dashboards/app.py",
    )


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for anything else."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another host name: assume it is reachable from elsewhere


def streamlit_command(app: Path, *, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line (headless, no usage stats, no "Deploy" button)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # hides Streamlit's "Deploy" button and developer menu
    ]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("dashboard")
    def dashboard(
        store: Path = typer.Option(
            None, "--store",
            help=f"Run store directory (default: ${STORE_ENV}, else the --config's `store`, else {DEFAULT_STORE})."
        ),
        config: Path | None = typer.Option(
            None, "--config", "-c", help="Nightly job config (as given to `audit run`): its `store` is the default."),
        port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port to serve on."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (localhost by default)."),
        allow_adapters: bool = typer.Option(
            False, "--allow-adapters",
            help="Let the Explain page load typed module:function models (runs code on this machine).",
        ),
    ) -> None:
        """Start the Streamlit dashboard: runs, failures, driver words, POS patterns, variants, explain."""
        from audit.dashboard.explain import ALLOW_ADAPTERS_ENV  # lazy: pulls in pandas

        script = find_app()  # ResourceMissingError -> exit 4 with the fix named
        from audit.cli.runs import configured_store
        from audit.settings import store_dir as resolve_dir

        store_dir = resolve_dir(store, configured=configured_store(config)).resolve()
        env = {**os.environ, STORE_ENV: str(store_dir)}
        env.pop(ALLOW_ADAPTERS_ENV, None)  # only the flag turns adapters on
        if allow_adapters:
            env[ALLOW_ADAPTERS_ENV] = "1"
        if not is_loopback_host(host):
            typer.echo(f"warning: --host {host} is not a loopback address: anyone who can reach port {port} "
                       "can use the dashboard (it has no authentication)"
                       + ("; with --allow-adapters they can also run code on this machine" if allow_adapters else ""),
                       err=True)
        if not store_dir.is_dir():
            typer.echo(f"note: run store {store_dir} does not exist yet; the dashboard will say how to make one",
                       err=True)
        typer.echo(f"reat-audit dashboard on http://{host}:{port} (store {store_dir}); Ctrl+C to stop", err=True)
        try:
            code = subprocess.call(streamlit_command(script, host=host, port=port), env=env)
        except KeyboardInterrupt:
            return
        except OSError as exc:
            raise AuditError(f"cannot start streamlit ({exc})", hint="pip install streamlit") from exc
        if code not in (0, -2, 130):  # 0 ok; SIGINT/Ctrl+C is a normal stop
            raise AuditError(f"streamlit exited with code {code}", hint="see its messages above")
