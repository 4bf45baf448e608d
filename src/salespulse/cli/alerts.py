"""``salespulse alerts``: what needs attention now, each with its records."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from salespulse.analytics.alerts import list_alerts
from salespulse.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    console,
    print_frame,
    print_json,
)
from salespulse.semantic.query import parse_date
from salespulse.warehouse.store import connect


def alerts(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="As known at the end of this day (default: today)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Records shown per alert.")] = 10,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """List unassigned leads, SQLs past the SLA, stale deals, e-mail-only late-stage deals,
    stage skipping and overdue close dates — each with the records behind it."""
    store = connect(db, create=False)
    found = list_alerts(store, as_of=parse_date(as_of, "as-of"))
    if fmt is OutputFormat.json:
        print_json([a.to_dict(limit=limit) for a in found])
        return
    if fmt is OutputFormat.csv:
        rows = [(a.kind, a.severity, a.count, a.available) for a in found]
        cols = ["kind", "severity", "count", "available"]
        print_frame(pd.DataFrame(rows, columns=cols), fmt, title="")
        return
    for a in found:
        colour = {"high": "red", "medium": "yellow"}.get(a.severity, "cyan")
        if not a.available:
            console.print(f"[dim]{a.title_en}: {a.reason}[/dim]")
            continue
        console.print(f"[bold {colour}]{a.title_en}[/bold {colour}]: {a.count}")
        if a.count and limit:
            key = a.records.columns[0]
            cols = [
                c
                for c in (
                    key,
                    "rep_id",
                    "stage_id",
                    "channel",
                    "created_at",
                    "amount_eur",
                    "expected_close_on",
                )
                if c in a.records.columns
            ]
            print_frame(a.records[cols].head(limit), OutputFormat.table, title="")


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts)
