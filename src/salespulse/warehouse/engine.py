"""Engine differences the rest of the product must not know about."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ibis.backends import BaseBackend


@contextmanager
def transaction(con: BaseBackend) -> Iterator[None]:
    """All writes inside commit together or not at all.

    DuckDB and PostgreSQL are transactional; on engines without transactions (Spark) the
    writes happen one by one.
    """
    if con.name == "duckdb":
        raw = con.con
        raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
    elif con.name == "postgres":
        with con.con.transaction():
            yield
    else:
        yield
