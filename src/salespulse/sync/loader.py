"""Load what a sync fetched into the canonical tables, all-or-nothing.

The API modules turn records into canonical rows (dicts with canonical column names,
timestamps as naive UTC ``datetime``, dates as ``date``). This module then does what the file
import does, with the same code for comparing and writing (:mod:`salespulse.ingest.load`):

1. checks required values and allowed codes (a bad record is a :class:`UserError` naming it;
   nothing is written); the same key twice in one run keeps the last (newest) record;
2. references to records the sync did not see and the database does not hold (an owner
   without access, an association to a deleted contact) are *cleared* and counted — a
   required one (a history row of an unknown deal) drops the row;
3. compares with the stored rows by primary key: inserted / updated / unchanged;
4. in ONE transaction: writes the changed rows, removes deleted records, stores the cursors
   and adds an ``import_log`` row (so the web cache sees new data). When nothing changed
   and the cursors did not move, nothing at all is written: running twice changes nothing.

Deleted (HubSpot: archived; Salesforce: ``IsDeleted``) records are *removed*. Rows that refer
to them lose the reference (it is set to empty); rows that cannot exist without them
(stage and field history of a removed deal) are removed with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from salespulse.errors import UserError
from salespulse.ingest import load, log
from salespulse.sync import state
from salespulse.warehouse import tuning
from salespulse.warehouse.schema import TABLES, TABLES_BY_NAME, Table
from salespulse.warehouse.store import Store, utcnow

Progress = Callable[[str, int, int], None]
ORDER = [t.name for t in TABLES]


@dataclass
class Batch:
    """Everything one sync run fetched: canonical rows, deleted keys and the new cursors."""

    source: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)

    def add(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    def delete(self, table: str, keys: Iterable[str]) -> None:
        self.deleted.setdefault(table, set()).update(keys)


@dataclass
class SyncResult:
    """What a sync did: counts per table, deletions, cleared references, the cursors."""

    source: str
    database: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    requests: int = 0  # sent to the API
    replayed: int = 0  # answered from the spool of an unfinished earlier run
    import_id: str | None = None
    written: bool = False

    def totals(self) -> dict[str, int]:
        out = {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        for c in self.counts.values():
            for k in out:
                out[k] += c.get(k, 0)
        return out


def _noop(step: str, done: int, total: int) -> None:
    return None


def commit(
    store: Store,
    batch: Batch,
    *,
    label: str,
    started: datetime,
    progress: Progress | None = None,
) -> SyncResult:
    """Check, compare and write ``batch`` in one transaction (see the module docstring)."""
    progress = progress or _noop
    result = SyncResult(batch.source, store.location, cursors=dict(batch.cursors))
    present = [n for n in ORDER if batch.rows.get(n)]
    tables = {n: _arrow(TABLES_BY_NAME[n], batch.source, batch.rows[n]) for n in present}
    deleted = {n: set(ks) for n, ks in batch.deleted.items() if ks}
    rejected = _references(store, tables, deleted, result)

    con = duckdb.connect()
    tuning.apply(con, None)
    diffs: list[load.Diff] = []
    try:
        for i, name in enumerate(present):
            progress("comparing", i, len(present))
            t = TABLES_BY_NAME[name]
            con.register("_arrow_fin", tables[name])
            con.execute(f'CREATE OR REPLACE TEMP TABLE "_fin_{name}" AS SELECT * FROM _arrow_fin')
            con.unregister("_arrow_fin")
            load.pull_current(store, con, t, keys_only=False)
            d = load.diff(con, t, f"_fin_{name}", f"_cur_{name}")
            diffs.append(d)
            result.counts[name] = {
                "inserted": d.inserted,
                "updated": d.updated,
                "unchanged": d.unchanged,
                "rejected": rejected.get(name, 0),
            }
        progress("comparing", len(present), len(present))
    finally:
        con.close()

    existing = {n: _existing(store, TABLES_BY_NAME[n], ks) for n, ks in deleted.items()}
    result.deleted = {n: len(ks) for n, ks in existing.items() if ks}
    changed = [d for d in diffs if d.changed.num_rows]
    stored = state.read(store, batch.source)
    moved = any(stored.get(k) != v for k, v in batch.cursors.items())
    if not changed and not result.deleted and not moved:
        return result  # up to date: write nothing, not even a log row

    import_id = str(uuid.uuid4())
    total = len(changed) + len(result.deleted) + 1
    with store.transaction():
        for i, d in enumerate(changed):
            progress("writing", i, total)
            load.write(store, d.table, d.changed)
        for name, keys in existing.items():
            if keys:
                _remove(store, TABLES_BY_NAME[name], keys)
        state.store_cursors(store, batch.source, batch.cursors)
        per_table = {n: dict(c) for n, c in result.counts.items()}
        for n, k in result.deleted.items():
            per_table.setdefault(n, {})["deleted"] = k
        log.record(
            store,
            import_id=import_id,
            started_at=started,
            finished_at=utcnow(),
            mapping_file=label,
            totals=result.totals(),
            per_table=per_table,
            files=[],
        )
        progress("writing", total, total)
    result.import_id = import_id
    result.written = True
    return result


# -- checks -------------------------------------------------------------------------------
def _arrow(t: Table, source: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table of ``t``; required values and codes checked, last key wins."""
    required = [c.name for c in t.columns if not c.nullable]
    allowed = {c.name: c.allowed for c in t.columns if c.allowed}
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = tuple(r.get(k) for k in t.primary_key)
        for c in required:
            if r.get(c) is None or r.get(c) == "":
                raise UserError(
                    f"{source}: {t.name} record {'/'.join(map(str, key))} has no {c}; "
                    "nothing was synced",
                    hint="fill it in the CRM (or report the record id), then sync again",
                )
        for c, codes in allowed.items():
            if r.get(c) is not None and r[c] not in codes:
                raise UserError(
                    f"{source}: {t.name} record {'/'.join(map(str, key))}: {c} {r[c]!r} is "
                    f"not one of {', '.join(codes)}; nothing was synced"
                )
        unique[key] = r
    schema = pa.schema([f.with_nullable(True) for f in t.ibis_schema().to_pyarrow()])
    return pa.Table.from_pylist(
        [{c: r.get(c) for c in t.column_names} for r in unique.values()], schema=schema
    )


