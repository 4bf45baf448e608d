"""Benchmark: how fast every page's data comes back (the JSON behind each page).

    .venv/bin/python scripts/bench_pages.py --db /tmp/bench-large.duckdb [--repeat 20]

Measures, in-process over HTTP (FastAPI TestClient), for every page: the first (cold)
computation, then ``--repeat`` requests served from the per-data-version cache after warming.
Prints a Markdown table (p50/p95/max in ms) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

from fastapi.testclient import TestClient

from salespulse.services.pages import PAGES
from salespulse.web.app import create_app

ENDPOINTS = [f"/api/pages/{name}" for name in (*PAGES, "alerts")] + ["/api/filters"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    app = create_app(args.db, warm=False)
    rows = []
    with TestClient(app) as client:
        for path in ENDPOINTS:
            t = time.perf_counter()
            r = client.get(path)
            cold = time.perf_counter() - t
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
            warm = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                assert client.get(path).status_code == 200
                warm.append(time.perf_counter() - t)
            rows.append((path, cold, warm))
            print(
                f"{path}: cold {cold * 1000:.0f} ms, warm p95 {pct(warm, 0.95) * 1000:.1f} ms",
                flush=True,
            )
    print()
    print("| endpoint | cold (first request) | warm p50 | warm p95 | warm max |")
    print("|---|---:|---:|---:|---:|")
    for path, cold, warm in rows:
        print(
            f"| `{path}` | {cold * 1000:,.0f} ms | {statistics.median(warm) * 1000:.1f} ms "
            f"| {pct(warm, 0.95) * 1000:.1f} ms | {max(warm) * 1000:.1f} ms |"
        )


if __name__ == "__main__":
    main()
