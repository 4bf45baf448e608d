"""Engine differences the rest of the product must not know about."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.backends.duckdb import Backend as IbisDuckDB

if TYPE_CHECKING:
    import ibis.expr.operations as ops

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


class DuckDBBackend(IbisDuckDB):
    """Ibis's DuckDB backend with its in-memory tables (a query's periods and snapshot
    points, business calendars, rollup answers: ``ibis.memtable``) copied into temporary
    tables of the connection instead of registered as Arrow datasets. DuckDB scans a
    dataset through Arrow's scanner on every query, which cost a one-period KPI 9 of its
    16 ms at ``large`` (docs/benchmarks.md, "Small KPIs"); a temporary table is a plain
    scan. Same lifetime as Ibis's registration (the connection's), same column types."""

    #: In-memory tables copied into this connection so far (they stay until it closes).
    memtables_created = 0

    def _register_in_memory_table(self, op: ops.InMemoryTable) -> None:
        self.memtables_created += 1
        raw = self.con
        view = f"_salespulse_memtable_{next(_names)}"
        raw.register(view, op.data.to_pyarrow(op.schema))
        try:
            name = op.name.replace('"', '""')
            raw.execute(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM "{view}"')
        finally:
            raw.unregister(view)


def duckdb_backend(raw: duckdb.DuckDBPyConnection | None = None) -> DuckDBBackend:
    """The Ibis backend the product uses on the DuckDB connection ``raw`` (default: a new
    in-memory database)."""
    return DuckDBBackend.from_connection(duckdb.connect() if raw is None else raw)
