"""Deal field history for the demo: close-date pushes and amount changes (vectorized).

The sales flow (:mod:`salespulse.demo.flow`) decides each deal's final expected close date
and amount. This module makes up how they got there, as a CRM's field history would show:

* a rep enters an **initial close date** when the deal is created; reps differ in optimism
  (the initial date is ``created + optimism × (final − created)``): most reps are nearly
  right (60 % of their deals exactly), about a third are optimistic (0.45-0.7, 20 % exact),
  and 8 % of the deals start pessimistic (> 1, pulled in later);
* when an expected date comes near (0-6 days before it) and the deal is still open, the rep
  **pushes** it out, until the final date is reached (at most ``MAX_PUSHES`` changes);
* the **planted slipper** (``PLANTED.slipper_rep_id``) starts very optimistic and pushes by
  1-3 weeks at a time, so its close dates slip again and again;
* about a third of the deals with an amount change it once during their life.

Every row holds the state right after the change (amount, currency, expected close date);
the first row is the deal's creation. The probability column stays empty (not known).
It uses its own random streams (``spawn_key`` 3 and 4), so the rest of the data set does
not change with it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from salespulse.demo.arrow import NA, dates, floats, take, timestamps
from salespulse.demo.calendar import DAY, HOUR

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: At most this many close-date changes per deal (the last one sets the final date).
MAX_PUSHES = 8
#: Share of sellers with optimistic initial close dates.
OPTIMISTIC_SHARE = 0.35
#: Deals that will be lost: optimism multiplier, and a realistic rep's share right at once.
LOST_OPTIMISM = 0.8
LOST_EXACT = 0.35


def rep_optimism(seed: int, n_reps: int, slipper: int) -> FloatArray:
    """Per rep: initial close date = created + optimism × (final − created)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    optimistic = rng.random(n_reps) < OPTIMISTIC_SHARE
    o = np.where(optimistic, rng.uniform(0.45, 0.7, n_reps), rng.uniform(0.85, 1.0, n_reps))
    o[slipper] = 0.25
    return o


