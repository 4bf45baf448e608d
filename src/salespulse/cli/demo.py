"""``salespulse demo``: make sure the workspace has data (the demo set), then serve the app."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console, progress_bar
from salespulse.cli.serve import HostOption, PortOption, check_address, run_server
from salespulse.warehouse.store import Store, connect

#: The tables whose rows mean "this database has data".
DATA_TABLES = ("leads", "deals", "activities")


def demo_cmd(
    db: DbOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the demo data set.")] = 1,
) -> None:
    """Generate the demo data set into an empty workspace database, then serve the app.

    A database that already holds data is served as it is (nothing is overwritten).
    """
    from salespulse.demo import generate

    check_address(host, port)  # before generating: a busy port fails fast
    store = connect(db)
    try:
        counts = store.counts()
        if not any(counts.get(t, 0) for t in DATA_TABLES):
            console.print(
                "The database is empty: generating the demo data set (seed "
                f"{seed}, today {date.today()})."
            )
            with progress_bar() as progress:
                generate(store, seed, "demo", date.today(), progress)
        location = store.location
        _demo_admin(store)
    finally:
        store.close()
    run_server(location, host, port)


def _demo_admin(store: Store) -> None:
    """Create the ``admin`` user when the database has no users; print its password once."""
    from salespulse.auth.users import Users, generate_password

    users = Users(store)
    if users.all():
        console.print("Log in with one of the users (`salespulse users list`).")
        return
    password = generate_password()
    users.add("admin", password, "admin")
    console.print(
        f"Log in as [bold]admin[/bold] with password [bold]{password}[/bold] "
        "(shown once; `salespulse users reset-password admin` sets a new one).",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
