"""Benchmark the KPI engine: the whole catalogue with each KPI's standard breakdowns
(``Kpi.default_by``), beside the independent pandas reference (tests/semantic/
reference_pandas.py) for the main KPIs on the same data.

    .venv/bin/python scripts/bench_kpis.py --db /tmp/bench-large.duckdb [--as-of 2026-11-14]

Prints one table per side (KPI, rows, seconds; for the engine also the Ibis compile time —
building the expression and rendering its SQL — the rest is execution in the database), the
totals, the slowest KPIs, and whether the engine's figures equal the reference's.

``--db`` may be a URL (``postgresql://…``). ``--pg URL`` compares engines instead: every
KPI on the DuckDB file and on the PostgreSQL database holding the same data, interleaved
(DuckDB, then PostgreSQL, per KPI and round; each run on a fresh context, the DuckDB
compiled-SQL cache emptied first, so both build and render their SQL), with the median
seconds of each, the ratio and whether both gave the same rows and values (rel. 1e-6):

    .venv/bin/python scripts/bench_kpis.py --db /tmp/demo.duckdb \
        --pg postgresql://postgres@127.0.0.1:5432/demo --as-of 2026-11-14 -n 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.semantic import reference_pandas as ref

from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.model import Context
from salespulse.semantic.query import Query, compile_query, context, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect


@dataclass
class Timing:
    kpi: str
    by: str
    rows: int
    seconds: float
    compile_s: float | None = None
    error: str | None = None


def _by(kpi_by: tuple[str, ...]) -> str:
    return ",".join(kpi_by) or "—"


def bench_engine(
    db: str,
    as_of: date,
    only: set[str] | None,
    timeout: float,
    derived: bool = True,
    shared: bool = False,
) -> tuple[list[Timing], dict]:
    """Every KPI (of ``only``) with its default breakdowns, each on a fresh context; with
    ``shared``, all on one materialized context, as a page or the report asks them (its
    temporary tables are built by the first KPI that needs each, inside that KPI's time)."""
    store = connect(db, create=False)
    settings = Settings()
    out: list[Timing] = []
    frames: dict[str, pd.DataFrame] = {}
    one = context(store, settings, as_of, materialize=True) if shared else None
    for k in all_kpis():
        if only and k.id not in only:
            continue
        q = Query(k.id, by=k.default_by, as_of=as_of)
        compile_s = None
        try:
            ctx = one or context(store, settings, as_of)
            if not derived:  # the window path, as without the derived tables
                ctx._flags["derived:stage_visits"] = False
            t0 = time.perf_counter()
            with _time_limit(store, timeout):
                frame = run(store, q, settings, ctx=ctx).frame
            secs = time.perf_counter() - t0
            if getattr(k, "compute", None) is None and one is None:
                # Ibis alone: build the expression again and render its SQL, on a fresh
                # context that knows the data probes (has rows / has values) already
                warm = Context(store, settings, as_of, _flags=dict(ctx._flags))
                t0 = time.perf_counter()
                _, expr = compile_query(warm, q)
                ibis.to_sql(expr, dialect=store.engine)
                compile_s = time.perf_counter() - t0
            out.append(Timing(k.id, _by(k.default_by), len(frame), secs, compile_s))
            frames[k.id] = frame
        except Exception as exc:  # report and go on: a benchmark shows everything it can
            secs = time.perf_counter() - t0
            err = f"stopped after {secs:.0f} s" if secs >= timeout else repr(exc)[:200]
            out.append(Timing(k.id, _by(k.default_by), 0, float("nan"), compile_s, err))
        print(f"  engine {k.id:<28} {out[-1].seconds:8.2f} s", file=sys.stderr, flush=True)
    if one is not None:
        one.close()
    store.close()
    return out, frames


@contextmanager
def _time_limit(store: Store, seconds: float) -> Iterator[None]:
    """Stop the store's queries after ``seconds``: DuckDB is interrupted, PostgreSQL has
    a statement timeout."""
    if store.engine == "postgres":
        raw = store.con.con  # psycopg connection
        with raw.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(seconds * 1000)}")
        yield
        return
    timer = threading.Timer(seconds, store.con.con.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def bench_engines(
    db: str, pg: str, as_of: date, only: set[str] | None, timeout: float, rounds: int
) -> pd.DataFrame:
    """Every KPI on DuckDB (``db``) and PostgreSQL (``pg``), interleaved, ``rounds`` times:
    median seconds per engine, the ratio, whether the figures agree."""
    from salespulse.semantic import sqlcache
    from scripts.bench_hand_sql import same_rows

    stores = {"duckdb": connect(db, create=False), "postgres": connect(pg, create=False)}
    settings = Settings()
    kpis = [k for k in all_kpis() if not only or k.id in only]
    times: dict[str, dict[str, list[float]]] = {k.id: {e: [] for e in stores} for k in kpis}
    agrees: dict[str, str] = {}
    for r in range(rounds):
        for k in kpis:
            q = Query(k.id, by=k.default_by, as_of=as_of)
            frames = {}
            for engine, store in stores.items():
                sqlcache.clear()
                t0 = time.perf_counter()
                try:
                    with _time_limit(store, timeout):
                        frames[engine] = run(store, q, settings).frame
                    times[k.id][engine].append(time.perf_counter() - t0)
                except Exception as exc:  # a benchmark shows everything it can
                    agrees[k.id] = f"{engine} failed: {exc!r}"[:80]
                    times[k.id][engine].append(float("nan"))
            if r == 0 and k.id not in agrees:
                try:
                    same_rows(frames["duckdb"], frames["postgres"], k.id)
                    agrees[k.id] = "yes"
                except AssertionError as exc:
                    agrees[k.id] = "NO: " + str(exc).splitlines()[0][:70]
            t = times[k.id]
            print(
                f"  round {r + 1} {k.id:<28} duckdb {t['duckdb'][-1]:7.2f} s  "
                f"postgres {t['postgres'][-1]:7.2f} s",
                file=sys.stderr,
                flush=True,
            )
    for store in stores.values():
        store.close()
    rows = []
    for k in kpis:
        med = {e: statistics.median(v) for e, v in times[k.id].items()}
        rows.append(
            {
                "kpi": k.id,
                "by": _by(k.default_by),
                "duckdb_s": med["duckdb"],
                "postgres_s": med["postgres"],
                "pg/duckdb": med["postgres"] / med["duckdb"],
                "same": agrees.get(k.id, "—"),
            }
        )
    return pd.DataFrame(rows)


def reference_cases(as_of: date) -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    """The main KPIs the reference implements, with the catalogue's default breakdowns (and
    the default period range the engine uses for the composite ones)."""
    kpis = {k.id: k for k in all_kpis()}
    q_start = ref.period_start(as_of, "quarter")
    y_start = ref.period_start(as_of, "year")
    extra = {
        "conversion_rate": {"start": q_start, "end": as_of},
        "staff_retention": {"start": y_start, "end": as_of},
        "customer_retention": {"start": y_start, "end": as_of},
    }
    names = [
        "won_revenue",
        "won_deals",
        "avg_deal_size",
        "avg_sales_cycle",
        "win_rate",
        "conversion_rate",
        "open_deals",
        "open_pipeline",
        "new_leads",
        "sqls",
        "sql_owner_share",
        "first_response_hours",
        "calls",
        "emails",
        "call_email_balance",
        "tasks_completed_share",
        "stage_conversion",
        "time_in_stage_median",
        "stale_deals",
        "staff_retention",
        "customer_retention",
        "acv",
    ]
    return {n: (kpis[n].default_by, extra.get(n, {})) for n in names}


def bench_reference(
    db: str, as_of: date, only: set[str] | None
) -> tuple[float, list[Timing], dict[str, pd.DataFrame]]:
    t0 = time.perf_counter()
    data = ref.load_duckdb(db)
    load_s = time.perf_counter() - t0
    print(f"  reference load {load_s:8.2f} s", file=sys.stderr, flush=True)
    out, frames = [], {}
    for name, (by, kw) in reference_cases(as_of).items():
        if only and name not in only:
            continue
        fn = getattr(ref, name)
        t0 = time.perf_counter()
        frame = fn(data, by, as_of, **kw)
        secs = time.perf_counter() - t0
        out.append(Timing(name, _by(by), len(frame), secs))
        frames[name] = frame
        print(f"  pandas {name:<28} {secs:8.2f} s", file=sys.stderr, flush=True)
    del data
    gc.collect()
    return load_s, out, frames


def agree(engine: pd.DataFrame, reference: pd.DataFrame, by: str) -> str:
    """'yes' when the engine's rows and values equal the reference's (rel 1e-9)."""
    from tests.semantic.test_differential import compare

    keys = tuple(b for b in by.split(",") if b and b != "—")
    try:
        compare(engine, reference, keys, exact=False)
    except AssertionError as exc:
        return "NO: " + str(exc).splitlines()[0][:60]
    return "yes"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--as-of", type=date.fromisoformat, default=None)
    ap.add_argument("--kpis", default="", help="comma-separated KPI ids (default: all)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument(
        "--no-derived",
        action="store_true",
        help="ignore the derived tables (stage_visits): the window path, for comparison",
    )
    ap.add_argument(
        "--shared",
        action="store_true",
        help="all KPIs on one materialized context (as a page or the report), not one each",
    )
    ap.add_argument(
        "--timeout", type=float, default=900.0, help="stop a KPI's query after this many seconds"
    )
    ap.add_argument(
        "--pg", default="", help="compare with this PostgreSQL database (same data) instead"
    )
    ap.add_argument("-n", "--repeat", type=int, default=3, help="rounds with --pg (median)")
    a = ap.parse_args(argv)
    only = {x for x in a.kpis.split(",") if x} or None
    as_of = a.as_of
    if a.pg:
        if as_of is None:
            ap.error("--pg needs --as-of")
        print(f"DuckDB {a.db} against PostgreSQL {a.pg}, as of {as_of}, {a.repeat} rounds")
        t = bench_engines(a.db, a.pg, as_of, only, a.timeout, a.repeat)
        with pd.option_context("display.max_rows", 200, "display.width", 200):
            print(t.to_string(index=False, float_format="%.3f"))
        ok = t[t.same == "yes"]
        print(
            f"\n{len(ok)} of {len(t)} KPIs with the same figures; over those: DuckDB "
            f"{ok.duckdb_s.sum():.1f} s, PostgreSQL {ok.postgres_s.sum():.1f} s "
            f"({ok.postgres_s.sum() / ok.duckdb_s.sum():.1f}×); ratio per KPI "
            f"{ok['pg/duckdb'].min():.1f}–{ok['pg/duckdb'].max():.1f}×, "
            f"median {ok['pg/duckdb'].median():.1f}×"
        )
        return
    if as_of is None:
        import duckdb

        con = duckdb.connect(a.db, read_only=True)
        last = con.sql("SELECT max(entered_at) FROM deal_stage_history").fetchone()
        con.close()
        as_of = last[0].date() if last and last[0] else date.today()
    print(f"database {a.db}, as of {as_of}", flush=True)

    t0 = time.perf_counter()
    eng, eng_frames = bench_engine(a.db, as_of, only, a.timeout, not a.no_derived, a.shared)
    eng_total = time.perf_counter() - t0
    table = pd.DataFrame(
        {
            "kpi": [t.kpi for t in eng],
            "by": [t.by for t in eng],
            "rows": [t.rows for t in eng],
            "compile_s": [t.compile_s for t in eng],
            "total_s": [t.seconds for t in eng],
            "error": [t.error or "" for t in eng],
        }
    )
    table["execute_s"] = table.total_s - table.compile_s
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print("\nEngine (Ibis → DuckDB), whole catalogue with default breakdowns")
        print(table.drop(columns="error").to_string(index=False, float_format="%.2f"))
    ok = table[table.error == ""]
    compiled = "one shared context" if a.shared else f"compile {ok.compile_s.sum():.1f} s"
    print(
        f"\nengine: {len(table)} KPIs, total {ok.total_s.sum():.1f} s "
        f"({compiled}), wall {eng_total:.1f} s"
    )
    for _, r in table[table.error != ""].iterrows():
        print(f"  FAILED {r.kpi} --by {r.by}: {r.error}")
    slow = ok.nlargest(a.top, "total_s")
    print("slowest: " + ", ".join(f"{r.kpi} {r.total_s:.1f} s" for _, r in slow.iterrows()))
    if a.no_reference:
        return

    load_s, rf, ref_frames = bench_reference(a.db, as_of, only)
    rt = pd.DataFrame(
        {"kpi": [t.kpi for t in rf], "by": [t.by for t in rf], "pandas_s": [t.seconds for t in rf]}
    )
    rt["engine_s"] = rt.kpi.map(table.set_index("kpi").total_s)
    rt["same figures"] = [
        agree(eng_frames[r.kpi], ref_frames[r.kpi], r.by) if r.kpi in eng_frames else "—"
        for _, r in rt.iterrows()
    ]
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print("\nMain KPIs: engine vs pandas reference (pandas load shown separately)")
        print(rt.to_string(index=False, float_format="%.2f"))
    print(
        f"\npandas: load {load_s:.1f} s, compute {rt.pandas_s.sum():.1f} s for {len(rt)} KPIs; "
        f"engine on the same KPIs {rt.engine_s.sum():.1f} s"
    )


if __name__ == "__main__":
    main()
