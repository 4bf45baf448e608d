"""``salespulse report``: the monthly management report as PDF or HTML (and by mail)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console, progress_bar
from salespulse.errors import UserError
from salespulse.report import write_report
from salespulse.report.build import parse_month
from salespulse.settings import load_settings
from salespulse.warehouse.store import connect


class Lang(StrEnum):
    en = "en"
    nl = "nl"


def report(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (e.g. 2026-11).")],
    out: Annotated[Path, typer.Option("--out", help="Output file: FILE.pdf or FILE.html.")],
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the report.")] = Lang.en,
    team: Annotated[str | None, typer.Option("--team", help="Only this team (id).")] = None,
    rep: Annotated[str | None, typer.Option("--rep", help="Only this rep (id).")] = None,
    mail: Annotated[
        bool, typer.Option("--mail", help="Also mail it to report_recipients (settings).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Write the monthly report: a one-page summary, a section per dashboard theme and
    the KPI definitions. Figures as of the month end, the same numbers as the pages."""
    if out.suffix.lower() not in (".pdf", ".html"):
        raise UserError(f"--out {out}: the file must end in .pdf or .html")
    first = parse_month(month)
    settings = load_settings()
    store = connect(db, create=False)
    with progress_bar() as progress:
        rep_, path = write_report(
            store, settings, first, out, lang.value, team=team, rep=rep, progress=progress
        )
    console.print(f"Report written to {path}")
    if mail:
        from salespulse.report import report_mail
        from salespulse.report.mail import send

        m = report_mail(store, settings, rep_, path, lang.value, team=team, rep=rep)
        send(settings, [m])
        console.print(f"Mailed to {', '.join(m.to)}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
