"""``salespulse serve``: the web app (dashboards, alerts, KPI explorer, JSON API)."""

from __future__ import annotations

from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console

HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]


def run_server(db: str | None, host: str, port: int) -> None:
    """Serve the app on ``host:port`` until interrupted."""
    import uvicorn

    from salespulse.web.app import create_app

    app = create_app(db)
    console.print(f"salespulse serves {app.state.service.store.location} on http://{host}:{port}")
    console.print("Press Ctrl+C to stop.", style="dim")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_cmd(db: DbOption = None, host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Serve the dashboards, alerts, KPI explorer and JSON API (docs at /docs)."""
    run_server(db, host, port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
