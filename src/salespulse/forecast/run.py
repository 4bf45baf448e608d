"""One forecast as of a date: per deal and per period × group, for each method.

Periods are calendar months after the as-of date (the first one is the rest of the as-of
month) and the fiscal quarters they make up; the revenue is what the deals **open at the
as-of date** will win in each period (deals created later are not forecast). ``expected``
is the mean (Σ amount × P(won in the period)); ``p10``/``p50``/``p90`` come from the Monte
Carlo simulation.

Methods (win probability × timing):

==================  ===============================  ======================================
method              win probability                  timing
==================  ===============================  ======================================
stage_default       configured per stage             the deal's expected close date
stage_learned       learned per stage, smoothed      the deal's expected close date
learned_timing      learned per stage, smoothed      time-to-close model (stage, product)
stage_age           learned, given days in stage     time-to-close model (stage, product)
==================  ===============================  ======================================

With the close-date timings an expected close date on or before the as-of date (overdue)
or missing is explicit: ``stage_default`` places it in the first period (as the
``forecast`` KPI places it on the as-of date), ``stage_learned`` spreads it by the
time-to-close model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from salespulse.forecast import calibration, montecarlo, probability, timing
from salespulse.forecast import inputs as inputs_mod
from salespulse.forecast.inputs import Inputs
from salespulse.semantic import timecal
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain

FloatArray = npt.NDArray[np.float64]

METHODS = ("stage_default", "stage_learned", "learned_timing", "stage_age")
#: Methods that need stage history (all but the configured one).
LEARNED = frozenset(METHODS[1:])
KINDS = ("rep", "team", "product")

NO_HISTORY = (
    "there is no stage history, so win rates and time to close cannot be learned and no "
    "range can be tested against what happened; only the configured stage probabilities "
    "placed at the expected close dates are shown, without a range"
)


@dataclass(frozen=True)
class Period:
    grain: str  # month | quarter
    start: date
    end: date  # inclusive
    months: tuple[int, ...]  # indexes into the month periods

    @property
    def label(self) -> str:
        if self.grain == "month":
            return self.start.strftime("%Y-%m")
        return f"{self.start:%Y-%m}..{self.end:%Y-%m}"


def month_periods(as_of: date, months: int) -> list[Period]:
    """``months`` calendar months from the day after ``as_of`` (the first may be partial)."""
    out = []
    start = as_of + timedelta(days=1)
    for i in range(months):
        nxt = (pd.Timestamp(start).to_period("M") + 1).start_time.date()
        out.append(Period("month", start, nxt - timedelta(days=1), (i,)))
        start = nxt
    return out


def quarter_periods(ms: list[Period], ctx: Context) -> list[Period]:
    """The fiscal quarters the months make up (a quarter only when its last month is in)."""
    groups: dict[date, list[int]] = {}
    for i, m in enumerate(ms):
        groups.setdefault(timecal.period_start(m.start, Grain.quarter, ctx.settings), []).append(i)
    out = []
    for q, idx in groups.items():
        end = timecal.next_period(q, Grain.quarter) - timedelta(days=1)
        if ms[idx[-1]].end == end:
            out.append(Period("quarter", ms[idx[0]].start, end, tuple(idx)))
    return out


def months_to_next_quarter_end(ctx: Context) -> int:
    """Months from the as-of date to the end of the next fiscal quarter."""
    q = timecal.period_start(ctx.as_of + timedelta(days=1), Grain.quarter, ctx.settings)
    end = timecal.next_period(timecal.next_period(q, Grain.quarter), Grain.quarter)
    first = pd.Timestamp(ctx.as_of + timedelta(days=1)).to_period("M")
    return int((pd.Timestamp(end).to_period("M") - first).n)


@dataclass
class Forecast:
    """The result: per-deal figures and per-period × group ranges, per method."""

    as_of: date
    methods: tuple[str, ...]
    periods: list[Period]
    deals: pd.DataFrame  # one row per (method, deal)
    summary: pd.DataFrame  # one row per (method, period, by, group)
    available: bool = True
    reason: str | None = None
    currency: str = "EUR"
    draws: int = 0
    notes: list[str] = field(default_factory=list)
    #: method → horizon (month, quarter) → the stored calibration its range used:
    #: ``scale``, ``n_periods`` (past periods learned from), ``as_of`` (the backtest's
    #: date), ``coverage`` and ``coverage_n`` (its track record); empty = not calibrated.
    calibration: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from salespulse.semantic.query import jsonable

        return {
            "as_of": self.as_of.isoformat(),
            "available": self.available,
            "reason": self.reason,
            "currency": self.currency,
            "methods": list(self.methods),
            "draws": self.draws,
            "notes": self.notes,
            "calibration": self.calibration,
            "rows": [
                {k: jsonable(v) for k, v in r.items()}
                for r in self.summary.to_dict(orient="records")
            ],
        }


def _place_by_close_date(
    deals: pd.DataFrame, ms: list[Period], as_of: date
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Shares (0/1) of each deal's expected close date per month; and which are overdue
    (on or before as-of) or missing."""
    close = pd.to_datetime(deals["expected_close_on"])
    overdue = close.isna() | (close <= pd.Timestamp(as_of))
    shares = np.zeros((len(deals), len(ms)))
    for i, m in enumerate(ms):
        inside = (close >= pd.Timestamp(m.start)) & (close <= pd.Timestamp(m.end))
        shares[:, i] = inside.to_numpy()
    return shares, overdue.to_numpy()


