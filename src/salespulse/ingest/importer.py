"""``run_import``: read → transform → check → compare → write, all-or-nothing.

1. Every source file is read into a private in-memory DuckDB (staging) database.
2. :mod:`transform` turns source rows into canonical rows and collects row problems.
3. Per canonical table the sources are combined; duplicate keys and references to unknown
   reps, accounts, … are checked against the import *and* what is already stored.
4. :mod:`load` compares with the stored rows; only inserted and updated rows are written,
   with the stage-history rows seen between snapshots and the log, in one transaction.

Warnings (suspicious but valid rows, header-only files) are collected beside the problems
and never stop the import.

Any problem stops the import before anything is written, unless ``skip_bad_rows`` is set:
then bad rows are left out (counted as *rejected*) and the rest is imported. Problems with
whole files (missing, empty, undecodable, missing columns) always stop it.
"""

from __future__ import annotations

import errno
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from salespulse.errors import UserError
from salespulse.ingest import load, log, workdir
from salespulse.ingest.mapping import ATTRIBUTE_TABLES, CREATABLE, Mapping, Source, load_mapping
from salespulse.ingest.readers import ReadResult, SourceError, ident, read_file, sql_str
from salespulse.ingest.transform import Staged, Stager
from salespulse.ingest.validate import ImportProblem
from salespulse.settings import stored_settings, write_settings
from salespulse.warehouse import tuning
from salespulse.warehouse.schema import TABLES, TABLES_BY_NAME, Table
from salespulse.warehouse.store import Store, connect, default_db, utcnow

Progress = Callable[[str, int, int], None]

#: Order in which tables are combined and written (references first).
ORDER = [t.name for t in TABLES]


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    mapping: str
    database: str
    dry_run: bool
    counts: dict[str, TableCounts] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)
    #: Suspicious but valid input (a header-only file, a deal closed before it was
    #: created, …): listed like problems, but they do not stop the import.
    warnings: list[ImportProblem] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)
    import_id: str | None = None
    written: bool = False

    def totals(self) -> dict[str, int]:
        out = TableCounts()
        for c in self.counts.values():
            out.inserted += c.inserted
            out.updated += c.updated
            out.unchanged += c.unchanged
            out.rejected += c.rejected
        return out.as_dict()


class ImportFailed(UserError):
    """The import found problems and wrote nothing; ``result.problems`` lists them all."""

    def __init__(self, result: ImportResult) -> None:
        n = len(result.problems)
        first = result.problems[0]
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in the input; nothing was imported. "
            f"First: {first}",
            hint="fix the input or the mapping; --report FILE lists every problem, "
            "--skip-bad-rows imports the rest",
        )
        self.result = result


def _noop(step: str, done: int, total: int) -> None:
    return None


def run_import(
    mapping: str | Path,
    db: str | Path | None = None,
    *,
    dry_run: bool = False,
    data_dir: str | Path | None = None,
    skip_bad_rows: bool = False,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    raise_on_problems: bool = True,
) -> ImportResult:
    """Import the files described by the mapping file into the database ``db``.

    Raises :class:`ImportFailed` (a :class:`UserError`) when the input has problems and
    nothing was written; with ``raise_on_problems=False`` the result carries them instead.
    """
    m = load_mapping(mapping, data_dir)
    location = str(db) if db is not None else default_db()
    if dry_run and "://" not in location and not Path(location).expanduser().exists():
        location = ":memory:"  # nothing stored yet: check against an empty model, create nothing
    try:
        store = connect(location)
        try:
            return _run(
                m, store, dry_run, skip_bad_rows, as_of, progress or _noop, raise_on_problems
            )
        finally:
            store.close()
    except (OSError, duckdb.Error) as exc:
        if not _disk_full(exc):
            raise
        raise UserError(
            f"the disk is full (writing {location} or the import's scratch folder "
            f"{workdir.base_dir()}); nothing was imported",
            hint="free some disk space and run the import again",
        ) from exc


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says that a disk or quota is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _run(
    m: Mapping,
    store: Store,
    dry_run: bool,
    skip_bad_rows: bool,
    as_of: datetime | None,
    progress: Progress,
    raise_on_problems: bool,
) -> ImportResult:
    started = utcnow()
    if as_of is None and m.as_of is not None:
        try:
            as_of = datetime.fromisoformat(m.as_of)
        except ValueError as exc:
            raise UserError(
                f"{m.path}: as_of {m.as_of!r} is not a date", hint="yyyy-mm-dd"
            ) from exc
    snapshot_at = as_of or started
    result = ImportResult(str(m.path), store.location, dry_run, skipped_sources=list(m.skipped))
    con = duckdb.connect()
    tuning.apply(con, None)
    con.execute("SET TimeZone = 'UTC'")  # text without an offset is never read as local time
    with workdir.scratch() as tmp:
        try:
            staged, file_level = _stage_all(m, con, result, tmp, progress, snapshot_at)
            if not file_level:
                _finish(
                    m, store, con, staged, result, skip_bad_rows, snapshot_at, started, progress
                )
        finally:
            con.close()
    if result.problems and (not skip_bad_rows or file_level or not result.counts):
        if raise_on_problems:
            raise ImportFailed(result)
        return result
    return result


