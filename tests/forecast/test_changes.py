"""The pipeline waterfall balances to the cent; the planted slipper has the top slip rate."""

from __future__ import annotations

from datetime import date

import pytest

from salespulse.demo import PLANTED
from salespulse.forecast.changes import BUCKETS, SIGN, compute
from salespulse.semantic.query import context
from salespulse.warehouse.store import Store


@pytest.mark.slow
@pytest.mark.parametrize(
    ("since", "as_of", "period_end"),
    [
        (date(2026, 10, 1), date(2026, 11, 14), date(2026, 12, 31)),
        (date(2026, 1, 1), date(2026, 3, 31), date(2026, 3, 31)),  # the quarter just over
        (date(2025, 12, 1), date(2026, 3, 15), date(2026, 3, 31)),
        (date(2025, 4, 1), date(2025, 8, 20), date(2025, 9, 30)),
    ],
)
def test_start_plus_changes_is_end_to_the_cent(
    demo: Store, since: date, as_of: date, period_end: date
) -> None:
    end_ctx = context(demo, as_of=as_of)
    ch = compute(context(demo, end_ctx.settings, since), end_ctx, period_end)
    flows = sum(SIGN[b] * ch.buckets[b] for b in BUCKETS)
    assert ch.start_cents + flows == ch.end_cents
    assert ch.start_cents > 0 and ch.end_cents > 0
    # every bucket is used somewhere and each deal lands in one bucket only
    assert ch.deals["deal_id"].is_unique
    assert ch.counts["won"] > 0 and ch.counts["lost"] > 0
    if period_end > as_of:  # on the period's last day a deal new in it is open only if overdue
        assert ch.counts["new"] > 0
    steps = ch.waterfall()
    assert steps["amount"].iloc[0] + steps["amount"].iloc[1:-1].sum() == pytest.approx(
        steps["amount"].iloc[-1], abs=0.005
    )


@pytest.mark.slow
def test_the_planted_slipper_slips_most(demo: Store) -> None:
    end_ctx = context(demo, as_of=date(2026, 11, 14))
    ch = compute(context(demo, end_ctx.settings, date(2026, 5, 15)), end_ctx, date(2026, 12, 31))
    rates = dict(zip(ch.slip["rep_id"], ch.slip["slip_rate"], strict=True))
    assert max(rates, key=lambda r: rates[r]) == PLANTED.slipper_rep_id
    assert rates[PLANTED.slipper_rep_id] > 0.9
    assert (ch.slip["due"] >= 20).sum() >= 5
