"""Time and quality of the scoring models on a database (docs/benchmarks.md, "Scoring").

    .venv/bin/salespulse generate --scale large --today 2026-11-15 --db /tmp/large.duckdb
    .venv/bin/python scripts/bench_scoring.py /tmp/large.duckdb

Prints, per target, wall clock and CPU time of training (samples + models + calibration)
and the test metrics of every model.
"""

from __future__ import annotations

import sys
import time

from salespulse.scoring import train
from salespulse.warehouse.store import connect


def main(db: str) -> None:
    store = connect(db, create=False)
    for name, fit in (("deal_won", train.train_deals), ("lead_won", train.train_leads)):
        wall, cpu = time.perf_counter(), time.process_time()
        r = fit(store)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU; chosen {r.chosen}; {r.verdict}")
        for m, v in r.test.items():
            print(f"  {m:12s} AUC {v['auc'] or 0:.3f}  Brier {v['brier']:.3f}  ECE {v['ece']:.3f}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