def _stage_all(
    m: Mapping,
    con: duckdb.DuckDBPyConnection,
    result: ImportResult,
    tmp: Path,
    progress: Progress,
    snapshot_at: datetime,
) -> tuple[list[Staged], bool]:
    """Read and transform every source; also says whether a whole file was unusable.

    All files are read first; then the staging database loses file access, so nothing a
    mapping's expressions do can reach another file.
    """
    stager = Stager(con, m, snapshot_at.date())
    fatal = False
    total = sum(len(s.files) for s in m.sources)
    done = 0
    staged: list[Staged] = []
    ready: list[tuple[Source, list[ReadResult], dict[str, ReadResult]]] = []
    for si, src in enumerate(m.sources):
        reads: list[ReadResult] = []
        for fi, path in enumerate(src.files):
            try:
                r = read_file(con, f"_file_{si}_{fi}", path, src.format, tmp)
            except SourceError as exc:
                result.problems.append(exc.problem)
                fatal = True
                continue
            finally:
                done += 1
                progress("reading files", done, total)
            reads.append(r)
            if r.rows == 0:
                result.warnings.append(
                    ImportProblem(
                        str(path),
                        None,
                        None,
                        f"the file has a header but no data rows: nothing to import into "
                        f"{src.table} from it",
                        "check that the export is complete",
                    )
                )
            result.files.append(
                {
                    "source": src.name,
                    "table_name": src.table,
                    "path": str(path),
                    "sha256": r.sha256,
                    "bytes": r.size,
                    "rows": r.rows,
                }
            )
        lookups: dict[str, ReadResult] = {}
        for lk in src.lookups:
            try:
                lookups[lk.name] = read_file(
                    con, f"_lookup_{si}_{lk.name}", lk.file, lk.format, tmp
                )
            except SourceError as exc:
                result.problems.append(exc.problem)
                fatal = True
                continue
            r = lookups[lk.name]
            result.files.append(
                {
                    "source": f"{src.name}.lookup.{lk.name}",
                    "table_name": src.table,
                    "path": str(lk.file),
                    "sha256": r.sha256,
                    "bytes": r.size,
                    "rows": r.rows,
                }
            )
        if len(reads) == len(src.files) and len(lookups) == len(src.lookups):
            ready.append((src, reads, lookups))
    con.execute("SET enable_external_access = false")
    for src, reads, lookups in ready:
        st = stager.stage(src, reads, lookups)
        if st is not None:
            staged.append(st)
        else:
            fatal = True
    result.problems.extend(stager.problems)
    result.warnings.extend(stager.warnings)
    return staged, fatal


