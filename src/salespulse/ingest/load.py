"""Upsert canonical rows into the store: compare by primary key, write only what changed.

The comparison runs in the DuckDB staging database against a copy of the stored rows:
a row whose key is new is *inserted*, a row whose key exists with other values is
*updated* (deleted and written again), the rest is *unchanged*. Rows that are stored but
absent from the import stay as they are (an export may be partial).

All writes of one import happen inside :func:`salespulse.warehouse.engine.transaction`:
they commit together or not at all, also when the process is killed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from salespulse.ingest.readers import ident
from salespulse.warehouse.schema import SQL_TYPES, Table
from salespulse.warehouse.store import Store, conform


@dataclass
class Diff:
    table: Table
    changed: pa.Table  # inserted and updated rows, canonical columns
    inserted: int
    updated: int
    unchanged: int


def duck_type(dtype: str) -> str:
    return "DOUBLE" if dtype == "float64" else SQL_TYPES[dtype]


def pull_current(store: Store, con: duckdb.DuckDBPyConnection, t: Table, *, keys_only: bool) -> str:
    """Copy the stored rows of ``t`` (or only its key columns) into staging as ``_cur_<t>``."""
    name = f"_cur_{t.name}"
    tbl = store.con.table(t.name)
    if keys_only:
        tbl = tbl.select(*t.primary_key)
    arrow = tbl.to_pyarrow()
    con.register(f"_arrow_{name}", arrow)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS SELECT * FROM {ident('_arrow_' + name)}"
    )
    con.unregister(f"_arrow_{name}")
    return name


def diff(con: duckdb.DuckDBPyConnection, t: Table, new: str, cur: str) -> Diff:
    """Compare staged canonical rows ``new`` with stored rows ``cur`` (both in staging)."""
    on = " AND ".join(f"n.{ident(k)} = c.{ident(k)}" for k in t.primary_key)
    differs = (
        " OR ".join(
            f"n.{ident(c)} IS DISTINCT FROM c.{ident(c)}"
            for c in t.column_names
            if c not in t.primary_key
        )
        or "false"
    )
    first = ident(t.primary_key[0])
    cols = ", ".join(f"n.{ident(c)}" for c in t.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _chg AS SELECT {cols}, c.{first} IS NULL AS _is_new "
        f"FROM {ident(new)} n LEFT JOIN {ident(cur)} c ON {on} "
        f"WHERE c.{first} IS NULL OR {differs}"
    )
    total = int(con.execute(f"SELECT count(*) FROM {ident(new)}").fetchone()[0])  # type: ignore[index]
    ins, upd = con.execute("SELECT count_if(_is_new), count_if(NOT _is_new) FROM _chg").fetchone()  # type: ignore[misc]
    changed = con.execute(
        f"SELECT {', '.join(ident(c) for c in t.column_names)} FROM _chg"
    ).fetch_arrow_table()
    return Diff(
        t, conform(t, changed), int(ins or 0), int(upd or 0), total - int(ins or 0) - int(upd or 0)
    )


def write(store: Store, t: Table, rows: pa.Table, *, replace_keys: bool = True) -> None:
    """Write ``rows`` into table ``t`` of the store, replacing stored rows with the same key.

    Must run inside the import's transaction.
    """
    if rows.num_rows == 0:
        return
    cols = ", ".join(ident(c) for c in t.column_names)
    match = " AND ".join(f"k.{ident(k)} = {ident(t.name)}.{ident(k)}" for k in t.primary_key)
    if store.engine == "duckdb":
        raw = store.con.con
        raw.register("_sp_rows", rows)
        try:
            if replace_keys:
                raw.execute(
                    f"DELETE FROM {ident(t.name)} WHERE EXISTS "
                    f"(SELECT 1 FROM _sp_rows k WHERE {match})"
                )
            raw.execute(f"INSERT INTO {ident(t.name)} ({cols}) SELECT {cols} FROM _sp_rows")
        finally:
            raw.unregister("_sp_rows")
    elif store.engine == "postgres":
        pg = store.con.con
        with pg.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE _sp_rows (LIKE {ident(t.name)}) ON COMMIT DROP")
            with cur.copy(f"COPY _sp_rows ({cols}) FROM STDIN") as cp:
                for row in rows.to_pylist():
                    cp.write_row([row[c] for c in t.column_names])
            if replace_keys:
                cur.execute(f"DELETE FROM {ident(t.name)} USING _sp_rows k WHERE {match}")
            cur.execute(f"INSERT INTO {ident(t.name)} ({cols}) SELECT {cols} FROM _sp_rows")
            cur.execute("DROP TABLE _sp_rows")
    else:  # engines without transactions or bulk delete: append only
        store.con.insert(t.name, rows)
