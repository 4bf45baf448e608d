"""Forecast categories per deal (commit / best case / pipeline / omitted), overrides by a
rep or manager, and a manager's adjusted forecast per rep and period.

The rule, for a period (default: the as-of fiscal quarter) and a deal's win probability
``p`` under the chosen method:

* **omitted** — no amount, ``p`` < 10 %, or an expected close date after the period;
* **commit** — close date inside the period (not overdue) and ``p`` ≥ 70 %;
* **best case** — close date inside the period and 40 % ≤ ``p`` < 70 %, or an overdue
  close date with ``p`` ≥ 40 % (an overdue date is never commit: it needs a new date);
* **pipeline** — the rest (10 % ≤ ``p`` < 40 %).

An override (``forecast_overrides`` row of kind ``category``) replaces the rule for that
deal; a manager's adjustment (kind ``adjustment``) replaces the forecast of a rep for a
period. Each row says who set it and when; the latest one counts.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from salespulse.errors import UserError
from salespulse.warehouse.engine import insert_arrow
from salespulse.warehouse.schema import SYSTEM_TABLES
from salespulse.warehouse.store import Store, conform, utcnow

CATEGORIES = ("commit", "best_case", "pipeline", "omitted")
COMMIT, BEST_CASE, FLOOR = 0.70, 0.40, 0.10
_OVERRIDES = next(t for t in SYSTEM_TABLES if t.name == "forecast_overrides")


def rule(deals: pd.DataFrame, as_of: date, period_end: date) -> pd.Series:
    """The category of each deal by the rule (columns p_win, amount_eur, expected_close_on)."""
    p = deals["p_win"].to_numpy(float)
    close = pd.to_datetime(deals["expected_close_on"])
    no_amount = deals["amount_eur"].isna().to_numpy()
    later = (close > pd.Timestamp(period_end)).to_numpy()
    overdue = (close.isna() | (close <= pd.Timestamp(as_of))).to_numpy()
    cat = np.where(p >= BEST_CASE, "best_case", "pipeline")
    cat = np.where((p >= COMMIT) & ~overdue, "commit", cat)
    cat = np.where(no_amount | (p < FLOOR) | later, "omitted", cat)
    return pd.Series(cat, index=deals.index, name="category")


def _latest(store: Store, kind: str) -> pd.DataFrame:
    t = store.con.table("forecast_overrides")
    df = t.filter(t.kind == kind).execute()
    return df.sort_values("set_at", kind="stable")


def categorize(store: Store, deals: pd.DataFrame, as_of: date, period_end: date) -> pd.DataFrame:
    """``deals`` with ``rule_category``, ``category`` (override if any) and ``override_by``."""
    out = deals.copy()
    out["rule_category"] = rule(deals, as_of, period_end)
    ov = _latest(store, "category")
    ov = ov[ov["set_at"] < pd.Timestamp(datetime.combine(as_of, datetime.max.time()))]
    last = ov.groupby("deal_id").last() if not ov.empty else pd.DataFrame(columns=["category"])
    out["category"] = out["deal_id"].map(last["category"]).fillna(out["rule_category"])
    out["override_by"] = out["deal_id"].map(last["set_by"]) if not ov.empty else None
    return out


def adjustments(store: Store, period_start: date) -> pd.DataFrame:
    """rep_id → the latest adjusted forecast for the period, with who and when."""
    a = _latest(store, "adjustment")
    a = a[pd.to_datetime(a["period_start"]) == pd.Timestamp(period_start)]
    return a.groupby("rep_id")[["amount", "set_by", "set_at", "note"]].last()


def _write(store: Store, row: dict[str, object]) -> None:
    row = {**{c: None for c in _OVERRIDES.column_names}, "set_at": utcnow(), **row}
    insert_arrow(store.con, "forecast_overrides", conform(_OVERRIDES, pa.Table.from_pylist([row])))


def set_category(
    store: Store, deal_id: str, category: str, set_by: str, note: str | None = None
) -> None:
    """Override the category of one deal (stored with who and when)."""
    if category not in CATEGORIES:
        raise UserError(
            f"unknown forecast category {category!r}", hint=f"choose from: {', '.join(CATEGORIES)}"
        )
    deals = store.table("deals")
    if not deals.filter(deals.deal_id == deal_id).count().execute():
        raise UserError(
            f"no deal {deal_id!r}", hint="see `salespulse kpi show open_deals --records`"
        )
    _write(
        store,
        {
            "kind": "category",
            "deal_id": deal_id,
            "category": category,
            "set_by": set_by,
            "note": note,
        },
    )


def set_adjustment(
    store: Store,
    rep_id: str,
    period_start: date,
    amount: float,
    set_by: str,
    note: str | None = None,
) -> None:
    """A manager's adjusted forecast for a rep and period (stored with who and when)."""
    reps = store.table("reps")
    if not reps.filter(reps.rep_id == rep_id).count().execute():
        raise UserError(f"no rep {rep_id!r}")
    if not np.isfinite(amount) or amount < 0:
        raise UserError(f"adjusted forecast {amount!r} must be a non-negative amount")
    row = {"kind": "adjustment", "rep_id": rep_id, "period_start": period_start}
    _write(store, {**row, "amount": float(amount), "set_by": set_by, "note": note})


def rollup(store: Store, deals: pd.DataFrame, period_start: date) -> pd.DataFrame:
    """Per rep (with team): amount per category (commit, best case, pipeline, omitted),
    the forecast (commit + best case weighted by p: Σ amount × p of commit and best case
    deals), the manager's adjustment and who set it. ``deals``: :func:`categorize` rows."""
    d = deals.assign(amount=deals["amount_eur"].fillna(0.0))
    wide = d.pivot_table(index=["team_id", "rep_id"], columns="category", values="amount",
                         aggfunc="sum", fill_value=0.0)  # fmt: skip
    wide = wide.reindex(columns=list(CATEGORIES), fill_value=0.0)
    counted = d[d["category"].isin(["commit", "best_case"])]
    wide["forecast"] = (
        (counted["amount"] * counted["p_win"])
        .groupby([counted["team_id"], counted["rep_id"]])
        .sum()
    )
    wide["forecast"] = wide["forecast"].fillna(0.0)
    wide = wide.reset_index()
    adj = adjustments(store, period_start)
    wide["adjusted"] = wide["rep_id"].map(adj["amount"]) if not adj.empty else np.nan
    wide["adjusted_by"] = wide["rep_id"].map(adj["set_by"]) if not adj.empty else None
    wide["overrides"] = (
        wide["rep_id"]
        .map(d[d["override_by"].notnull()].groupby("rep_id").size())
        .fillna(0)
        .astype(int)
    )
    return wide
