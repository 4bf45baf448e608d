"""Custom attributes: extra fields of accounts, leads and deals (``custom_attributes``).

The import stores one row per record and attribute name (``[sources.x.attributes]`` in a
mapping, see docs/import.md); values are text as exported, empty = not filled in. This
module is how the rest of the product reads them: which attributes exist, and per name an
Ibis table ``(record_id, value)`` to join onto the record table as a breakdown or filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from salespulse.warehouse.store import Store

#: Record tables that can have custom attributes, and their id column.
RECORD_TABLES: dict[str, str] = {
    "accounts": "account_id",
    "leads": "lead_id",
    "deals": "deal_id",
}


@dataclass(frozen=True)
class AttributeInfo:
    """One custom attribute of one record table, with how many records fill it."""

    record_table: str
    name: str
    records: int  # records that have a row for it
    filled: int  # of which with a value
    distinct_values: int


def _check(record_table: str) -> None:
    if record_table not in RECORD_TABLES:
        raise ValueError(
            f"no custom attributes on {record_table!r}; they exist on " + ", ".join(RECORD_TABLES)
        )


def attribute_names(store: Store, record_table: str) -> list[str]:
    """The attribute names stored for ``record_table`` (accounts, leads or deals), sorted."""
    _check(record_table)
    t = store.table("custom_attributes")
    rows = (
        t.filter(t.record_table == record_table).select("name").distinct().order_by("name")
    ).to_pyarrow()
    return [str(n) for n in rows.column("name").to_pylist()]


def attribute_tables(store: Store, record_table: str) -> dict[str, ir.Table]:
    """Per attribute name of ``record_table``: an Ibis table ``(record_id, value)``.

    One row per record that has the attribute (``value`` may be null: exported empty);
    records without a row never had the attribute imported. Join on the record's id
    column (``RECORD_TABLES[record_table]``), e.g. ``deals.left_join(t, deals.deal_id ==
    t.record_id)``.
    """
    t = store.table("custom_attributes")
    out: dict[str, ir.Table] = {}
    for name in attribute_names(store, record_table):
        out[name] = t.filter(
            (t.record_table == record_table) & (t.name == ibis.literal(name))
        ).select("record_id", "value")
    return out


#: The breakdown prefix of each record table's attributes (``deal.contract_type``).
PREFIXES = {"accounts": "account", "leads": "lead", "deals": "deal"}


def attribute_breakdowns(store: Store) -> list[str]:
    """Every stored attribute as a breakdown name (``deal.contract_type``), sorted."""
    t = store.table("custom_attributes")
    rows = t.select("record_table", "name").distinct().to_pyarrow().to_pylist()
    return sorted(
        f"{PREFIXES[r['record_table']]}.{r['name']}" for r in rows if r["record_table"] in PREFIXES
    )


def summary(store: Store) -> list[AttributeInfo]:
    """Every stored attribute with counts (for ``salespulse info``)."""
    t = store.table("custom_attributes")
    agg = (
        t.group_by(["record_table", "name"])
        .aggregate(
            records=t.record_id.nunique(),
            filled=t.value.notnull().sum(),
            distinct_values=t.value.nunique(),
        )
        .order_by(["record_table", "name"])
        .to_pyarrow()
        .to_pylist()
    )
    return [
        AttributeInfo(
            str(r["record_table"]),
            str(r["name"]),
            int(r["records"] or 0),
            int(r["filled"] or 0),
            int(r["distinct_values"] or 0),
        )
        for r in agg
    ]
