"""``salespulse import``: load CRM exports described by a mapping file (docs/import.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from salespulse.auth import audit
from salespulse.cli.common import DbOption, console, err_console, progress_bar
from salespulse.errors import UserError
from salespulse.ingest import run_import
from salespulse.ingest.importer import ImportFailed, ImportResult
from salespulse.ingest.validate import write_report

SHOWN = 20  # problems printed on the terminal; --report has them all


def import_(
    mapping: Annotated[Path, typer.Argument(help="The mapping file (TOML), see docs/import.md.")],
    db: DbOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check everything, write nothing.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write every problem to FILE (.csv, .json, or text).", metavar="FILE"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder the mapping's file paths are relative to "
            "(default: the mapping's data_dir, else the mapping's folder).",
        ),
    ] = None,
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            "--skip-bad-rows", help="Import the good rows and count bad ones as rejected."
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="When the export was taken (yyyy-mm-dd[ HH:MM]); dates stage changes seen "
            "since the last import. Default: now.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import CRM exports (CSV, Excel, Parquet) as described by a mapping file."""
    when = None
    if as_of is not None:
        try:
            when = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise UserError(f"--as-of {as_of!r} is not a date", hint="use yyyy-mm-dd") from exc
    with progress_bar(enabled=not quiet) as bar:
        result = run_import(
            mapping,
            db,
            dry_run=dry_run,
            data_dir=data_dir,
            skip_bad_rows=skip_bad_rows,
            as_of=when,
            progress=bar,
            raise_on_problems=False,
        )
    if result.written:
        audit.record_to(result.database, "import", subject=str(mapping), **result.totals())
    if report is not None:
        write_report(result.problems, report, result.warnings)
    _show(result, report)
    if result.problems and not (skip_bad_rows and result.counts):
        raise ImportFailed(result)


def _show(result: ImportResult, report: Path | None) -> None:
    if result.problems:
        n = len(result.problems)
        err_console.print(f"[bold]{n} problem{'s' if n != 1 else ''}[/bold]", highlight=False)
        for p in result.problems[:SHOWN]:
            err_console.print(f"  {p}", highlight=False, markup=False)
        if n > SHOWN:
            more = f"… {n - SHOWN} more"
            err_console.print(
                f"  {more}" + (f" in {report}" if report else " (use --report FILE)"),
                highlight=False,
                markup=False,
            )
    if result.warnings:
        n = len(result.warnings)
        err_console.print(
            f"[bold yellow]{n} warning{'s' if n != 1 else ''}[/bold yellow] (imported anyway)",
            highlight=False,
        )
        for w in result.warnings[:SHOWN]:
            err_console.print(f"  {w}", highlight=False, markup=False)
        if n > SHOWN:
            more = f"… {n - SHOWN} more"
            err_console.print(
                f"  {more}" + (f" in {report}" if report else " (use --report FILE)"),
                highlight=False,
                markup=False,
            )
    if not result.counts:
        return
    grid = Table("table", "inserted", "updated", "unchanged", "rejected")
    for name, c in result.counts.items():
        grid.add_row(
            name, f"{c.inserted:,}", f"{c.updated:,}", f"{c.unchanged:,}", f"{c.rejected:,}"
        )
    t = result.totals()
    grid.add_row(
        "[bold]total[/bold]",
        f"{t['inserted']:,}",
        f"{t['updated']:,}",
        f"{t['unchanged']:,}",
        f"{t['rejected']:,}",
    )
    if result.dry_run:
        grid.title = "Dry run: nothing was written"
    elif result.written:
        grid.title = f"Imported into {result.database}"
    else:
        grid.title = "Not imported"
    console.print(grid)
    for s in result.skipped_sources:
        console.print(
            f"[dim]Skipped source {escape(repr(s))}: its file is not there (optional).[/dim]"
        )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
