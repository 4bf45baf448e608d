"""The ``salespulse`` command: one Typer app, one module per command (group)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from salespulse import __version__
from salespulse.cli import (
    alerts,
    demo,
    forecast,
    generate,
    imports,
    info,
    kpi,
    priorities,
    report,
    score,
    serve,
    spark,
    sync,
    users,
)
from salespulse.cli import settings as settings_cli
from salespulse.cli.common import err_console
from salespulse.errors import UserError

app = typer.Typer(
    name="salespulse",
    help="Sales KPIs for B2B sales teams: CRM data in, leaks out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Show the version and exit."),
) -> None:
    """Sales KPIs for B2B sales teams: CRM data in, leaks out."""
    if version:
        typer.echo(f"salespulse {__version__}")
        raise typer.Exit()


for module in (
    info,
    imports,
    generate,
    kpi,
    alerts,
    priorities,
    report,
    settings_cli,
    serve,
    demo,
    sync,
    forecast,
    users,
    score,
    spark,
):
    module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. A user mistake prints one line and exits 2; no tracebacks.

    With ``argv`` (tests, Python callers) the exit code is returned instead of exiting.
    """
    try:
        app(args=argv, prog_name="salespulse")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return _exit(code, argv)
    except UserError as exc:
        # messages name TOML tables like [sources.deals]: not Rich markup
        err_console.print(f"[bold red]Error:[/bold red] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]Hint:[/dim] {escape(exc.hint)}", highlight=False)
        return _exit(2, argv)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return _exit(130, argv)
    return _exit(0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    """Exit the process when run as a command; return the code when called from Python."""
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
