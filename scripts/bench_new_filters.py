"""Cold pages for new filter combinations, answered from rollups (issue #12).

Builds the rollups of every page for the filter-bar periods (as the server does after an
import), then computes each page for random filter combinations of period × team ×
product × channel, each one never asked before, one request at a time in this process, and
prints the median and maximum time per page. ``--no-rollups`` computes the same pages in
full, for comparison.

    .venv/bin/python scripts/bench_new_filters.py --db /tmp/bench-large.duckdb --combinations 8
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from salespulse.services import pages
from salespulse.services.filters import Filters
from salespulse.services.models import FilterOptions
from salespulse.services.service import ROLLUP_PERIODS, Service
from salespulse.settings import load_settings
from salespulse.warehouse.shared import open_served


def new_combination(rng: random.Random, options: FilterOptions) -> Filters:
    """A random filter combination: a filter-bar period × team × product × channel (each
    dimension possibly unfiltered)."""
    return Filters(
        period=rng.choice(ROLLUP_PERIODS),
        team=rng.choice([None, *(o.value for o in options.team)]),
        product=rng.choice([None, *(o.value for o in options.product)]),
        channel=rng.choice([None, *(o.value for o in options.channel)]),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--combinations", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-rollups", action="store_true", help="compute every page in full")
    args = p.parse_args()

    store = open_served(args.db)
    service = Service(store, load_settings(store=store))
    rollups = not args.no_rollups
    with service.cache.patient():
        if rollups:
            t0 = time.perf_counter()
            service.build_rollups()
            kept = [k for k in service.cache._entries if k[1][0] == "rollup"]
            size = sum(service.cache._entries[k].memory_usage(deep=True).sum() for k in kept)
            print(
                f"rollups built in {time.perf_counter() - t0:.1f} s: "
                f"{len(kept)} frames, {size / 1e6:.0f} MB"
            )
        options = service.options()
        rng = random.Random(args.seed)
        times: dict[str, list[float]] = {name: [] for name in pages.PAGES}
        for _ in range(args.combinations):
            f = new_combination(rng, options)
            for name in pages.PAGES:

                def compute(name: str = name, f: Filters = f) -> None:
                    r = service.page_runner(f, rollups=rollups)
                    try:
                        pages.PAGES[name](r)
                    finally:
                        r.close()

                t0 = time.perf_counter()
                service.cache.get(("bench", name, f.key()), compute)
                times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        median, top = statistics.median(ts) * 1000, max(ts) * 1000
        p95 = float(np.percentile(ts, 95)) * 1000
        print(f"{name:13s} median {median:6.0f} ms  p95 {p95:6.0f} ms  max {top:6.0f} ms")
    service.close()


if __name__ == "__main__":
    main()
