"""Display names of the records a page shows (reps, teams, accounts, stages, products)."""

from __future__ import annotations

from typing import Any

from salespulse.warehouse.store import Store

#: Lookup tables: name → (table, id column, name column).
LOOKUPS = {
    "reps": ("reps", "rep_id", "name"),
    "teams": ("teams", "team_id", "name"),
    "accounts": ("accounts", "account_id", "name"),
    "stages": ("stages", "stage_id", "name"),
    "products": ("products", "product_id", "name"),
}

Names = dict[str, dict[Any, str]]


def load_names(store: Store) -> Names:
    """The display name of every rep, team, account, stage and product, by id."""
    out: Names = {}
    for key, (table, id_col, name_col) in LOOKUPS.items():
        df = store.table(table).select(id_col, name_col).execute()
        out[key] = dict(zip(df[id_col], df[name_col], strict=True))
    return out
