"""Where users, sessions, API tokens and the audit log live, and parameterised SQL on it.

* A **DuckDB file** allows one writing process at a time, and the web server opens it
  read-only so that imports can run beside it (docs/serving.md). Logins write a session on
  every visit, so the auth tables of ``sales.duckdb`` live beside it in a small SQLite file,
  ``sales.duckdb.auth.sqlite3`` (WAL mode: the server, ``salespulse users`` and imports
  writing audit entries can all use it at once). An in-memory DuckDB gets an in-memory one.
* A **PostgreSQL** database keeps them in its own tables (schema: ``SYSTEM_TABLES``).

One lock per process keeps the few small auth queries from interleaving on a connection.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store

_lock = threading.RLock()
_sqlite: dict[str, sqlite3.Connection] = {}
#: The tables of this module (also created in PostgreSQL by the migrations).
AUTH_TABLES = ("users", "sessions", "api_tokens", "audit_log")


def auth_path(store: Store) -> str | None:
    """The SQLite file holding ``store``'s auth tables (None: the store's own tables)."""
    location = str(store.location)
    if "://" in location:
        return None
    if location == ":memory:":
        return f"file:salespulse-auth-{id(store)}?mode=memory&cache=shared"
    return str(Path(location).expanduser()) + ".auth.sqlite3"


def _sqlite_con(path: str) -> sqlite3.Connection:
    con = _sqlite.get(path)
    if con is None:
        if not path.startswith("file:"):  # password hashes: readable by the owner only
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        con = sqlite3.connect(
            path,
            uri=path.startswith("file:"),
            check_same_thread=False,
            isolation_level=None,  # autocommit: each statement is its own transaction
            detect_types=sqlite3.PARSE_DECLTYPES,
            timeout=30,
        )
        if not path.startswith("file:"):
            con.execute("PRAGMA journal_mode=WAL")
        for t in SYSTEM_TABLES:
            if t.name in AUTH_TABLES:
                con.execute(t.create_sql())
        _sqlite[path] = con
    return con


def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) and return its rows (empty for a statement)."""
    path = auth_path(store)
    with _lock:
        if path is not None:
            cur = _sqlite_con(path).execute(sql, params)
            return cur.fetchall() if cur.description else []
        con = store.con
        if con.name == "postgres":
            with con.con.cursor() as pg:
                pg.execute(sql.replace("?", "%s"), params)
                out = pg.fetchall() if pg.description else []
            if not con.con.autocommit:
                con.con.commit()
            return out
    raise NotImplementedError(f"users and sessions need DuckDB or PostgreSQL, not {store.engine}")
