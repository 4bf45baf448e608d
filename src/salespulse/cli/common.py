"""Options, output and progress shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from salespulse.escape import to_csv
from salespulse.serialize import dumps, rows

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
    """Machine-readable output on stdout: strict JSON (see :mod:`salespulse.serialize`)."""
    typer.echo(dumps(data))


#: ``(step, done, total)``: called as long work advances.
ProgressCallback = Callable[[str, int, int], None]


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


def print_counts(counts: Mapping[str, int], title: str) -> None:
    """Rows per table (what generate, export and the like wrote)."""
    grid = Table("table", "rows", title=title)
    for name, n in counts.items():
        grid.add_row(name, f"{n:,}")
    console.print(grid)


def print_frame(frame: pd.DataFrame, fmt: OutputFormat, title: str) -> None:
    """Print a result frame as a table, CSV or JSON."""
    if fmt is OutputFormat.csv:
        typer.echo(to_csv(frame), nl=False)
        return
    if fmt is OutputFormat.json:
        print_json(rows(frame))
        return
    grid = Table(*[str(c) for c in frame.columns], title=title)
    for row in frame.itertuples(index=False):
        grid.add_row(*[cell(v) for v in row])
    console.print(grid)
    if frame.empty:
        console.print("[dim]No rows for this selection.[/dim]")


def cell(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return "—"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if v == v.normalize() else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)
