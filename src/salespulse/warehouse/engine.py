"""Engine differences the rest of the product must not know about."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
from ibis.backends import BaseBackend

_names = itertools.count()


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


def insert_arrow(con: BaseBackend, table: str, data: pa.Table) -> None:
    """Append ``data`` (columns in the table's order) to ``table``.

    On DuckDB the Arrow data is registered only for the duration of the insert (Ibis's own
    ``insert`` keeps every inserted table registered, and so in memory, until the process
    ends); other engines go through Ibis.
    """
    if con.name == "duckdb":
        raw = con.con
        view = f"_salespulse_load_{next(_names)}"
        raw.register(view, data)
        try:
            raw.execute(f'INSERT INTO "{table}" SELECT * FROM "{view}"')
        finally:
            raw.unregister(view)
    else:
        con.insert(table, data)
