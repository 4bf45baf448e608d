"""The explorer's records for new filter combinations, on the served store (issue #12).

Opens the database as ``salespulse serve`` does (``open_served``: the shared read-only file)
and asks, one request at a time in this process, the first records of each KPI below for
random filter combinations of period × team × product × channel, each never asked before;
prints the first request's time (its SQL built and compiled) and the median and maximum of
the others. No rollups are built (records are never answered from them).

    .venv/bin/python scripts/bench_explorer.py --db /tmp/bench-large.duckdb --combinations 6
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from bench_new_filters import new_combination  # a sibling script

from salespulse.semantic import sqlcache
from salespulse.services.service import Service
from salespulse.settings import load_settings
from salespulse.warehouse.shared import open_served

KPIS = ("won_revenue", "win_rate", "calls", "open_pipeline", "first_response_median")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--combinations", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kpis", default=",".join(KPIS), help="comma-separated")
    args = p.parse_args()

    store = open_served(args.db)
    service = Service(store, load_settings(store=store))
    rng = random.Random(args.seed)
    with service.cache.patient():
        options = service.options()
        for kpi in args.kpis.split(","):
            times = []
            for _ in range(args.combinations):
                f = new_combination(rng, options)
                t0 = time.perf_counter()
                service.drill(kpi, f)
                times.append(time.perf_counter() - t0)
            rest = times[1:] or times
            print(
                f"{kpi:22s} first {times[0] * 1000:6.0f} ms, then median "
                f"{statistics.median(rest) * 1000:6.0f} ms, max {max(rest) * 1000:6.0f} ms"
            )
    print("compiled-SQL cache:", dict(sqlcache.stats))
    service.close()


if __name__ == "__main__":
    main()
