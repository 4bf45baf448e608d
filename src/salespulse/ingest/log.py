"""The import log: one ``import_log`` row per import, one ``import_files`` row per file read."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from salespulse.ingest.load import write
from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store

_LOG = {t.name: t for t in SYSTEM_TABLES}


def record(
    store: Store,
    *,
    import_id: str,
    started_at: datetime,
    finished_at: datetime,
    mapping_file: str,
    totals: dict[str, int],
    per_table: dict[str, dict[str, int]],
    files: list[dict[str, Any]],
) -> None:
    """Write the log rows (inside the import's transaction)."""
    try:
        with open(mapping_file, "rb") as f:
            mapping_sha: str | None = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        mapping_sha = None
    log = pa.table(
        {
            "import_id": [import_id],
            "started_at": pa.array([started_at], pa.timestamp("us")),
            "finished_at": pa.array([finished_at], pa.timestamp("us")),
            "mapping_file": [mapping_file],
            "mapping_sha256": [mapping_sha],
            "inserted": [totals["inserted"]],
            "updated": [totals["updated"]],
            "unchanged": [totals["unchanged"]],
            "rejected": [totals["rejected"]],
            "details": [json.dumps(per_table, sort_keys=True)],
        }
    )
    write(store, _LOG["import_log"], log, replace_keys=False)
    if files:
        rows = pa.Table.from_pylist([{"import_id": import_id, **f} for f in files])
        write(
            store,
            _LOG["import_files"],
            rows.select(_LOG["import_files"].column_names),
            replace_keys=False,
        )


def history(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest imports, newest first, each with its files."""
    if "import_log" not in store.con.list_tables():
        return []
    log = store.con.table("import_log").order_by([store.con.table("import_log").started_at.desc()])
    rows = log.limit(limit).to_pyarrow().to_pylist()
    if not rows:
        return []
    files = store.con.table("import_files").to_pyarrow().to_pylist()
    for r in rows:
        r["files"] = [f for f in files if f["import_id"] == r["import_id"]]
    return rows
