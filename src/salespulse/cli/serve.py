"""``salespulse serve``: the web app (dashboards, alerts, KPI explorer, JSON API)."""

from __future__ import annotations

import errno
import gc
import socket
from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console, err_console
from salespulse.errors import UserError

HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=0,
        max=64,
        help="Processes that compute pages (0: threads of the server process).",
    ),
]

#: Worker processes by default: one per core, at least 2 (one long page never blocks all).
DEFAULT_WORKERS = 2


#: Addresses only this machine can reach.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_address(host: str, port: int) -> None:
    """Refuse a port another process listens on (one line, exit 2), before anything starts;
    warn when the address is reachable from other machines."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(address)
        except OSError as exc:
            what = "is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or "")
            raise UserError(
                f"port {port} on {host} {what}: stop the other server or choose another port "
                "(--port N; make demo PORT=N)"
            ) from exc
    if host not in LOOPBACK:
        err_console.print(
            f"[bold yellow]Warning:[/bold yellow] listening on {host}: every machine that can "
            "reach this address can reach the app (log in, use HTTPS in front of it; see "
            "docs/security.md).",
            highlight=False,
        )


def run_server(db: str | None, host: str, port: int, workers: int = DEFAULT_WORKERS) -> None:
    """Serve the app on ``host:port`` until interrupted."""
    import uvicorn

    from salespulse.web.app import create_app

    check_address(host, port)
    app = create_app(db, workers=workers)
    freeze_startup_objects()
    console.print(f"salespulse serves {app.state.service.store.location} on http://{host}:{port}")
    console.print("Press Ctrl+C to stop.", style="dim")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def freeze_startup_objects() -> None:
    """Keep what start-up built (~250,000 modules, functions, types: long-lived) out of
    every later garbage collection: a full collection of them stopped the server for
    150–230 ms, the tail of ``/api/health`` under load (docs/serving.md). Objects created
    later are collected as usual; the frozen ones are still freed when nothing refers to them."""
    gc.collect()
    gc.freeze()


def serve_cmd(
    db: DbOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: WorkersOption = DEFAULT_WORKERS,
) -> None:
    """Serve the dashboards, alerts, KPI explorer and JSON API (docs at /docs)."""
    run_server(db, host, port, workers)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
