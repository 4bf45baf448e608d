"""Precision and recall of the stale-deal alert on generated data with planted stale deals.

The generator plants ``PLANTED.stale_deals`` open deals that have sat in their current stage
for 2.5-3.5 × their product line's cap on "today"; every other open deal is within its cap
(see docs/demo-data.md). Those beyond 2 × the cap are the ground truth.

    python scripts/measure_stale.py --seed 7
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

from salespulse.demo import PLANTED
from salespulse.demo.build import generate
from salespulse.semantic.model import days_between
from salespulse.semantic.query import Query, context, records
from salespulse.warehouse.store import connect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--today", default="2026-11-15")
    args = ap.parse_args()
    today = date.fromisoformat(args.today)
    with tempfile.TemporaryDirectory() as tmp:
        store = connect(Path(tmp) / "m.duckdb")
        generate(store, args.seed, args.scale, today)
        ctx = context(store, as_of=today)
        print(f"seed {args.seed}, {args.scale}, as of {today}")
        h = ctx.stage_history.filter(ctx.stage_history.is_last & ~ctx.stage_history.is_closed)
        h = h.inner_join(ctx.deals.select("deal_id", "product_line"), "deal_id")
        h = h.mutate(days=days_between(h.entered_at, ctx.cutoff)).execute()
        cap = h.product_line.map(PLANTED.stage_cap_days)
        truth = set(h[h.days > 2 * cap].deal_id)
        flagged = records(store, Query.make("stale_deals", as_of=today), limit=None)
        found = set(flagged[flagged.in_numerator].deal_id)
        hits = len(found & truth)
        print(f"planted (ground truth): {len(truth)}; flagged: {len(found)}; correct: {hits}")
        print(f"precision: {hits / len(found):.2f}" if found else "precision: no alerts")
        print(f"recall:    {hits / len(truth):.2f}" if truth else "recall: nothing planted")
        print(flagged[flagged.in_numerator].stale_basis.value_counts().to_string())
        store.close()


if __name__ == "__main__":
    main()
