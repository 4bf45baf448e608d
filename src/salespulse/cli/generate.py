"""``salespulse generate``: write the seeded demo data set into a database."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console, print_counts, progress_bar
from salespulse.demo import SCALES, generate
from salespulse.errors import UserError
from salespulse.warehouse.store import connect


def _today(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"--today must be a date as YYYY-MM-DD, not {value!r}", hint="e.g. --today 2026-06-30"
        ) from None


def generate_cmd(
    db: DbOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 1,
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="demo (~3k deals, seconds), large (~100k deals, ~2M activities) or "
            "1m (>=1M deals, >=20M activities, minutes).",
        ),
    ] = "demo",
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="Last day of the 3-year history (YYYY-MM-DD); nothing happens on or after "
            "it. Default: today's date.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate the demo data set: a Dutch machine manufacturer's CRM with planted patterns.

    Replaces all data in the database (in one transaction). See docs/demo-data.md.
    """
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}", hint=f"choose one of: {', '.join(SCALES)}")
    day = _today(today)
    store = connect(db)
    try:
        with progress_bar(enabled=not quiet) as progress:
            counts = generate(store, seed, scale, day, progress)
    finally:
        store.close()
    print_counts(counts, f"Generated (seed {seed}, scale {scale}, today {day})")
    console.print(f"Database: {store.location}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