def _stored_keys(store: Store, table: str, column: str) -> set[Any]:
    col = store.con.table(table).select(column).to_pyarrow().column(0)
    return set(col.to_pylist())


def _references(
    store: Store, tables: dict[str, pa.Table], deleted: dict[str, set[str]], result: SyncResult
) -> dict[str, int]:
    """Clear (or, when required, drop rows with) references to unknown records."""
    known_cache: dict[tuple[str, str], set[Any]] = {}
    rejected: dict[str, int] = {}

    def known(table: str, column: str) -> set[Any]:
        if (table, column) not in known_cache:
            keys = _stored_keys(store, table, column)
            if table in tables:
                keys |= set(tables[table].column(column).to_pylist())
            known_cache[(table, column)] = keys - deleted.get(table, set())
        return known_cache[(table, column)]

    for name in ORDER:
        if name not in tables:
            continue
        t = TABLES_BY_NAME[name]
        arrow = tables[name]
        for fk in t.foreign_keys:
            values = arrow.column(fk.column).to_pylist()
            ok = known(fk.table, fk.ref_column)
            bad = [v is not None and v not in ok for v in values]
            n = sum(bad)
            if not n:
                continue
            if t.column(fk.column).nullable:
                fixed = pa.array(
                    [None if b else v for v, b in zip(values, bad, strict=True)],
                    arrow.schema.field(fk.column).type,
                )
                arrow = arrow.set_column(arrow.schema.get_field_index(fk.column), fk.column, fixed)
                result.cleared[f"{name}.{fk.column}"] = n
            else:
                arrow = arrow.filter(pa.array([not b for b in bad]))
                rejected[name] = rejected.get(name, 0) + n
        tables[name] = arrow
    return rejected


# -- deletions ----------------------------------------------------------------------------
def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _chunks(keys: list[str], n: int = 500) -> Iterable[str]:
    for i in range(0, len(keys), n):
        yield ", ".join(_lit(k) for k in keys[i : i + n])


def _existing(store: Store, t: Table, keys: set[str]) -> list[str]:
    """The ``keys`` of ``t`` (single-column primary key) that are stored."""
    if not keys:
        return []
    pk = t.primary_key[0]
    tbl = store.con.table(t.name)
    return sorted(
        tbl.filter(tbl[pk].isin(sorted(keys))).select(pk).to_pyarrow().column(0).to_pylist()
    )


def _remove(store: Store, t: Table, keys: list[str]) -> None:
    """Remove rows of ``t`` by key; clear references to them, remove dependent rows."""
    for other in TABLES:
        for fk in other.foreign_keys:
            if fk.table != t.name:
                continue
            for chunk in _chunks(keys):
                if other.column(fk.column).nullable:
                    _sql(
                        store,
                        f'UPDATE "{other.name}" SET "{fk.column}" = NULL '
                        f'WHERE "{fk.column}" IN ({chunk})',
                    )
                else:
                    _sql(store, f'DELETE FROM "{other.name}" WHERE "{fk.column}" IN ({chunk})')
    for chunk in _chunks(keys):
        _sql(store, f'DELETE FROM "{t.name}" WHERE "{t.primary_key[0]}" IN ({chunk})')


def _sql(store: Store, sql: str) -> None:
    if store.engine == "duckdb":  # raw_sql returns the connection itself there
        store.con.con.execute(sql)
        return
    cur = store.con.raw_sql(sql)
    close = getattr(cur, "close", None)
    if close is not None:
        close()