def _finish(
    m: Mapping,
    store: Store,
    con: duckdb.DuckDBPyConnection,
    staged: list[Staged],
    result: ImportResult,
    skip_bad_rows: bool,
    snapshot_at: datetime,
    started: datetime,
    progress: Progress,
) -> None:
    counts: dict[str, TableCounts] = {}
    for st in staged:
        counts.setdefault(st.source.table, TableCounts()).rejected += st.rejected
    by_table: dict[str, list[str]] = {}
    labels: dict[tuple[str, str], str] = {}
    for st in staged:
        by_table.setdefault(st.source.table, []).append(st.out)
        if st.history:
            by_table.setdefault("deal_stage_history", []).append(st.history)
        if st.attributes:
            by_table.setdefault("custom_attributes", []).append(st.attributes)
        for k, v in st.labels.items():
            labels[(st.source.name, k)] = v
    if m.pipeline is not None:
        _pipeline_rows(m, con, by_table)

    # combine sources per table, one staging table _new_<t> with _file/_row/_src
    present = [t for t in ORDER if t in by_table]
    for name in present:
        t = TABLES_BY_NAME[name]
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {ident(x)}" for x in by_table[name])
        con.execute(f"CREATE TEMP TABLE {ident('_all_' + name)} AS {union}")
        _conform_staging(con, t, "_all_" + name)
        pk = ", ".join(ident(k) for k in t.primary_key)
        if name in ("deal_stage_history", "custom_attributes"):  # the first one counts
            con.execute(
                f"CREATE TEMP TABLE {ident('_new_' + name)} AS "
                f"SELECT * FROM {ident('_all_' + name)} "
                f"QUALIFY row_number() OVER (PARTITION BY {pk} ORDER BY _file, _row) = 1"
            )
            continue
        con.execute(
            f"CREATE TEMP TABLE _dups AS SELECT *, first_value(_row) OVER w AS _first_row, "
            f"first_value(_file) OVER w AS _first_file, row_number() OVER w AS _n "
            f"FROM {ident('_all_' + name)} WINDOW w AS (PARTITION BY {pk} ORDER BY _file, _row)"
        )
        dups = con.execute(
            f"SELECT _file, _row, _src, {pk}, _first_file, _first_row FROM _dups WHERE _n > 1 "
            "ORDER BY _file, _row"
        ).fetchall()
        ndup = _count(con, "SELECT count(*) FROM _dups WHERE _n > 1")
        for file, row, src, *rest in dups:
            key = rest[: len(t.primary_key)]
            ffile, frow = rest[len(t.primary_key)], rest[len(t.primary_key) + 1]
            also = f"row {frow}" if ffile == file else f"{ffile} row {frow}"
            result.problems.append(
                ImportProblem(
                    file,
                    None if row is None else int(row),
                    labels.get((src, t.primary_key[0]), t.primary_key[0]),
                    f"duplicate {', '.join(t.primary_key)} {', '.join(repr(str(k)) for k in key)} "
                    f"(also in {also})",
                    "each record may appear once; remove or merge the duplicates",
                )
            )
        counts.setdefault(name, TableCounts()).rejected += ndup
        con.execute(
            f"CREATE TEMP TABLE {ident('_new_' + name)} AS SELECT * EXCLUDE (_first_row, "
            f"_first_file, _n) FROM _dups WHERE _n = 1"
        )
        con.execute("DROP TABLE _dups")

    # stored rows: whole tables we write, key columns of tables we refer to
    progress("checking", 0, 3)
    refd = {fk.table for n in present for fk in TABLES_BY_NAME[n].foreign_keys}
    if "deals" in present:
        refd.add("deal_stage_history")
    needed = set(present) | refd
    for name in ORDER:
        if name in needed:
            load.pull_current(store, con, TABLES_BY_NAME[name], keys_only=name not in present)
    _references(m, con, present, labels, counts, result)
    _drop_orphan_attributes(con)
    present = [t for t in ORDER if t in present or _exists(con, "_new_" + t)]
    progress("checking", 1, 3)

    if result.problems and not skip_bad_rows:
        return

    # stage changes seen between snapshots; optionally the current stage of new deals
    if "deals" in present:
        _snapshot_history(m, con, snapshot_at, present)
        present = [t for t in ORDER if t in present or _exists(con, "_new_" + t)]
    progress("checking", 2, 3)

    diffs: list[load.Diff] = []
    for name in present:
        t = TABLES_BY_NAME[name]
        cols = ", ".join(ident(c) for c in t.column_names)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {ident('_fin_' + name)} AS SELECT {cols} "
            f"FROM {ident('_new_' + name)}"
        )
        if not _exists(con, "_cur_" + name) or _is_keys_only(con, t):
            load.pull_current(store, con, t, keys_only=False)
        d = load.diff(con, t, "_fin_" + name, "_cur_" + name)
        diffs.append(d)
        c = counts.setdefault(name, TableCounts())
        c.inserted, c.updated, c.unchanged = d.inserted, d.updated, d.unchanged
    progress("checking", 3, 3)
    result.counts = {n: counts[n] for n in ORDER if n in counts}
    if result.dry_run:
        return

    changed = [d for d in diffs if d.changed.num_rows]
    total = len(changed) + 1
    import_id = str(uuid.uuid4())
    with store.transaction():
        for i, d in enumerate(changed):
            progress("writing", i, total)
            load.write(store, d.table, d.changed)
        if m.settings:
            write_settings(store, {**stored_settings(store), **m.settings})
        log.record(
            store,
            import_id=import_id,
            started_at=started,
            finished_at=utcnow(),
            mapping_file=result.mapping,
            totals=result.totals(),
            per_table={n: c.as_dict() for n, c in result.counts.items()},
            files=result.files,
        )
        progress("writing", total, total)
    result.import_id = import_id
    result.written = True


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[
            0
        ]  # type: ignore[index]
    )


