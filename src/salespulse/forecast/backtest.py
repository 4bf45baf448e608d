"""Walk-forward backtest: how each method would have done, as known at each month end.

At every month end ``T`` of the history (after ``WARMUP_MONTHS`` to learn from, and while
the next three months are over), each method forecasts — from what was known at ``T``
only — the revenue the deals open at ``T`` will win in

* ``month``: the next calendar month;
* ``quarter``: the next three calendar months;
* the rest of the fiscal quarter (for the error by weeks left).

Actual = the amount of those deals won in the window, as known at the backtest's own as-of
date. Per method and horizon:

* **WAPE** = Σ|forecast − actual| / Σ actual over the periods (0 = perfect);
* **bias** = Σ(forecast − actual) / Σ actual (positive = too high);
* **P10–P90 coverage** = share of periods whose actual fell within the range calibrated
  walk-forward on the periods already over (:mod:`salespulse.forecast.calibration`: a
  conformal quantile at a level adapted to the earlier ranges' hits and misses, step
  ``gamma``; 0 = split conformal at 80 %; beyond the record's largest miss an
  extrapolated tail unless ``tail=False``; 80 % is right); ``coverage_raw`` the same for
  the simulation's own [P10, P90];
* per rep and per product the same WAPE over (period, rep) and (period, product) pairs.

The recommended method has the lowest quarter WAPE; how sure that is comes from a paired
bootstrap over the periods: the share of resamples in which it also has the lowest WAPE.

Each forecast's simulation draws the learned methods' parameters ``uncertainty`` times
(:data:`montecarlo.PARAM_DRAWS`; 0 = point parameters, independent deals), as live
forecasts do, so the calibration learns the spread of the same simulation.

The history is read once (:class:`salespulse.forecast.replay.Replay`) and replayed at each
month end. Forecasts from ``CALIBRATION_LEAD_MONTHS`` before the first scored month end
are made and checked too, not scored: a stopgap record for the first calibrations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from salespulse.forecast import calibration, likelihood, montecarlo
from salespulse.forecast.replay import Replay
from salespulse.forecast.run import METHODS, DealFigures, month_periods, per_deal
from salespulse.semantic import timecal
from salespulse.semantic.catalogue.deals import won_facts
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: Months of history before the first backtest forecast.
WARMUP_MONTHS = 12
#: Draws per forecast in the backtest (enough for P10/P90 of a total).
DRAWS = 2_000
HORIZONS = {"month": 1, "quarter": 3}
#: Forecasts before the first scored one only feed the range's calibration (made and
#: checked like the others, not scored). How many, derived rather than tuned: the first
#: scored quarter needs ``calibration.MIN_PERIODS`` quarters over by then, so they start
#: 3 + (4 − 1) = 6 months before it.
CALIBRATION_LEAD_MONTHS = max(HORIZONS.values()) + calibration.MIN_PERIODS - 1

Progress = Callable[[str, int, int], None]


@dataclass
class Backtest:
    as_of: date
    methods: pd.DataFrame  # method, horizon, wape, bias, coverage_p10_p90, n_periods, …
    periods: pd.DataFrame  # one row per (T, method, horizon)
    by_group: pd.DataFrame  # method, horizon, by, group, forecast, actual, wape
    by_weeks_left: pd.DataFrame  # method, weeks_left, wape, n_periods
    recommended: str | None
    confidence: float | None
    runner_up: str | None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The stopgap forecasts (made before the first scored month end, checked, not scored;
    #: month and quarter, walked like ``periods``): with ``periods`` the whole record the
    #: calibration learned from, so it can be replayed (``scripts/bench_forecast.py``).
    stopgaps: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        from salespulse.semantic.query import jsonable

        def rows(f: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {str(k): jsonable(v) for k, v in r.items()} for r in f.to_dict(orient="records")
            ]

        return {
            "as_of": self.as_of.isoformat(),
            "methods": rows(self.methods),
            "recommended": self.recommended,
            "confidence": self.confidence,
            "runner_up": self.runner_up,
            "reason": self.reason,
            "by_weeks_left": rows(self.by_weeks_left),
            "periods": rows(self.periods),
            "notes": self.notes,
        }


def month_ends(first: date, last: date) -> list[date]:
    """Month ends ``T`` with ``first ≤ T`` and ``T + 3 months ≤ last``."""
    out: list[date] = []
    m = pd.Timestamp(first).to_period("M")
    while True:
        t = m.end_time.date()
        if (pd.Timestamp(t) + pd.DateOffset(months=3)).date() > last:
            return out
        if t >= first:
            out.append(t)
        m += 1


def _last_day(ctx: Context) -> date:
    """The last day with a recorded deal or stage change (a later as-of adds no history)."""
    days = [ctx.as_of]
    for name, col in (("deals", "created_at"), ("deal_stage_history", "entered_at")):
        v = ctx.t(name)[col].max().execute()
        if v is not None and not pd.isna(v):
            days.append(pd.Timestamp(v).date())
    return min(days[0], max(days[1:])) if len(days) > 1 else ctx.as_of


def _actuals(ctx: Context) -> pd.DataFrame:
    """deal_id → local close date and amount of every won deal (as known at ctx.as_of)."""
    w = won_facts(ctx).table
    df = w.select("deal_id", "amount_eur", closed=ctx.local(w.closed_at)).execute()
    df["closed_on"] = pd.to_datetime(df["closed"]).dt.date
    return df.set_index("deal_id")[["closed_on", "amount_eur"]]


def run(
    store: Store,
    settings: Settings,
    as_of: date,
    methods: tuple[str, ...] = METHODS,
    draws: int = DRAWS,
    progress: Progress | None = None,
    warmup_months: int = WARMUP_MONTHS,
    spread: float = 0.0,
    uncertainty: int = montecarlo.PARAM_DRAWS,
    gamma: float = calibration.GAMMA,
    tail: bool = True,
) -> Backtest:
    report = progress or (lambda step, done, total: None)
    final = Context(store, settings, as_of)
    loader = Replay(store, settings)
    empty = pd.DataFrame()
    if not loader.has_history:
        return Backtest(
            as_of, empty, empty, empty, empty, None, None, None,
            reason="there is no stage history: past forecasts cannot be reconstructed, "
            "so no method can be scored",
        )  # fmt: skip
    first_at = final.t("deals").created_at.min().execute()
    if first_at is None or pd.isna(first_at):
        return Backtest(as_of, empty, empty, empty, empty, None, None, None, reason="no deals")
    start = (pd.Timestamp(first_at) + pd.DateOffset(months=warmup_months)).date()
    lead = max(warmup_months - CALIBRATION_LEAD_MONTHS, 0)
    early = (pd.Timestamp(first_at) + pd.DateOffset(months=lead)).date()
    ends = month_ends(min(start, early), min(as_of, _last_day(final)))
    actual = _actuals(final)
    lk = None
    if likelihood.NAME in methods:  # opt-in: trained per origin (forecast/likelihood.py)
        lk = likelihood.PerOrigin(store, settings, likelihood.outcomes(store, settings, as_of))
        if ends:  # the month ends before the first origin: training samples only
            before = pd.date_range(pd.Timestamp(first_at).normalize(), ends[0], freq="ME").date
            likelihood.warm(lk, [d for d in before if d < ends[0]])
    base = tuple(m for m in methods if m != likelihood.NAME)
    if lk is not None and "learned_timing" not in base:
        base = (*base, "learned_timing")
    rows, group_rows = [], []
    report("Backtest", 0, len(ends))
    for k, t in enumerate(ends):
        ctx = Context(store, settings, t)
        inp = loader.load(t)
        ms = month_periods(t, 3)
        res = per_deal(ctx, inp, base, ms, uncertainty, seed=k)
        deals = inp.open
        if lk is not None:
            lt = res["learned_timing"]
            p_model = lk.probabilities(t, deals["deal_id"], lt.p)
            res = {m: res[m] for m in methods if m in res}
            # the model's probabilities are points; its timing keeps the model's draws
            res[likelihood.NAME] = DealFigures(p_model, lt.shares, None, lt.share_draws)
        amount = np.nan_to_num(deals["amount_eur"].to_numpy(float, na_value=np.nan))
        won = actual.reindex(deals["deal_id"])
        closed_on = pd.to_datetime(won["closed_on"]).to_numpy()
        won_amt = np.nan_to_num(won["amount_eur"].to_numpy(float, na_value=np.nan))
        q_end = timecal.next_period(
            timecal.period_start(t + timedelta(days=1), Grain.quarter, settings), Grain.quarter
        ) - timedelta(days=1)
        windows = {"month": ms[0].end, "quarter": ms[2].end, "rest_of_quarter": q_end}
        for method, fig in res.items():
            exp = amount[:, None] * fig.p[:, None] * fig.shares
            sim = fig.simulate(amount, draws, seed=k, spread=spread).total()
            for horizon, end in windows.items():
                n_m = sum(1 for m in ms if m.end <= end)
                inside = (closed_on > np.datetime64(t)) & (closed_on <= np.datetime64(end))
                act_deal = np.where(inside, won_amt, 0.0)
                fc_deal = exp[:, :n_m].sum(axis=1)
                lo, mid, hi = np.quantile(sim[:n_m].sum(axis=0), [0.1, 0.5, 0.9])
                rows.append(
                    {
                        "as_of": t,
                        "scored": t >= start,
                        "method": method,
                        "horizon": horizon,
                        "end": end,
                        "weeks_left": round((end - t).days / 7),
                        "forecast": float(fc_deal.sum()),
                        "p10": float(lo),
                        "p50": float(mid),
                        "p90": float(hi),
                        "actual": float(act_deal.sum()),
                    }
                )
                if horizon == "rest_of_quarter" or t < start:
                    continue
                for by, col in (("rep", "rep_id"), ("product", "product_id")):
                    g = pd.DataFrame({"group": deals[col], "f": fc_deal, "a": act_deal})
                    g = g.groupby("group", as_index=False)[["f", "a"]].sum()
                    group_rows.append(g.assign(method=method, horizon=horizon, by=by, as_of=t))
        report("Backtest", k + 1, len(ends))
    periods = pd.DataFrame(rows)
    result = _score(as_of, periods, group_rows, methods, gamma, tail)
    if lk is not None:
        result.notes.append(
            f"{likelihood.NAME}: the logistic likelihood-to-close model refitted at "
            f"{len(lk.fits)} month ends on deals decided by then; {lk.fallbacks} month ends "
            "had too few decided deals and used the learned stage probability"
        )
    return result


def _wape(f: np.ndarray, a: np.ndarray) -> float:
    s = float(np.sum(a))
    return float(np.sum(np.abs(f - a)) / s) if s > 0 else float("nan")


def _score(
    as_of: date,
    periods: pd.DataFrame,
    group_rows: list[pd.DataFrame],
    methods: tuple[str, ...],
    gamma: float = calibration.GAMMA,
    tail: bool = True,
) -> Backtest:
    empty = pd.DataFrame()
    if periods.empty or not periods["scored"].any():
        return Backtest(
            as_of, empty, periods, empty, empty, None, None, None,
            reason="the history is too short for a backtest (a year to learn from, then "
            "three months to check)",
        )  # fmt: skip
    table, scored, stopgaps = [], [], []
    for (method, horizon), g in periods[periods["horizon"].isin(list(HORIZONS))].groupby(
        ["method", "horizon"], sort=False
    ):
        # from the earlier periods; the unscored ones only until the scored have a record
        walked = calibration.walk_forward(g.assign(provisional=~g["scored"]), gamma, tail)
        stopgaps.append(walked[~walked["scored"]])
        g = walked[walked["scored"]]
        scored.append(g)
        f, a = g["forecast"].to_numpy(), g["actual"].to_numpy()
        s = float(a.sum())
        cover = ((g["actual"] >= g["lo"]) & (g["actual"] <= g["hi"])).mean()
        raw = ((g["actual"] >= g["p10"]) & (g["actual"] <= g["p90"])).mean()
        cal = calibration.as_of(walked, as_of, gamma, tail)
        table.append(
            {
                "method": method,
                "horizon": horizon,
                "wape": _wape(f, a),
                "bias": float((f - a).sum() / s) if s > 0 else float("nan"),
                "coverage_p10_p90": float(cover),
                "n_periods": len(g),
                "coverage_raw": float(raw),
                "calibration_scale": cal.scale,
                "calibration_n": cal.n,
                "calibration_level": cal.level,
            }
        )
    mt = pd.DataFrame(table)
    order = [*METHODS, likelihood.NAME]
    mt["method"] = pd.Categorical(mt["method"], [m for m in order if m in set(mt["method"])])
    mt = mt.sort_values(["horizon", "method"]).reset_index(drop=True)
    mt["method"] = mt["method"].astype(str)
    wl = []
    rq = periods[(periods["horizon"] == "rest_of_quarter") & periods["scored"]]
    for (method, weeks), g in rq.groupby(["method", "weeks_left"], sort=True):
        wl.append(
            {
                "method": method,
                "weeks_left": int(str(weeks)),
                "wape": _wape(g["forecast"].to_numpy(), g["actual"].to_numpy()),
                "n_periods": len(g),
            }
        )
    by_group = pd.concat(group_rows, ignore_index=True) if group_rows else empty
    if not by_group.empty:
        by_group = by_group.groupby(["method", "horizon", "by", "group"], as_index=False)[
            ["f", "a"]
        ].sum()
        pairs = pd.concat(group_rows, ignore_index=True)
        pairs["abs"] = (pairs["f"] - pairs["a"]).abs()
        agg = pairs.groupby(["method", "horizon", "by", "group"], as_index=False)[
            ["abs", "a"]
        ].sum()
        by_group = by_group.merge(agg[["method", "horizon", "by", "group", "abs"]])
        by_group["wape"] = by_group["abs"] / by_group["a"].where(by_group["a"] > 0)
        by_group = by_group.rename(columns={"f": "forecast", "a": "actual"}).drop(columns="abs")
    rest = periods[~periods["horizon"].isin(list(HORIZONS)) & periods["scored"]]
    periods = pd.concat([*scored, rest], ignore_index=True)
    rec, conf, runner = _recommend(periods[periods["horizon"] == "quarter"])
    stop = pd.concat(stopgaps, ignore_index=True) if stopgaps else empty
    return Backtest(
        as_of, mt, periods, by_group, pd.DataFrame(wl), rec, conf, runner, stopgaps=stop
    )


def _recommend(
    q: pd.DataFrame, resamples: int = 1000
) -> tuple[str | None, float | None, str | None]:
    """Lowest quarter WAPE, and the share of bootstrap resamples (of the periods) in which
    it is still the lowest."""
    if q.empty:
        return None, None, None
    f = q.pivot(index="as_of", columns="method", values="forecast")
    a = q.pivot(index="as_of", columns="method", values="actual").iloc[:, 0].to_numpy()
    err = (f.sub(a, axis=0)).abs().to_numpy()
    names = list(f.columns)
    wape = err.sum(axis=0) / max(a.sum(), 1e-9)
    best = int(np.argmin(wape))
    order = np.argsort(wape)
    runner = names[int(order[1])] if len(names) > 1 else None
    rng = np.random.default_rng(0)
    n = err.shape[0]
    idx = rng.integers(0, n, (resamples, n))
    boot = err[idx].sum(axis=1) / np.maximum(a[idx].sum(axis=1), 1e-9)[:, None]
    share = float((boot.argmin(axis=1) == best).mean())
    return str(names[best]), share, runner
