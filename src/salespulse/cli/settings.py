"""``salespulse settings``: the settings a database's figures use, and changing them there."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Annotated, Any

import typer
from rich.table import Table

from salespulse.auth import audit
from salespulse.cli.common import DbOption, FormatOption, OutputFormat, console, print_json
from salespulse.settings import Settings, load_settings, store_setting, stored_settings
from salespulse.warehouse.store import connect

settings_app = typer.Typer(
    help="Show and change settings; `set` stores one in the database (it wins over "
    "settings.toml for that database).",
    no_args_is_help=True,
)


def _parse(raw: str) -> Any:
    """A value as typed: JSON when it parses (4, 4.5, true, [0,1,2]), else the text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@settings_app.command("show")
def show(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Every setting with the value that applies to this database and where it comes from."""
    store = connect(db, create=False)
    try:
        applied, stored = load_settings(store=store), stored_settings(store)
    finally:
        store.close()
    file_only = load_settings()
    rows = []
    for f in fields(Settings):
        value = getattr(applied, f.name)
        from_file = getattr(file_only, f.name) != f.default
        source = "database" if f.name in stored else "settings.toml" if from_file else "default"
        rows.append({"name": f.name, "value": value, "source": source})
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    if fmt is OutputFormat.csv:
        typer.echo("name,value,source")
        for r in rows:
            typer.echo(f"{r['name']},{json.dumps(r['value'])},{r['source']}")
        return
    grid = Table("setting", "value", "from", title=f"Settings of {store.location}")
    for r in rows:
        grid.add_row(r["name"], json.dumps(r["value"], ensure_ascii=False), r["source"])
    console.print(grid)


@settings_app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="Setting name (see docs/settings.md).")],
    value: Annotated[str, typer.Argument(help="Value: a number, true/false, a list, or text.")],
    db: DbOption = None,
) -> None:
    """Store a setting in the database, e.g. `salespulse settings set reporting_currency USD`."""
    store = connect(db, create=False, read_only=False)
    try:
        applied = store_setting(store, name, _parse(value))
        audit.record(store, "setting.set", subject=name, value=getattr(applied, name))
    finally:
        store.close()  # the writer's lock goes with it
    typer.echo(f"{name} = {json.dumps(getattr(applied, name))} (stored in the database)")


@settings_app.command("unset")
def unset(
    name: Annotated[str, typer.Argument(help="Setting name.")],
    db: DbOption = None,
) -> None:
    """Remove a setting from the database (settings.toml or the default applies again)."""
    store = connect(db, create=False, read_only=False)
    try:
        applied = store_setting(store, name, None)
        audit.record(store, "setting.unset", subject=name)
    finally:
        store.close()
    typer.echo(f"{name} = {json.dumps(getattr(applied, name))} (no longer stored)")


def register(app: typer.Typer) -> None:
    app.add_typer(settings_app, name="settings")