def field_history(
    seed: int,
    chunk_index: int,
    *,
    deal_ids: pa.Array,
    created: IntArray,
    end: IntArray,
    final_close_day: IntArray,
    amount: FloatArray,
    no_amount: npt.NDArray[np.bool_],
    currency: pa.Array,
    owner: IntArray,
    rep_ids: pa.Array,
    optimism: FloatArray,
    slipper: int,
    owner_at: Callable[[IntArray, IntArray], IntArray],
    fate_won: npt.NDArray[np.bool_] | None = None,
) -> pa.Table:
    """The ``deal_field_history`` rows of one chunk's deals.

    ``created``/``end`` are seconds (UTC; ``end`` = closed_at, or the export cutoff for open
    deals); ``final_close_day`` the deal's expected close date (day number); ``owner`` the
    first owner (index); ``owner_at(deal, t)`` the owner at an instant; ``fate_won``
    whether each deal is (or will be) won: a deal that will be lost starts with a more
    optimistic date (``LOST_OPTIMISM``) and a realistic rep gets it right at once less often
    (``LOST_EXACT``), so its date slips more — an honest signal for the scoring model.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, chunk_index)))
    n = int(created.shape[0])
    deal = np.arange(n)
    created_day = created // DAY
    final = final_close_day
    span = np.maximum(final - created_day, 0).astype(float)
    slips = owner == slipper
    o = optimism[owner] * rng.uniform(0.9, 1.1, n)
    # a realistic rep gets a share of close dates right at once; an optimistic one fewer
    lost = np.zeros(n, bool) if fate_won is None else ~fate_won
    o = np.where(lost, o * LOST_OPTIMISM, o)
    realistic_exact = np.where(lost, LOST_EXACT, 0.6)
    exact = rng.random(n) < np.where(
        slips, 0.0, np.where(optimism[owner] < 0.8, 0.2, realistic_exact)
    )
    pessimistic = rng.random(n) < 0.08
    o = np.where(exact, 1.0, np.minimum(o, 1.0))
    o = np.where(pessimistic & ~slips, rng.uniform(1.1, 1.4, n), o)
    e0 = created_day + np.round(span * o).astype(np.int64)
    e0 = np.where(final <= created_day, final, e0)
    amount0 = np.where(
        rng.random(n) < 0.35, np.round(amount * rng.uniform(0.75, 1.3, n), -1), amount
    )
    # creation rows
    ev_deal = [deal]
    ev_t = [created]
    ev_close = [e0]
    ev_amount = [np.where(no_amount, np.nan, amount0)]
    # close-date changes (even seconds)
    e, last_t = e0.copy(), created.copy()
    for j in range(MAX_PUSHES):
        later = e < final
        earlier = e > final
        gap = np.where(
            slips,
            rng.uniform(7, 21, n),
            (final - e) * rng.uniform(0.5, 1.0, n) + 1,
        ).astype(np.int64)
        new_e = np.where(j == MAX_PUSHES - 1, final, np.minimum(e + gap, final))
        new_e = np.where(earlier, final, new_e)
        t_push = e * DAY - (rng.uniform(0, 6, n) * DAY).astype(np.int64) + 9 * HOUR
        t_pull = last_t + (rng.uniform(0.2, 0.8, n) * (end - last_t)).astype(np.int64)
        t = np.where(earlier, t_pull, t_push)
        t = np.maximum(t, last_t + HOUR)
        t = t - t % 2
        ok = (later | earlier) & (t < end - HOUR)
        ev_deal.append(deal[ok])
        ev_t.append(t[ok])
        ev_close.append(new_e[ok])
        ev_amount.append(np.full(int(ok.sum()), np.nan))
        e = np.where(ok, new_e, e)
        last_t = np.where(ok, t, last_t)
    # an open deal whose date could not be pushed in time gets the final date just before
    # the export (a closed one keeps the date it had when it closed)
    todo = (e != final) & (end > last_t + 2 * HOUR)
    t_fix = last_t + ((end - last_t) * rng.uniform(0.3, 0.9, n)).astype(np.int64)
    t_fix = t_fix - t_fix % 2
    ok = todo & (t_fix > last_t)
    ev_deal.append(deal[ok])
    ev_t.append(t_fix[ok])
    ev_close.append(final[ok])
    ev_amount.append(np.full(int(ok.sum()), np.nan))
    # amount changes (odd seconds)
    changes = (amount0 != amount) & ~no_amount
    t_a = created + (rng.uniform(0.2, 0.9, n) * (end - created)).astype(np.int64)
    t_a = np.maximum(t_a, created + 1) | 1
    ok = changes & (t_a < end)
    ev_deal.append(deal[ok])
    ev_t.append(t_a[ok])
    ev_close.append(np.full(int(ok.sum()), NA))
    ev_amount.append(amount[ok])
    d = np.concatenate(ev_deal)
    t = np.concatenate(ev_t)
    close = np.concatenate(ev_close)
    amt = np.concatenate(ev_amount)
    order = np.lexsort((t, d))
    d, t, close, amt = d[order], t[order], close[order], amt[order]
    close = _ffill(close, close != NA)
    first = np.r_[True, d[1:] != d[:-1]]
    amt = _ffill(amt, ~np.isnan(amt) | first)
    rep = owner_at(d, t)
    return pa.table(
        {
            "deal_id": deal_ids.take(pa.array(d)),
            "changed_at": timestamps(t),
            "amount": floats(np.nan_to_num(amt), mask=np.isnan(amt)),
            "currency": currency.take(pa.array(d)),
            "expected_close_on": dates(close.astype(np.int64)),
            "probability": pa.nulls(d.shape[0], pa.float64()),
            "changed_by_rep_id": take(rep_ids, rep),
        }
    )


def _ffill(
    values: npt.NDArray[np.generic], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.generic]:
    """Forward-fill ``values`` where not ``valid`` (the first element must be valid)."""
    idx = np.where(valid, np.arange(values.shape[0]), 0)
    return values[np.maximum.accumulate(idx)]