@dataclass
class DealFigures:
    """One method's figures for the open deals: win probability ``p`` and ``shares`` (deals
    × months, P(won in the month | won)); with parameter uncertainty also ``K`` draws of
    them from their posterior: ``p_draws`` (deals × K) and ``share_draws`` (deals × months
    × K), None where the method has none (the configured probabilities are not learned)."""

    p: FloatArray
    shares: FloatArray
    p_draws: npt.NDArray[np.float32] | None = None
    share_draws: npt.NDArray[np.float32] | None = None

    def simulate(
        self, amount: FloatArray, draws: int, seed: int, spread: float = 0.0, **kw: Any
    ) -> montecarlo.Simulation:
        """The Monte Carlo of :func:`montecarlo.simulate`, over the parameter draws when
        there are any (then ``spread`` is not used)."""
        p: montecarlo.Floats = self.p
        sh: montecarlo.Floats = self.shares
        if self.p_draws is not None:
            p = self.p_draws
        if self.share_draws is not None:
            sh = self.share_draws
        return montecarlo.simulate(amount, p, sh, draws=draws, seed=seed, spread=spread, **kw)


def per_deal(
    ctx: Context,
    inp: Inputs,
    methods: tuple[str, ...],
    ms: list[Period],
    uncertainty: int = 0,
    seed: int = 0,
) -> dict[str, DealFigures]:
    """method → :class:`DealFigures` for each open deal; with ``uncertainty`` = K > 0 also
    K posterior draws of the learned methods' parameters (seeded by ``seed``)."""
    deals = inp.open
    edges = np.array([(m.end - ctx.as_of).days for m in ms], float)
    by_date, overdue = _place_by_close_date(deals, ms, ctx.as_of)
    out: dict[str, DealFigures] = {}
    if "stage_default" in methods:
        sh = by_date.copy()
        if len(ms):
            sh[overdue, 0] = 1.0
        out["stage_default"] = DealFigures(probability.stage_default(deals), sh)
    if not (set(methods) & LEARNED) or not inp.has_history:
        return out
    model = timing.fit(inp.history)
    t_shares, p_timing, evidence, found = timing.bucket_shares(model, deals, edges)
    p_learned = probability.stage_learned(inp.history, deals, model)
    first = np.zeros_like(by_date)
    if len(ms):
        first[:, 0] = 1.0
    # a deal without a timing curve keeps its close date (or the first period if overdue)
    fallback = np.where(overdue[:, None], first, by_date)
    model_shares = np.where(found[:, None], t_shares, fallback)
    p_draws = share_draws = p_age_draws = None
    if uncertainty > 0:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
        p_draws = probability.learned_draws(inp.history, deals, uncertainty, rng, model)
        sd, p_age_draws = timing.share_draws(model, deals, edges, uncertainty, rng)
        share_draws = np.where(found[:, None, None], sd, fallback[:, :, None].astype(np.float32))
    if "stage_learned" in methods:
        out["stage_learned"] = DealFigures(
            p_learned, np.where(overdue[:, None], model_shares, by_date), p_draws
        )
    if "learned_timing" in methods:
        out["learned_timing"] = DealFigures(p_learned, model_shares, p_draws, share_draws)
    if "stage_age" in methods:
        p_age = probability.stage_age(p_learned, p_timing, evidence, found)
        age_draws = None
        if p_draws is not None and p_age_draws is not None:
            age_draws = probability.stage_age(
                p_draws, p_age_draws, evidence[:, None], found[:, None]
            ).astype(np.float32)
        out["stage_age"] = DealFigures(p_age, model_shares, age_draws, share_draws)
    return out


