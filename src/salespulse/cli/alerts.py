"""``salespulse alerts``: what needs attention now, each with its records."""

from __future__ import annotations

from datetime import date
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
    progress_bar,
)
from salespulse.errors import UserError
from salespulse.semantic import timecal
from salespulse.semantic.query import parse_date
from salespulse.settings import load_settings
from salespulse.warehouse.store import Store, connect


def alerts(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="As known at the end of this day (default: the last day with data)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Records shown per alert.")] = 10,
    fmt: FormatOption = OutputFormat.table,
    mail: Annotated[
        bool,
        typer.Option(
            "--mail", help="Mail the digest: each rep their own alerts, each manager the team's."
        ),
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="Language of the mails: en or nl.")] = "en",
    db: DbOption = None,
) -> None:
    """List unassigned leads, SQLs past the SLA, stale deals, late-stage deals without a call
    or meeting, stage skipping, overdue close dates and slow responders — each with the
    records behind it and, for look-back alerts, the days it covers."""
    store = connect(db, create=False)
    if mail:
        _mail_digests(store, parse_date(as_of, "as-of"), lang)
        return
    found = list_alerts(store, as_of=parse_date(as_of, "as-of"))
    if fmt is OutputFormat.json:
        print_json([a.to_dict(limit=limit) for a in found])
        return
    if fmt is OutputFormat.csv:
        rows = [(a.kind, a.severity, a.count, a.available, a.start, a.end) for a in found]
        cols = ["kind", "severity", "count", "available", "start", "end"]
        print_frame(pd.DataFrame(rows, columns=cols), fmt, title="")
        return
    for a in found:
        colour = {"high": "red", "medium": "yellow"}.get(a.severity, "cyan")
        if not a.available:
            console.print(f"[dim]{a.title_en}: {a.reason}[/dim]")
            continue
        window = f" [dim](from {a.start} to {a.end})[/dim]" if a.start else ""
        console.print(f"[bold {colour}]{a.title_en}[/bold {colour}]: {a.count}{window}")
        if a.count and limit:
            key = a.records.columns[0]
            cols = [
                c
                for c in (
                    key,
                    "rep_id",
                    "rep_name",
                    "mean_response_hours",
                    "within_sla_share",
                    "stage_id",
                    "late_contact",
                    "channel",
                    "created_at",
                    "amount_eur",
                    "expected_close_on",
                )
                if c in a.records.columns
            ]
            print_frame(a.records[cols].head(limit), OutputFormat.table, title="")


def _mail_digests(store: Store, as_of: date | None, lang: str) -> None:
    """The weekly digest (see :mod:`salespulse.report.digest`) to everyone with alerts."""
    from salespulse.report.digest import digest_mail, digests
    from salespulse.report.mail import send

    if lang not in ("en", "nl"):
        raise UserError(f"--lang {lang!r}: choose en or nl")
    settings = load_settings()
    day = as_of or timecal.today_local(settings.timezone)
    with progress_bar() as progress:
        found = digests(store, settings, day, progress)
    sent = send(settings, [digest_mail(d, day, lang) for d in found])
    console.print(f"Sent {sent} alert digest(s).")


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts)