def _is_keys_only(con: duckdb.DuckDBPyConnection, t: Table) -> bool:
    cols = con.execute(f"DESCRIBE {ident('_cur_' + t.name)}").fetchall()
    return len(cols) != len(t.columns)


def _conform_staging(con: duckdb.DuckDBPyConnection, t: Table, name: str) -> None:
    """Add the canonical columns no source filled (as typed NULLs)."""
    have = {r[0] for r in con.execute(f"DESCRIBE {ident(name)}").fetchall()}
    for c in t.columns:
        if c.name not in have:
            con.execute(
                f"ALTER TABLE {ident(name)} ADD COLUMN {ident(c.name)} {load.duck_type(c.dtype)}"
            )


def _pipeline_rows(
    m: Mapping, con: duckdb.DuckDBPyConnection, by_table: dict[str, list[str]]
) -> None:
    p = m.pipeline
    assert p is not None
    where = str(m.path)
    pipelines = pa.table(
        {
            "_file": [where],
            "_row": pa.array([None], pa.int64()),
            "_src": ["pipeline"],
            "pipeline_id": [p.pipeline_id],
            "name": [p.name],
        }
    )
    stages = pa.table(
        {
            "_file": [where] * len(p.stages),
            "_row": pa.array([None] * len(p.stages), pa.int64()),
            "_src": ["pipeline"] * len(p.stages),
            "stage_id": [s.stage_id for s in p.stages],
            "pipeline_id": [p.pipeline_id] * len(p.stages),
            "name": [s.name for s in p.stages],
            "stage_order": pa.array([s.order for s in p.stages], pa.int64()),
            "probability": pa.array(
                [
                    s.probability
                    if s.probability is not None
                    else (1.0 if s.outcome == "won" else 0.0 if s.outcome == "lost" else None)
                    for s in p.stages
                ],
                pa.float64(),
            ),
            "is_closed": [s.outcome is not None for s in p.stages],
            "is_won": [s.outcome == "won" for s in p.stages],
            "is_required": pa.array([s.required for s in p.stages], pa.bool_()),
        }
    )
    for name, arrow in (("pipelines", pipelines), ("stages", stages)):
        con.register("_arrow_p", arrow)
        con.execute(f"CREATE TEMP TABLE {ident('_map_' + name)} AS SELECT * FROM _arrow_p")
        con.unregister("_arrow_p")
        by_table.setdefault(name, []).append("_map_" + name)


def _references(
    m: Mapping,
    con: duckdb.DuckDBPyConnection,
    present: list[str],
    labels: dict[tuple[str, str], str],
    counts: dict[str, TableCounts],
    result: ImportResult,
) -> None:
    """Check references to reps, accounts, … against the import and the store."""

    def known(ref: Table, col: str) -> str:
        parts = [f"SELECT {ident(col)} AS k FROM {ident('_cur_' + ref.name)}"]
        if _exists(con, "_new_" + ref.name):
            parts.append(f"SELECT {ident(col)} AS k FROM {ident('_new_' + ref.name)}")
        return " UNION ".join(parts)

    # 1. placeholders for tables where the mapping says "create"
    for name in present:
        for fk in TABLES_BY_NAME[name].foreign_keys:
            if m.unknown_references.get(fk.table) != "create" or fk.table not in CREATABLE:
                continue
            ref = TABLES_BY_NAME[fk.table]
            target = "_new_" + ref.name
            if not _exists(con, target):
                con.execute(
                    f"CREATE TEMP TABLE {ident(target)} AS SELECT * FROM "
                    f"{ident('_cur_' + ref.name)} WHERE false"
                )
                con.execute(
                    f"ALTER TABLE {ident(target)} ADD COLUMN _file VARCHAR; "
                    f"ALTER TABLE {ident(target)} ADD COLUMN _row BIGINT; "
                    f"ALTER TABLE {ident(target)} ADD COLUMN _src VARCHAR"
                )
                _conform_staging(con, ref, target)
            namecol = "name"
            con.execute(
                f"INSERT INTO {ident(target)} ({ident(fk.ref_column)}, {namecol}, _file, _src) "
                f"SELECT DISTINCT {ident(fk.column)}, {ident(fk.column)}, '(created)', 'created' "
                f"FROM {ident('_new_' + name)} WHERE {ident(fk.column)} IS NOT NULL AND "
                f"{ident(fk.column)} NOT IN ({known(ref, fk.ref_column)})"
            )
    # 2. everything else: error (reject the row) or empty (clear the reference)
    for name in present:
        t = TABLES_BY_NAME[name]
        if not _exists(con, "_new_" + name):
            continue
        for fk in t.foreign_keys:
            ref = TABLES_BY_NAME[fk.table]
            action = m.unknown_references.get(fk.table, "error")
            cond = (
                f"{ident(fk.column)} IS NOT NULL AND {ident(fk.column)} NOT IN "
                f"({known(ref, fk.ref_column)})"
            )
            if action == "empty":
                con.execute(
                    f"UPDATE {ident('_new_' + name)} SET {ident(fk.column)} = NULL WHERE {cond}"
                )
                continue
            n = _count(con, f"SELECT count(*) FROM {ident('_new_' + name)} WHERE {cond}")
            if not n:
                continue
            rows = con.execute(
                f"SELECT _file, _row, _src, {ident(fk.column)} FROM {ident('_new_' + name)} "
                f"WHERE {cond} ORDER BY _file, _row"
            ).fetchall()
            noun = fk.table.rstrip("s")
            for file, row, src, value in rows:
                result.problems.append(
                    ImportProblem(
                        file,
                        None if row is None else int(row),
                        labels.get((src, fk.column), fk.column),
                        f"unknown {noun} {str(value)!r} ({name}.{fk.column} refers to "
                        f"{fk.table}.{fk.ref_column})",
                        f"import the {fk.table} too (same mapping or before), or set "
                        f'[unknown_references] {fk.table} = "empty" (or "create")',
                    )
                )
            con.execute(f"DELETE FROM {ident('_new_' + name)} WHERE {cond}")
            counts.setdefault(name, TableCounts()).rejected += n


