"""Options, output and progress shared by the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database: a DuckDB file path or a URL (postgresql://…). "
        "Default: $SALESPULSE_DB, else ~/.salespulse/salespulse.duckdb.",
        envvar="SALESPULSE_DB",
        show_default=False,
    ),
]


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (dates and numbers as JSON)."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


ProgressCallback = Any  # Callable[[str, int, int], None]


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    """A ``(step, done, total)`` callback that drives a Rich progress bar on stderr."""
    if not enabled:
        yield lambda step, done, total: None
        return
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update
