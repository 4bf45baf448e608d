"""The whole KPI catalogue on Spark (local mode) against DuckDB: wall clock and equality.

    .venv/bin/salespulse generate --db /tmp/sp/demo.duckdb --scale demo --today 2026-11-15
    .venv/bin/python scripts/bench_spark.py --db /tmp/sp/demo.duckdb --snapshot /tmp/sp/snap \\
        --master 'local[2]' --partitions 4

Exports the snapshot (timed), opens it as ``spark:<snapshot>`` (session start timed), then
runs every KPI with its default breakdowns on DuckDB and on Spark, one context per engine,
and checks that the sorted rows agree to 1e-9 relative. Prints seconds per KPI and totals.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.query import Query, context, run
from salespulse.warehouse import spark
from salespulse.warehouse.store import connect


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--snapshot", required=True)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("kpis", nargs="*", help="only these KPIs (default: all)")
    args = ap.parse_args()

    duck = connect(args.db, create=False)
    t = time.perf_counter()
    spark.export(duck, args.snapshot)
    print(f"export: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    url = (
        f"spark:{args.snapshot}?master={args.master}&spark.sql.shuffle.partitions={args.partitions}"
    )
    sp = connect(url)
    print(f"spark session + views: {time.perf_counter() - t:.1f} s")
    dctx, sctx = context(duck), context(sp)
    totals = {"duckdb": 0.0, "spark": 0.0}
    bad: list[str] = []
    print(f"{'kpi':32} {'rows':>5} {'duckdb s':>9} {'spark s':>8}")
    for k in all_kpis():
        if args.kpis and k.id not in args.kpis:
            continue
        q = Query.make(k.id, by=list(k.default_by))
        t = time.perf_counter()
        a = run(duck, q, ctx=dctx).frame
        td = time.perf_counter() - t
        t = time.perf_counter()
        b = run(sp, q, ctx=sctx).frame
        ts = time.perf_counter() - t
        totals["duckdb"] += td
        totals["spark"] += ts
        try:
            pd.testing.assert_frame_equal(
                _sorted(b), _sorted(a), check_dtype=False, check_exact=False, rtol=1e-9, atol=0
            )
        except AssertionError:
            bad.append(k.id)
        print(f"{k.id:32} {len(a):>5} {td:>9.2f} {ts:>8.2f}", flush=True)
    print(f"total: duckdb {totals['duckdb']:.1f} s, spark {totals['spark']:.1f} s")
    print(f"different: {bad or 'none'}")
    sp.close()
    duck.close()
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
