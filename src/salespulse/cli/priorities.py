"""``salespulse priorities``: a rep's list for today — deals closable first, then leads."""

from __future__ import annotations

from typing import Annotated

import typer

from salespulse.cli.common import DbOption, FormatOption, OutputFormat, print_frame
from salespulse.scoring.day import my_day
from salespulse.semantic.query import parse_date
from salespulse.warehouse.store import connect


def priorities(
    rep: Annotated[str, typer.Option("--rep", help="Rep id (see `kpi show open_deals --by rep`).")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="As known at the end of this day (default: the last day with data)."
        ),
    ] = None,
    deals: Annotated[int, typer.Option("--deals", help="How many deals.")] = 10,
    leads: Annotated[int, typer.Option("--leads", help="How many leads.")] = 10,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """The rep's priority list: deals that can close first (the trained model's likelihood ×
    amount × close date near, overdue actions first), then leads by the lead model's score,
    each with reasons and a next action. Before `salespulse score train`: stage probability
    and the rule-based lead score (setting lead_score_rules)."""
    store = connect(db, create=False)
    plist = my_day(store, rep, as_of=parse_date(as_of, "as-of"), deals=deals, leads=leads)
    print_frame(plist, fmt, title=f"Priorities for {rep}")


def register(app: typer.Typer) -> None:
    app.command("priorities")(priorities)
