"""``salespulse spark export``: a Parquet snapshot of the database for Spark (docs/scale.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from salespulse.cli.common import DbOption, console, print_counts, progress_bar
from salespulse.errors import UserError
from salespulse.warehouse import spark
from salespulse.warehouse.store import connect

spark_app = typer.Typer(
    help="Run the KPIs on Spark: export a Parquet snapshot, then use --db spark:FOLDER.",
    no_args_is_help=True,
)


@spark_app.command("export")
def export_cmd(
    folder: Annotated[Path, typer.Argument(help="Snapshot folder (created or replaced).")],
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write every table of the database as Parquet to FOLDER, one folder per table.

    The read commands (kpi, forecast show, report, alerts, info) then run on Spark with
    --db spark:FOLDER (add ?master=spark://host:7077 for a cluster). The snapshot is a copy:
    export again after each import or sync.
    """
    if db is not None and spark.is_spark(db):
        raise UserError("export from the DuckDB or PostgreSQL database, not from a snapshot")
    store = connect(db, create=False)
    try:
        with progress_bar(enabled=not quiet) as progress:
            counts = spark.export(store, folder, progress)
        version = store.data_version()
    finally:
        store.close()
    print_counts(counts, f"Snapshot {folder} (data version {version})")
    console.print(f"Use it with: --db spark:{folder.expanduser().resolve()}")


def register(app: typer.Typer) -> None:
    app.add_typer(spark_app, name="spark")
