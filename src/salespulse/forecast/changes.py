"""Pipeline changes since a date: a waterfall that balances to the cent, and slip rates.

The **period pipeline** at a moment is the open deals whose expected close date (as known
then) falls on or before the period's last day — overdue and missing dates count, as in the
``forecast`` KPI. From the start (the pipeline as of ``since``) to the end (as of
``as_of``) every deal lands in exactly one bucket:

* **new** — not in the start pipeline, created (or reopened) after ``since``, in the end one;
* **pulled in** — open at the start with a close date after the period, now inside it;
* **won** / **lost** — in the start pipeline, closed since (leaves with its start amount);
* **pushed out** — in the start pipeline, still open, close date now after the period;
* **amount up** / **amount down** — in both: the change of its amount (including a change
  of exchange rate for deals in another currency).

So ``start + new + pulled in − won − lost − pushed out + amount up − amount down = end``,
in whole cents. **Moved backwards** (a deal in both whose stage is now earlier) is shown
beside it, as a count and amount, not a flow.

**Slip rate** per rep (the deal's current owner): of the deals whose expected close date,
as known at ``since`` (or when created, if later), was on or before ``as_of`` and that were
open at some time since ``since`` — they were due — the share whose close date was moved
later at least once between ``since`` and ``as_of``. Needs ``deal_field_history``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from ibis import _

from salespulse.forecast.inputs import open_deals
from salespulse.semantic.model import Context

BUCKETS = ("new", "pulled_in", "won", "lost", "pushed_out", "amount_up", "amount_down")
SIGN = {"new": 1, "pulled_in": 1, "won": -1, "lost": -1, "pushed_out": -1,
        "amount_up": 1, "amount_down": -1}  # fmt: skip


def _cents(x: pd.Series) -> pd.Series:
    return (x.astype(float).fillna(0.0) * 100).round().astype("int64")


@dataclass
class Changes:
    since: date
    as_of: date
    period_end: date
    start_cents: int
    end_cents: int
    buckets: dict[str, int]  # cents, positive numbers; SIGN says which way
    counts: dict[str, int]
    moved_backwards: tuple[int, int]  # deals, cents
    deals: pd.DataFrame  # deal_id, rep_id, bucket, start_eur, end_eur
    slip: pd.DataFrame  # rep_id, due, slipped, slip_rate, pushes, days_pushed

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "as_of": self.as_of.isoformat(),
            "period_end": self.period_end.isoformat(),
            "start": self.start_cents / 100,
            "end": self.end_cents / 100,
            "steps": [
                {
                    "bucket": b,
                    "amount": SIGN[b] * self.buckets[b] / 100,
                    "deals": self.counts[b],
                }
                for b in BUCKETS
            ],
            "moved_backwards": {
                "deals": self.moved_backwards[0],
                "amount": self.moved_backwards[1] / 100,
            },
            "slip": [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in self.slip.to_dict(orient="records")
            ],
        }

    def waterfall(self) -> pd.DataFrame:
        rows = [{"step": "start", "amount": self.start_cents / 100, "deals": None}]
        for b in BUCKETS:
            rows.append(
                {"step": b, "amount": SIGN[b] * self.buckets[b] / 100, "deals": self.counts[b]}
            )
        rows.append({"step": "end", "amount": self.end_cents / 100, "deals": None})
        out = pd.DataFrame(rows)
        out["deals"] = out["deals"].astype("Int64")
        return out


def compute(start_ctx: Context, end_ctx: Context, period_end: date) -> Changes:
    """The waterfall from ``start_ctx.as_of`` to ``end_ctx.as_of`` for the period ending
    ``period_end`` (inclusive)."""
    s = open_deals(start_ctx)
    e = open_deals(end_ctx)
    pe = pd.Timestamp(period_end)

    def in_period(df: pd.DataFrame) -> pd.Series:
        close = pd.to_datetime(df["expected_close_on"])
        return close.isna() | (close <= pe)

    s_in = s[in_period(s)].set_index("deal_id")
    e_in = e[in_period(e)].set_index("deal_id")
    s_open = set(s["deal_id"])
    closed = end_ctx.deals.filter(_.is_closed).select("deal_id", "outcome").execute()
    outcome = dict(zip(closed["deal_id"], closed["outcome"], strict=True))
    start_c = _cents(s_in["amount_eur"])
    end_c = _cents(e_in["amount_eur"])
    rows = []
    for d in s_in.index:
        if d in e_in.index:
            delta = int(end_c[d] - start_c[d])
            bucket = "amount_up" if delta > 0 else "amount_down" if delta < 0 else "unchanged"
            rows.append((d, s_in.at[d, "rep_id"], bucket, abs(delta), start_c[d], end_c[d]))
        else:
            o = outcome.get(d)
            bucket = "won" if o == "won" else "lost" if o == "lost" else "pushed_out"
            rows.append((d, s_in.at[d, "rep_id"], bucket, int(start_c[d]), start_c[d], 0))
    for d in e_in.index.difference(s_in.index):
        bucket = "pulled_in" if d in s_open else "new"
        rows.append((d, e_in.at[d, "rep_id"], bucket, int(end_c[d]), 0, end_c[d]))
    deals = pd.DataFrame(
        rows, columns=["deal_id", "rep_id", "bucket", "cents", "start_cents", "end_cents"]
    )
    buckets = {b: int(deals.loc[deals["bucket"] == b, "cents"].sum()) for b in BUCKETS}
    counts = {b: int((deals["bucket"] == b).sum()) for b in BUCKETS}
    both = s_in.index.intersection(e_in.index)
    back = both[
        e_in.loc[both, "stage_order"].to_numpy(float)
        < s_in.loc[both, "stage_order"].to_numpy(float)
    ]
    moved = (len(back), int(end_c[back].sum()))
    deals["start_eur"] = deals.pop("start_cents") / 100
    deals["end_eur"] = deals.pop("end_cents") / 100
    deals = deals.drop(columns="cents")
    return Changes(
        start_ctx.as_of,
        end_ctx.as_of,
        period_end,
        int(start_c.sum()),
        int(end_c.sum()),
        buckets,
        counts,
        moved,
        deals,
        slip_rates(start_ctx, end_ctx),
    )


def slip_rates(start_ctx: Context, end_ctx: Context) -> pd.DataFrame:
    """Per rep: deals due by ``as_of`` (as known at ``since``), how many slipped, the rate,
    the number of pushes and the days pushed in total (see the module docstring)."""
    cols = ["rep_id", "due", "slipped", "slip_rate", "pushes", "days_pushed"]
    if not end_ctx.has_rows("deal_field_history"):
        return pd.DataFrame(columns=cols)
    fh = end_ctx.t("deal_field_history")
    fh = fh.filter((fh.changed_at < end_ctx.cutoff) & fh.expected_close_on.notnull())
    h = fh.select("deal_id", "changed_at", "expected_close_on").execute()
    owners = end_ctx.deals.select("deal_id", "rep_id", "closed_at").execute()
    if h.empty:
        return pd.DataFrame(columns=cols)
    h = h.sort_values(["deal_id", "changed_at"], kind="stable")
    h["close"] = pd.to_datetime(h["expected_close_on"])
    h["prev"] = h.groupby("deal_id")["close"].shift()
    since = pd.Timestamp(start_ctx.as_of_at)
    # the close date each deal had at `since` (or its first one, if created later)
    before = h[h["changed_at"] < since].groupby("deal_id")["close"].last()
    first = h.groupby("deal_id")["close"].first()
    known = before.reindex(first.index).fillna(first)
    alive = owners[owners["closed_at"].isna() | (owners["closed_at"] >= since)]["deal_id"]
    known = known[known.index.isin(set(alive))]
    due = known[known <= pd.Timestamp(end_ctx.as_of)]
    window = h[(h["changed_at"] >= since) & (h["prev"].notnull()) & (h["close"] > h["prev"])]
    window = window[window["deal_id"].isin(due.index)]
    per = window.groupby("deal_id").agg(pushes=("close", "size"))
    per["days"] = (
        window.assign(d=(window["close"] - window["prev"]).dt.days).groupby("deal_id")["d"].sum()
    )
    o = owners.set_index("deal_id")["rep_id"]
    frame = pd.DataFrame({"deal_id": due.index})
    frame["rep_id"] = frame["deal_id"].map(o).fillna("unknown")
    frame["pushes"] = frame["deal_id"].map(per["pushes"]).fillna(0).astype(int)
    frame["days"] = frame["deal_id"].map(per["days"]).fillna(0).astype(int)
    out = frame.groupby("rep_id", as_index=False).agg(
        due=("deal_id", "size"),
        slipped=("pushes", lambda x: int((x > 0).sum())),
        pushes=("pushes", "sum"),
        days_pushed=("days", "sum"),
    )
    out["slip_rate"] = out["slipped"] / out["due"]
    return out[cols].sort_values("slip_rate", ascending=False, kind="stable").reset_index(drop=True)
