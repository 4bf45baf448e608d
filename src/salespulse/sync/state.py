"""Sync cursors (the ``sync_state`` system table): where each source and object stands.

A cursor is the last modification time (ISO 8601, UTC, as the API gave it) of the records
already loaded. It is written in the same transaction as those records, so after a crash
the next run starts from the last *committed* cursor: nothing is missed, and since loading
is an upsert by primary key, nothing is counted twice.
"""

from __future__ import annotations

import pyarrow as pa

from salespulse.ingest.load import write
from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store, utcnow

TABLE = next(t for t in SYSTEM_TABLES if t.name == "sync_state")


def read(store: Store, source: str) -> dict[str, str]:
    """The stored cursors of ``source`` (object → cursor); empty before the first sync."""
    t = store.con.table(TABLE.name)
    rows = t.filter(t.source == source).select("object", "cursor").to_pyarrow().to_pylist()
    return {r["object"]: r["cursor"] for r in rows}


def store_cursors(store: Store, source: str, cursors: dict[str, str]) -> None:
    """Replace the cursors of ``source`` for the given objects (inside the sync's transaction)."""
    if not cursors:
        return
    now = utcnow()
    rows = pa.table(
        {
            "source": [source] * len(cursors),
            "object": list(cursors),
            "cursor": list(cursors.values()),
            "updated_at": pa.array([now] * len(cursors), pa.timestamp("us")),
        }
    )
    write(store, TABLE, rows)
