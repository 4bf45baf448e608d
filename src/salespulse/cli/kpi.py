"""``salespulse kpi list`` and ``salespulse kpi show``: any KPI from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from salespulse.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    console,
    print_frame,
    print_json,
)
from salespulse.errors import UserError
from salespulse.semantic.catalogue import all_kpis, kpi_info
from salespulse.semantic.query import Query, explain, records, run
from salespulse.warehouse.store import connect

kpi_app = typer.Typer(help="List and compute KPIs.", no_args_is_help=True)


@kpi_app.command("list")
def list_kpis(fmt: FormatOption = OutputFormat.table) -> None:
    """List every KPI: id, name, unit, source (W1…S9) and breakdowns."""
    kpis = all_kpis()
    if fmt is OutputFormat.json:
        print_json([kpi_info(k) for k in kpis])
        return
    if fmt is OutputFormat.csv:
        typer.echo("id,source,unit,kind,name")
        for k in kpis:
            typer.echo(f'{k.id},{k.source or ""},{k.unit},{k.kind},"{k.name_en}"')
        return
    grid = Table("id", "source", "name", "unit", "kind", title=f"{len(kpis)} KPIs")
    for k in kpis:
        grid.add_row(k.id, k.source or "", k.name_en, str(k.unit), str(k.kind))
    console.print(grid)


def _where(values: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values or []:
        if "=" not in item:
            raise UserError(f"--where {item!r} is not FIELD=VALUE", hint="e.g. --where team=T1")
        key, value = item.split("=", 1)
        out.setdefault(key.strip(), []).extend(v.strip() for v in value.split(","))
    return out


@kpi_app.command("show")
def show(
    kpi_id: Annotated[str, typer.Argument(help="KPI id (see `kpi list`) or source id (W1…S9).")],
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Breakdowns and/or one period grain, "
            "comma-separated: rep,team,region,channel,product,"
            "stage,… and day|week|month|quarter|year.",
        ),
    ] = "",
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Compute as known at the end of this day (default: the last day with data).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="Filter FIELD=VALUE (repeatable).")
    ] = None,
    fmt: FormatOption = OutputFormat.table,
    explain_: Annotated[
        bool,
        typer.Option("--explain", help="Show the definition and the SQL instead of the result."),
    ] = False,
    drill: Annotated[
        bool,
        typer.Option("--records", help="List the records behind the figure instead of the figure."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Compute one KPI, e.g. `salespulse kpi show won_revenue --by rep,quarter`."""
    store = connect(db, create=False)
    query = Query.make(kpi_id, by=by, start=start, end=end, where=_where(where), as_of=as_of)
    if explain_:
        typer.echo(explain(store, query))
        return
    if drill:
        print_frame(records(store, query), fmt, title=f"Records behind {query.kpi}")
        return
    result = run(store, query)
    if fmt is OutputFormat.json:
        print_json(result.to_dict())
        return
    if not result.available:
        console.print(f"[yellow]{result.kpi.name_en}: {result.reason}[/yellow]")
        return
    title = f"{result.kpi.name_en} ({result.unit}) — as of {result.as_of}"
    print_frame(result.frame, fmt, title=title)


def register(app: typer.Typer) -> None:
    app.add_typer(kpi_app, name="kpi")
