"""``salespulse sync hubspot|salesforce``: bring the database up to date from a CRM's API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from salespulse.auth import audit
from salespulse.cli.common import DbOption, console, progress_bar
from salespulse.sync.loader import SyncResult

app = typer.Typer(
    name="sync",
    help="Load CRM data straight from the HubSpot or Salesforce API (docs/sync.md).",
    no_args_is_help=True,
)

TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help="Read the token from FILE instead of the environment (never from the command line).",
        metavar="FILE",
    ),
]
Full = Annotated[bool, typer.Option("--full", help="Read everything again, not only what changed.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


@app.command("hubspot")
def hubspot_(
    db: DbOption = None,
    token_file: TokenFile = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="API address (a test server, a proxy).")
    ] = "https://api.hubapi.com",
    full: Full = False,
    quiet: Quiet = False,
) -> None:
    """Sync a HubSpot portal (private-app token in $SALESPULSE_HUBSPOT_TOKEN)."""
    from salespulse.sync import hubspot

    token = hubspot.read_token(token_file)
    with progress_bar(enabled=not quiet) as bar:
        result = hubspot.sync(db, token=token, base_url=base_url, full=full, progress=bar)
    show(result)
    audit.record_to(db, "sync", source="hubspot", written=result.written)


@app.command("salesforce")
def salesforce_(
    db: DbOption = None,
    token_file: TokenFile = None,
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="Login URL: https://login.salesforce.com, https://test.salesforce.com (sandbox) "
            "or your My Domain URL (required for the client-credentials flow).",
        ),
    ] = "https://login.salesforce.com",
    bulk_threshold: Annotated[
        int,
        typer.Option(
            "--bulk-threshold",
            help="Read an object with Bulk API 2.0 when more records than this changed.",
        ),
    ] = 10_000,
    api_version: Annotated[str, typer.Option("--api-version", help="REST API version.")] = "62.0",
    full: Full = False,
    quiet: Quiet = False,
) -> None:
    """Sync a Salesforce org (connected app credentials in $SALESPULSE_SALESFORCE_*)."""
    from salespulse.sync import salesforce

    creds = salesforce.read_credentials(token_file)
    with progress_bar(enabled=not quiet) as bar:
        result = salesforce.sync(
            db,
            credentials=creds,
            base_url=base_url,
            full=full,
            bulk_threshold=bulk_threshold,
            api_version=api_version,
            progress=bar,
        )
    show(result)
    audit.record_to(db, "sync", source="salesforce", written=result.written)


def show(result: SyncResult) -> None:
    """The per-table counts of a sync run."""
    grid = Table("table", "inserted", "updated", "unchanged", "deleted")
    names = list(dict.fromkeys([*result.counts, *result.deleted]))
    for name in names:
        c = result.counts.get(name, {})
        grid.add_row(
            name,
            f"{c.get('inserted', 0):,}",
            f"{c.get('updated', 0):,}",
            f"{c.get('unchanged', 0):,}",
            f"{result.deleted.get(name, 0):,}",
        )
    source = result.source.capitalize() if result.source != "hubspot" else "HubSpot"
    grid.title = (
        f"Synced {source} into {result.database}"
        if result.written
        else f"{source}: already up to date, nothing written"
    )
    console.print(grid)
    for ref, n in sorted(result.cleared.items()):
        console.print(
            f"[dim]{n:,} reference(s) in {ref} point at records the sync cannot see; "
            "left empty.[/dim]",
            highlight=False,
        )
    reused = (
        f" ({result.replayed:,} answers reused from the interrupted run before)"
        if result.replayed
        else ""
    )
    console.print(f"[dim]{result.requests:,} API requests{reused}.[/dim]", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