def _codes(values: pd.Series) -> tuple[npt.NDArray[np.int64], list[str]]:
    cat = pd.Categorical(values.astype(str))
    return cat.codes.astype(np.int64), [str(c) for c in cat.categories]


def compute(
    ctx: Context,
    inp: Inputs | None = None,
    methods: tuple[str, ...] = METHODS,
    months: int | None = None,
    by: tuple[str, ...] = KINDS,
    draws: int = montecarlo.DRAWS,
    seed: int = 0,
) -> Forecast:
    """The forecast as of ``ctx.as_of`` for ``methods`` over ``months`` months (default:
    to the end of the next fiscal quarter), with ranges per ``by`` (rep, team, product) and
    in total."""
    inp = inp or inputs_mod.load(ctx)
    ms = month_periods(ctx.as_of, months or months_to_next_quarter_end(ctx))
    periods = ms + quarter_periods(ms, ctx)
    notes: list[str] = []
    reason = None
    with_range = inp.has_history
    if not inp.has_history:
        methods = tuple(m for m in methods if m not in LEARNED) or ("stage_default",)
        reason = NO_HISTORY
    deals = inp.open
    amount = deals["amount_eur"].to_numpy(float, na_value=np.nan)
    without_amount = int(np.isnan(amount).sum())
    if without_amount:
        notes.append(f"{without_amount} open deals have no amount and add nothing")
    rep_code, reps = _codes(deals["rep_id"])
    prod_code, prods = _codes(deals["product_id"])
    team_of_rep = (
        deals.assign(_r=rep_code).groupby("_r")["team_id"].first().reindex(range(len(reps)))
    )
    team_code, teams = _codes(team_of_rep.fillna("unknown"))
    uncertainty = montecarlo.PARAM_DRAWS if with_range and draws > 0 else 0
    results = per_deal(ctx, inp, methods, ms, uncertainty, seed)
    cals = calibration.stored(ctx.store, ctx.as_of) if with_range and draws > 0 else {}
    deal_rows, summary_rows = [], []
    uncalibrated: list[str] = []
    used: dict[str, dict[str, dict[str, Any]]] = {}
    for method, fig in results.items():
        p, shares = fig.p, fig.shares
        exp_month = np.nan_to_num(amount)[:, None] * p[:, None] * shares  # deals × months
        d = deals[["deal_id", "rep_id", "team_id", "product_id", "product_line", "stage_id",
                   "amount_eur", "expected_close_on", "age_days"]].copy()  # fmt: skip
        d.insert(0, "method", method)
        d["p_win"] = p
        d["p_in_horizon"] = p * shares.sum(axis=1)
        d["expected_in_horizon"] = exp_month.sum(axis=1)
        d["expected_first_month"] = exp_month[:, 0] if len(ms) else 0.0
        d["overdue"] = _place_by_close_date(deals, ms, ctx.as_of)[1]
        deal_rows.append(d)
        sim = None
        cal = {g: cals[(method, g)] for g in ("month", "quarter") if (method, g) in cals}
        if with_range and draws > 0:
            if cal:
                notes.append(_calibration_note(method, cal))
                used[method] = {g: _calibration_info(c, d) for g, (c, d) in cal.items()}
            else:
                uncalibrated.append(method)
            sim = fig.simulate(
                amount,
                draws,
                seed,
                # a calibrated range widens the draws it was learned on; without one a
                # method without parameter draws gets the shared factor
                spread=0.0 if cal else montecarlo.SPREAD,
                groups={"rep": (rep_code, len(reps)), "product": (prod_code, len(prods))},
            )
        kinds: dict[str, tuple[list[str], FloatArray, FloatArray | None]] = {}
        rep_exp = _sum_by(exp_month, rep_code, len(reps))
        kinds["total"] = (["all"], rep_exp.sum(axis=0, keepdims=True), None)
        if sim is not None:
            rep_sim = sim.revenue["rep"]
            kinds["total"] = (["all"], kinds["total"][1], rep_sim.sum(axis=0, keepdims=True))
        if "rep" in by:
            kinds["rep"] = (reps, rep_exp, sim.revenue["rep"] if sim else None)
        if "team" in by:
            team_sim = None
            # teams × reps membership: one matrix product instead of np.add.at
            member = np.zeros((len(teams), len(reps)))
            member[team_code, np.arange(len(reps))] = 1.0
            if sim is not None:
                rs = sim.revenue["rep"]
                team_sim = (member @ rs.reshape(len(reps), -1)).reshape(len(teams), *rs.shape[1:])
            kinds["team"] = (teams, member @ rep_exp, team_sim)
        if "product" in by:
            prod_sim = sim.revenue["product"] if sim else None
            kinds["product"] = (prods, _sum_by(exp_month, prod_code, len(prods)), prod_sim)
        for kind, (names, exp, simk) in kinds.items():
            for per in periods:
                cols = list(per.months)
                e = exp[:, cols].sum(axis=1)
                qs = (
                    montecarlo.quantiles(simk[:, cols, :].sum(axis=1)) if simk is not None else None
                )
                if qs is not None and per.grain in cal:
                    qs[0], qs[2] = cal[per.grain][0].apply(qs[0], qs[1], qs[2])
                for g, name in enumerate(names):
                    summary_rows.append(
                        {
                            "method": method,
                            "grain": per.grain,
                            "period_start": per.start,
                            "period_end": per.end,
                            "by": kind,
                            "group": name,
                            "expected": float(e[g]),
                            "p10": float(qs[0, g]) if qs is not None else None,
                            "p50": float(qs[1, g]) if qs is not None else None,
                            "p90": float(qs[2, g]) if qs is not None else None,
                        }
                    )
    if uncalibrated:
        notes.append(
            f"the range of {', '.join(uncalibrated)} is the simulation's own, not calibrated "
            "on a backtest (run `salespulse forecast backtest --save`)"
        )
    return Forecast(
        ctx.as_of,
        tuple(results),
        periods,
        pd.concat(deal_rows, ignore_index=True) if deal_rows else pd.DataFrame(),
        pd.DataFrame(summary_rows),
        available=True,
        reason=reason,
        currency=ctx.settings.reporting_currency,
        draws=draws if with_range else 0,
        notes=notes,
        calibration=used,
    )


def _calibration_note(method: str, cal: dict[str, tuple[calibration.Calibration, date]]) -> str:
    parts = [f"{g} ×{c.scale:.2f}" for g, (c, _) in cal.items()]
    day = max(d for _, d in cal.values())
    return f"{method}: range calibrated on the backtest as of {day} ({', '.join(parts)})"


def _calibration_info(c: calibration.Calibration, day: date) -> dict[str, Any]:
    return {"scale": c.scale, "n_periods": c.n, "calibrated": c.calibrated,
            "as_of": day.isoformat(), "coverage": c.coverage,
            "coverage_n": c.coverage_n}  # fmt: skip


def _sum_by(x: FloatArray, code: npt.NDArray[np.int64], n: int) -> FloatArray:
    """Rows of ``x`` (deals × periods) summed per group code (0..n-1)."""
    out = np.zeros((n, x.shape[1]))
    for j in range(x.shape[1]):
        out[:, j] = np.bincount(code, weights=x[:, j], minlength=n)[:n]
    return out
