"""``salespulse info``: what is in the database."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from salespulse.cli.common import DbOption, FormatOption, OutputFormat, console, print_json
from salespulse.ingest.log import history as import_history
from salespulse.warehouse.attributes import summary as attribute_summary
from salespulse.warehouse.store import connect, date_ranges, workspace


def info(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Show the workspace, schema version, row counts and date ranges of the database."""
    store = connect(db, create=False)
    counts = store.counts()
    ranges = date_ranges(store)
    data = {
        "workspace": str(workspace()),
        "database": store.location,
        "engine": store.engine,
        "schema_version": store.schema_version(),
        "tables": {
            name: {
                "rows": n,
                "first": ranges.get(name, (None, None))[0],
                "last": ranges.get(name, (None, None))[1],
            }
            for name, n in counts.items()
        },
        "imports": import_history(store, limit=10),
        "custom_attributes": [asdict(a) for a in attribute_summary(store)],
    }
    if fmt is OutputFormat.json:
        print_json(data)
        return
    if fmt is OutputFormat.csv:
        typer.echo("table,rows,first,last")
        for name, t in data["tables"].items():  # type: ignore[attr-defined]
            typer.echo(f"{name},{t['rows']},{_day(t['first'])},{_day(t['last'])}")
        return
    console.print(f"[bold]Workspace[/bold]       {data['workspace']}")
    console.print(f"[bold]Database[/bold]        {store.location} ({store.engine})")
    console.print(f"[bold]Schema version[/bold]  {data['schema_version']}")
    grid = Table("table", "rows", "first", "last", title="Tables")
    for name, t in data["tables"].items():  # type: ignore[attr-defined]
        grid.add_row(name, f"{t['rows']:,}", _day(t["first"]), _day(t["last"]))
    console.print(grid)
    _show_attributes(data["custom_attributes"])  # type: ignore[arg-type]
    _show_imports(data["imports"])  # type: ignore[arg-type]


def _show_attributes(attrs: list[dict[str, object]]) -> None:
    """Custom attributes the imports kept (``[sources.x.attributes]`` in a mapping)."""
    if not attrs:
        return
    grid = Table("record", "attribute", "records", "filled", "values", title="Custom attributes")
    for a in attrs:
        grid.add_row(
            str(a["record_table"]),
            escape(str(a["name"])),
            f"{a['records']:,}",
            f"{a['filled']:,}",
            f"{a['distinct_values']:,}",
        )
    console.print(grid)


def _show_imports(imports: list[dict[str, object]]) -> None:
    """The import log, newest first (``salespulse import`` writes it)."""
    if not imports:
        console.print("[dim]No imports yet.[/dim]")
        return
    grid = Table(
        "when (UTC)",
        "mapping",
        "files",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        title="Imports (newest first)",
    )
    for r in imports:
        files = r["files"]
        assert isinstance(files, list)
        shown = ", ".join(
            dict.fromkeys(f"{Path(str(f['path'])).name} ({str(f['sha256'])[:12]})" for f in files)
        )
        grid.add_row(
            str(r["finished_at"])[:19],
            Path(str(r["mapping_file"])).name,
            shown,
            f"{r['inserted']:,}",
            f"{r['updated']:,}",
            f"{r['unchanged']:,}",
            f"{r['rejected']:,}",
        )
    console.print(grid)


def _day(value: object) -> str:
    """A date or timestamp as YYYY-MM-DD; empty for missing values."""
    if value is None or str(value) in {"NaT", "nan", "None"}:
        return ""
    return str(value)[:10]


def register(app: typer.Typer) -> None:
    app.command("info")(info)