def _drop_orphan_attributes(con: duckdb.DuckDBPyConnection) -> None:
    """Attributes of records left out of the import (duplicates, bad references) go too."""
    if not _exists(con, "_new_custom_attributes"):
        return
    for name in ATTRIBUTE_TABLES:
        pk = ident(TABLES_BY_NAME[name].primary_key[0])
        kept = (
            f"SELECT {pk} FROM {ident('_new_' + name)}"
            if _exists(con, "_new_" + name)
            else "SELECT NULL"
        )
        con.execute(
            f"DELETE FROM _new_custom_attributes WHERE record_table = {sql_str(name)} "
            f"AND record_id NOT IN ({kept})"
        )


def _snapshot_history(
    m: Mapping, con: duckdb.DuckDBPyConnection, at: datetime, present: list[str]
) -> None:
    """History rows for stage changes between the stored and the imported deals."""
    has_source = "deal_stage_history" in present and _exists(con, "_new_deal_stage_history")
    snapshots = (
        m.snapshots
        if m.snapshots is not None
        else not any(s.table == "deal_stage_history" or s.stage_date_columns for s in m.sources)
    )
    parts = []
    ts = f"TIMESTAMP {sql_str(at.isoformat(sep=' '))}"
    if snapshots:  # a deal seen in another stage than last time: it entered that stage
        parts.append(f"""
            SELECT n.deal_id, n.stage_id,
                   CASE WHEN n.closed_at IS NOT NULL AND n.outcome IS NOT NULL THEN n.closed_at
                        ELSE coalesce(n.updated_at, {ts}) END AS entered_at
            FROM _new_deals n JOIN _cur_deals c USING (deal_id)
            WHERE n.stage_id IS NOT NULL AND n.stage_id IS DISTINCT FROM c.stage_id""")
    if m.current_stage:  # only when the mapping allows it: see docs/import.md
        parts.append("""
            SELECT n.deal_id, n.stage_id,
                   coalesce(CASE WHEN n.outcome IS NOT NULL THEN n.closed_at END, n.created_at)
                       AS entered_at
            FROM _new_deals n ANTI JOIN _cur_deals c USING (deal_id)
            WHERE n.stage_id IS NOT NULL""")
    if not parts:
        return
    rows = " UNION ALL ".join(parts)
    if not has_source:
        con.execute(f"""
            CREATE TEMP TABLE _new_deal_stage_history AS
            SELECT NULL::VARCHAR AS _file, NULL::BIGINT AS _row, 'snapshot' AS _src, deal_id,
                   stage_id, entered_at, NULL::VARCHAR AS changed_by_rep_id
            FROM ({rows}) WHERE entered_at IS NOT NULL""")
    else:
        con.execute(f"""
            INSERT INTO _new_deal_stage_history BY NAME
            SELECT 'snapshot' AS _src, deal_id, stage_id, entered_at FROM ({rows}) x
            WHERE entered_at IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM _new_deal_stage_history h WHERE h.deal_id = x.deal_id
                AND h.stage_id = x.stage_id AND h.entered_at = x.entered_at)""")
