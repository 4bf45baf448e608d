"""Parameterised SQL on the store's own connection (DuckDB or PostgreSQL), thread-safe.

The web app serves requests from several threads; one lock per process keeps the few
small auth queries from interleaving on a connection (DuckDB gets its own cursor).
"""

from __future__ import annotations

import threading
from typing import Any

from salespulse.warehouse.store import Store

_lock = threading.RLock()


def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) and return its rows (empty for a statement)."""
    con = store.con
    with _lock:
        if con.name == "duckdb":
            cur = con.con.cursor()
            try:
                result = cur.execute(sql, list(params))
                return result.fetchall() if result.description else []
            finally:
                cur.close()
        if con.name == "postgres":
            with con.con.cursor() as pg:
                pg.execute(sql.replace("?", "%s"), params)
                out = pg.fetchall() if pg.description else []
            if not con.con.autocommit:
                con.con.commit()
            return out
    raise NotImplementedError(f"users and sessions need DuckDB or PostgreSQL, not {con.name}")
