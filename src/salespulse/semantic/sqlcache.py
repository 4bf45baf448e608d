"""Compiled SQL per query shape: a repeated KPI query skips building the Ibis expression
and rendering its SQL (0.1–0.5 s per KPI at ``large``, before the database starts).

An entry is found by its **key** — everything the SQL is built from that is known before
building it: the engine, the database (location and the connection object: in-memory
tables such as period lists and business calendars are registered on it), the query (KPI,
breakdowns, filters, start and end dates), the as-of date, every setting and the stamp of
a custom lead-score rules file. It is used only when the **data questions** the build
asked (has table X rows, does the derived stage-visit table match the data, does any lead
have an SQL date by as-of, which KPIs have targets, where the business calendar starts, …;
recorded by ``Context._note``) get the same answers on the new context. Those answers are
cached per data version, so checking them rarely runs a query; a write that changes one
gives new SQL, one that does not keeps the entry. The data version itself is not part of
the key.

As-of is part of the key, not a SQL parameter: the periods, snapshot points and calendars
derived from it are computed in Python (time zones, fiscal years) and enter the SQL as
values.

Only DuckDB (results are read with the same conversion Ibis applies) and only plain
contexts: a materialized context's SQL names its own temporary tables. Bounded: the
:data:`MAX_ENTRIES` most recently used shapes are kept.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis.expr.types as ir
import pandas as pd

from salespulse.warehouse.frames import arrow_frame

if TYPE_CHECKING:
    import ibis.expr.schema as sch

    from salespulse.semantic.model import Context
    from salespulse.semantic.query import Query

#: Query shapes kept (least recently used dropped first).
MAX_ENTRIES = 512


@dataclass(frozen=True)
class Entry:
    sql: str
    schema: sch.Schema
    #: Kept alive with the SQL: its in-memory tables stay registered on the connection.
    expr: ir.Table
    #: (ask the question again on a context, the answer the SQL was built with)
    deps: tuple[tuple[Callable[[Context], Any], Any], ...]
    con: weakref.ref[Any]
    #: What the builder said about the SQL besides the expression (records: the key column).
    meta: Any = None
    #: Whether Ibis's pre-execute hooks (registering the in-memory tables and UDFs, a
    #: walk over the whole expression: milliseconds) ran on ``con`` already.
    hooked: list[bool] = field(default_factory=lambda: [False], compare=False)


_lock = threading.Lock()
_entries: OrderedDict[Hashable, Entry] = OrderedDict()
#: Counters for tests and benchmarks: hits, misses (built and compiled), bypassed, and
#: filtered (cached SQL run with filters applied around it).
stats = {"hits": 0, "misses": 0, "bypassed": 0, "filtered": 0}


def clear() -> None:
    """Forget every compiled query (the next run of each builds it again)."""
    with _lock:
        _entries.clear()


def size() -> int:
    """The number of cached query shapes."""
    return len(_entries)


def _file_stamp(path: str) -> tuple[str, int, int] | None:
    if not path:
        return None
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError:
        return (str(p), -1, -1)
    return (str(p), st.st_mtime_ns, st.st_size)


def key(ctx: Context, query: Query, kind: Hashable = ()) -> tuple[Hashable, ...]:
    """What the SQL of ``query`` on ``ctx`` is built from, apart from data answers; ``kind``
    tells other SQL of the same query apart (its records)."""
    store = ctx.store
    return (
        kind,
        store.engine,
        store.location,
        id(store.con),
        query.kpi,
        query.by,
        query.start,
        query.end,
        query.where,
        ctx.as_of,
        ctx.settings,
        _file_stamp(ctx.settings.lead_score_rules),
    )


def cacheable(ctx: Context) -> bool:
    return ctx.store.engine == "duckdb" and not ctx.materialize


def _answers_hold(entry: Entry, ctx: Context) -> bool:
    return all(ask(ctx) == answer for ask, answer in entry.deps)


def compiled(
    ctx: Context,
    query: Query,
    build: Callable[[], ir.Table | tuple[ir.Table, Any]],
    kind: Hashable = (),
) -> Entry:
    """The cached entry of ``query`` on ``ctx``, built (``build()``: the expression, or the
    expression and what to keep beside it as ``Entry.meta``) and rendered when there is
    none or a data answer it depends on changed."""
    k = key(ctx, query, kind)
    con = ctx.store.con
    with _lock:
        entry = _entries.get(k)
        if entry is not None:
            _entries.move_to_end(k)
    if entry is not None and entry.con() is con and _answers_hold(entry, ctx):
        stats["hits"] += 1
        return entry
    outer, ctx._deps = ctx._deps, []
    try:
        built = build()
        deps = tuple(ctx._deps)
    finally:
        ctx._deps = outer
    if outer is not None:
        outer.extend(deps)
    expr, meta = built if isinstance(built, tuple) else (built, None)
    entry = Entry(con.compile(expr), expr.schema(), expr, deps, weakref.ref(con), meta)
    with _lock:
        _entries[k] = entry
        _entries.move_to_end(k)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    stats["misses"] += 1
    return entry


def execute(ctx: Context, query: Query, build: Callable[[], ir.Table]) -> pd.DataFrame:
    """The rows of ``build()`` (the expression of ``query``), through the cache when
    :func:`cacheable`."""
    if not cacheable(ctx):
        stats["bypassed"] += 1
        return build().execute()
    return _run(ctx.store.con, compiled(ctx, query, build))


def execute_filtered(
    ctx: Context,
    query: Query,
    build: Callable[[], tuple[ir.Table, str]],
    where: Sequence[tuple[str, Sequence[str]]],
    limit: int | None,
    kind: Hashable,
) -> pd.DataFrame | None:
    """The rows of ``build()`` — an unfiltered expression of ``query`` and the column its
    rows are ordered by — with each ``(column, values)`` of ``where`` applied in the engine
    (the column's text among the values), ordered and limited: one compiled SQL serves
    every filter value. None when a column is not in the rows (or ``ctx`` not
    :func:`cacheable`): the caller builds the filtered expression itself."""
    if not cacheable(ctx):
        return None
    entry = compiled(ctx, query, build, kind)
    order = entry.meta
    if order not in entry.schema or any(col not in entry.schema for col, _ in where):
        return None
    conds: list[str] = []
    params: list[str] = []
    for col, values in where:
        conds.append(f"CAST({_ident(col)} AS VARCHAR) IN ({', '.join('?' * len(values))})")
        params.extend(str(v) for v in values)
    sql = f"SELECT * FROM ({entry.sql}) AS _rows"
    sql += f" WHERE {' AND '.join(conds)}" if conds else ""
    sql += f" ORDER BY {_ident(order)}"
    sql += f" LIMIT {int(limit)}" if limit is not None else ""
    stats["filtered"] += 1
    return _run(ctx.store.con, entry, sql, params)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run(
    con: Any, entry: Entry, sql: str | None = None, params: Sequence[Any] = ()
) -> pd.DataFrame:
    """Execute cached SQL on DuckDB (``sql``: a query over it with ``params``) and convert
    the result as Ibis's own ``execute`` (:func:`~salespulse.warehouse.frames.arrow_frame`).

    Not as a prepared statement, though that would save DuckDB's planning (1.5 ms of a
    one-row KPI's 2.2 ms, 17 of won revenue's 57 ms at ``large``): DuckDB keeps the state
    of a prepared statement's last execution — its hash tables and materialized CTEs —
    until the statement is deallocated, 1.6 GB for the catalogue's 74 KPIs at ``large``
    (see docs/performance.md)."""
    if not entry.hooked[0]:  # registered once: ``expr`` keeps its in-memory tables alive
        con._run_pre_execute_hooks(entry.expr)
        entry.hooked[0] = True
    rel = con.con.sql(sql, params=list(params)) if sql else con.con.sql(entry.sql)
    df = arrow_frame(rel.to_arrow_table(), entry.schema)
    if any(dtype.is_nested() for dtype in entry.schema.types):
        return entry.expr.__pandas_result__(df)
    return df  # Ibis's second pass (``__pandas_result__``) leaves flat columns as they are
