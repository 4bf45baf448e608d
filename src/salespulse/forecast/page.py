"""The Forecast page's data (shared by the HTML page and ``/api/forecast/page``).

For the chosen method and as-of date: per month of the current and next fiscal quarter the
revenue won so far (months up to the as-of date, from the ``won_revenue`` KPI), the
forecast for the open pipeline (expected and P10/P50/P90) and the target; per rep the
category totals, the model's forecast for the rest of the quarter, the manager's adjustment
and hygiene counts (overdue close date, no amount); and the accuracy history of the stored
snapshots (forecast vs what those deals went on to win).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from salespulse.forecast import categories
from salespulse.forecast.run import compute
from salespulse.semantic import timecal
from salespulse.semantic.catalogue.deals import won_facts
from salespulse.semantic.query import Query, context, jsonable, run
from salespulse.semantic.timecal import Grain
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: The method the page shows unless asked (recommended by the backtests in docs/forecast.md).
DEFAULT_METHOD = "learned_timing"
DRAWS = 2_000


def _rows(f: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): jsonable(v) for k, v in r.items()} for r in f.to_dict(orient="records")]


def data(
    store: Store, settings: Settings, as_of: date, method: str = DEFAULT_METHOD
) -> dict[str, Any]:
    ctx = context(store, settings, as_of)
    q_start = timecal.period_start(as_of, Grain.quarter, settings)
    q_end = timecal.next_period(q_start, Grain.quarter) - timedelta(days=1)
    f = compute(ctx, methods=(method,), draws=DRAWS)
    out: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "method": method,
        "currency": f.currency,
        "available": f.available,
        "reason": f.reason,
        "quarter": {"start": q_start.isoformat(), "end": q_end.isoformat()},
    }
    months = (
        f.summary[(f.summary["by"] == "total") & (f.summary["grain"] == "month")]
        if not f.summary.empty
        else pd.DataFrame()
    )
    won = run(
        store, Query.make("won_revenue", by="month", start=q_start, end=as_of), settings
    ).frame
    won_total = float(won["value"].sum()) if not won.empty else 0.0
    target = None
    tq = run(
        store, Query.make("won_revenue", by="quarter", start=q_start, end=q_end), settings
    ).frame
    if "target" in tq and not tq.empty and pd.notna(tq["target"].iloc[0]):
        target = float(tq["target"].iloc[0])
    out["months"] = (
        _rows(months[["period_start", "period_end", "expected", "p10", "p50", "p90"]])
        if not months.empty
        else []
    )
    out["won_by_month"] = _rows(won[["period", "value"]]) if not won.empty else []
    quarter = f.summary[
        (f.summary["by"] == "total") & (f.summary["grain"] == "quarter")
        & (pd.to_datetime(f.summary["period_end"]) == pd.Timestamp(q_end))
    ] if not f.summary.empty else pd.DataFrame()  # fmt: skip
    rest = quarter.iloc[0] if not quarter.empty else None
    out["summary"] = {
        "won_to_date": won_total,
        "target": target,
        "expected": won_total + float(rest["expected"]) if rest is not None else None,
        "p10": won_total + float(rest["p10"])
        if rest is not None and pd.notna(rest["p10"])
        else None,
        "p50": won_total + float(rest["p50"])
        if rest is not None and pd.notna(rest["p50"])
        else None,
        "p90": won_total + float(rest["p90"])
        if rest is not None and pd.notna(rest["p90"])
        else None,
    }
    out["calibration"] = _calibration(f, method)
    out["reps"] = _reps(store, f, as_of, q_start, q_end)
    out["accuracy"] = accuracy(store, settings, method, as_of)
    return out


def _calibration(f: Any, method: str) -> dict[str, Any] | None:
    """Whether the range shown is calibrated: the stored calibration per horizon (``month``,
    ``quarter``: past periods learned from and the calibrated range's backtest coverage),
    ``calibrated`` when one of them was learned from enough periods to widen the range;
    None when there is no range at all."""
    if not f.draws:
        return None
    cal = f.calibration.get(method, {})
    return {
        "calibrated": any(c["calibrated"] for c in cal.values()),
        "as_of": max((c["as_of"] for c in cal.values()), default=None),
        "month": cal.get("month"),
        "quarter": cal.get("quarter"),
    }


def _reps(store: Store, f: Any, as_of: date, q_start: date, q_end: date) -> list[dict[str, Any]]:
    d = f.deals
    if d.empty:
        return []
    d = categories.categorize(store, d, as_of, q_end)
    roll = categories.rollup(store, d, q_start)
    s = f.summary
    per_rep = s[
        (s["by"] == "rep")
        & (s["grain"] == "quarter")
        & (pd.to_datetime(s["period_end"]) == pd.Timestamp(q_end))
    ]
    roll["model_p50"] = roll["rep_id"].map(per_rep.set_index("group")["p50"])
    roll["model_expected"] = roll["rep_id"].map(per_rep.set_index("group")["expected"])
    hyg = (
        d.assign(no_amount=d["amount_eur"].isna()).groupby("rep_id")[["overdue", "no_amount"]].sum()
    )
    roll["overdue"] = roll["rep_id"].map(hyg["overdue"]).fillna(0).astype(int)
    roll["no_amount"] = roll["rep_id"].map(hyg["no_amount"]).fillna(0).astype(int)
    names = store.table("reps").select("rep_id", "name").execute().set_index("rep_id")["name"]
    roll.insert(1, "rep_name", roll["rep_id"].map(names))
    return _rows(roll.sort_values(["team_id", "rep_id"]))


def accuracy(store: Store, settings: Settings, method: str, as_of: date) -> list[dict[str, Any]]:
    """Stored snapshots whose quarter is over: forecast (with range) vs won by those deals."""
    snaps = store.con.table("forecast_snapshots")
    s = snaps.filter(
        (snaps.method == method) & (snaps.breakdown == "total") & (snaps.grain == "quarter")
        & (snaps.period_end <= as_of)
    ).execute()  # fmt: skip
    if s.empty:
        return []
    sd = store.con.table("forecast_snapshot_deals")
    deals = sd.filter(sd.method == method).select("as_of", "deal_id").execute()
    ctx = context(store, settings, as_of)
    w = won_facts(ctx).table
    won = w.select("deal_id", "amount_eur", closed=ctx.local(w.closed_at)).execute()
    j = deals.merge(won, on="deal_id")
    j["closed"] = pd.to_datetime(j["closed"]).dt.normalize()
    rows = []
    for r in s.sort_values(["as_of", "period_start"]).itertuples():
        a = j[(j["as_of"] == r.as_of) & (j["closed"] >= pd.Timestamp(r.period_start))
              & (j["closed"] <= pd.Timestamp(r.period_end))]["amount_eur"].sum()  # fmt: skip
        inside = r.p10 is not None and pd.notna(r.p10) and r.p10 <= a <= r.p90
        rows.append({"as_of": jsonable(r.as_of), "period_start": jsonable(r.period_start),
                     "period_end": jsonable(r.period_end), "expected": r.expected, "p10": r.p10,
                     "p90": r.p90, "actual": float(a), "within_range": bool(inside)})  # fmt: skip
    return rows


def fan_chart(page: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """A Plotly spec: won so far (bars), P10–P90 band and P50 line per month, target."""
    months = page["months"]
    x = [m["period_start"][:7] for m in months]
    won = {w["period"][:7]: w["value"] for w in page["won_by_month"] if w.get("period")}
    data: list[dict[str, Any]] = []
    wx = sorted(won)
    data.append({"type": "bar", "x": wx, "y": [won[k] for k in wx], "name": labels["won"],
                 "marker": {"color": "#2a7"}})  # fmt: skip
    if months and months[0].get("p10") is not None:
        data.append({"type": "scatter", "x": x, "y": [m["p10"] for m in months], "mode": "lines",
                     "line": {"width": 0}, "name": "P10", "showlegend": False})  # fmt: skip
        data.append({"type": "scatter", "x": x, "y": [m["p90"] for m in months], "mode": "lines",
                     "fill": "tonexty", "fillcolor": "rgba(60,110,200,0.25)", "line": {"width": 0},
                     "name": labels["range"]})  # fmt: skip
        p50 = [m["p50"] for m in months]
        data.append({"type": "scatter", "x": x, "y": p50, "mode": "lines+markers",
                     "name": "P50", "line": {"color": "#36c"}})  # fmt: skip
    data.append({"type": "scatter", "x": x, "y": [m["expected"] for m in months], "mode": "lines",
                 "name": labels["expected"], "line": {"dash": "dot", "color": "#333"}})  # fmt: skip
    layout = {"barmode": "overlay", "margin": {"t": 20, "r": 10, "b": 40, "l": 70},
              "yaxis": {"title": page["currency"]}, "legend": {"orientation": "h"}}  # fmt: skip
    target = page["summary"].get("target")
    if target:
        layout["title"] = {"text": f"{labels['target']}: {target:,.0f}", "font": {"size": 12}}
    return {"data": data, "layout": layout}
