"""Walk-forward calibration of the Monte Carlo range, learned from earlier periods only.

The simulation draws each open deal's outcome and close month independently from the
method's probabilities and timing. What it cannot know is how wrong those probabilities
and timings are *together*: a quarter in which many deals slip at once (a trade fair
moved, budgets frozen), a method that is biased for this data. Its P10–P90 range is
therefore too narrow (or, for a method whose errors cancel, too wide). Rather than a
spread constant chosen by eye, the range is calibrated on the method's own track record:

* for every backtest period ``j`` already over, the *standardized residual*
  ``z_j = (actual_j − P50_j) / s_j`` with ``s_j = (P90_j − P10_j) / (2 · 1.2816)`` — the
  raw range's own scale (for a normal distribution P10–P90 is ± 1.2816 σ);
* from the residuals ``z_1 … z_n`` of the periods whose window ended **on or before** the
  as-of date of the forecast being calibrated (never the period itself, never one still
  running), the *split-conformal* half-width ``q`` = the ``⌈0.8 (n + 1)⌉``-th smallest
  ``|z_j|``: if the periods are exchangeable, the next residual falls within ``± q`` with
  probability at least 80 % (and at most 80 % + 1/(n + 1)), whatever their distribution —
  heavy tails included; no constant is fitted (this is the nominal level; it is adapted
  below);
* the calibrated range is ``P50 ± q · s``, never below 0.

The periods are **not** exchangeable, though: the forecast improves as its history grows
(the first ones, made from a few months of history, miss by far more), so a record of
past residuals overstates later misses, and a quantile of 4–8 residuals is their maximum.
So the quantile's level is not fixed at 80 % but **adapted online** to the range's own
hits and misses (*adaptive conformal inference*, Gibbs & Candès 2021): with
``α = 0.2`` and ``err_j`` = 1 if period ``j``'s actual fell outside *its* calibrated
range,

    α_{j+1} = clip(α_j + γ (α − err_j), 0, 1),   level = 1 − α_t,

``q`` = the ``⌈level · (n + 1)⌉``-th smallest ``|z|`` (at least the first; beyond the n-th
extrapolated, below).
A period's hit or miss is fed back only once it is over (delayed feedback: a quarter's
three months after its as-of date), in the order the windows end, and only from periods
whose range was calibrated. Every hit raises α by ``γ α`` (a narrower range), every miss
lowers it by ``γ (1 − α)``, so the level settles where the share of misses is ``α``,
whether or not the residuals are exchangeable: without the clip, and with an infinite
range for α < 0 and an empty one for α > 1, α stays within [−γ, 1 + γ] and the miss rate
over T periods is within (1 + γ) / (γ T) of α (Gibbs & Candès' bound, for any sequence).
The range here is never infinite or empty (``q`` is at least the smallest past ``|z|`` and
at most a half-step of the extrapolated tail beyond the largest), so the clip stops the
level from winding up where it no longer moves the range; the bound is then a guide, not
a guarantee.
``γ`` (:data:`GAMMA`) was chosen on data sets that are not reported as the measurement
(docs/benchmarks.md, "Range calibration under drift"); ``γ = 0`` is split conformal.

**Beyond the record.** Where the adapted level asks for more than the record holds
(``⌈level (n + 1)⌉ > n``: after a run of misses, when the errors grow), the ``n`` past
``|z|`` have no such quantile: the largest is at the conformal level ``n / (n + 1)``, and
the textbook range would be infinite. Rather than stopping at the largest past miss, the
tail is **extrapolated** as an exponential (a generalized Pareto tail of shape 0, the
peaks-over-threshold default where a shape cannot be estimated from a few dozen points):
with ``u`` the ``⌊n/2⌋``-th smallest ``|z|`` and ``b`` the mean excess of the larger half
over it (the exponential's maximum-likelihood scale; memoryless, so the same beyond the
largest),

    q = |z|_(n) + b · ln( (1 / (n + 1)) / max(1 − level, TAIL_FLOOR / (n + 1)) ),

continuous with the conformal quantile at ``level = n / (n + 1)`` and at most
``b · ln(1 / TAIL_FLOOR)`` beyond the largest ``|z|`` (at ``level`` = 1, where α is
clipped). So a record that understates growing errors can still widen, step by step,
with each further miss; below ``n / (n + 1)`` nothing changes. ``tail=False`` stops at the
largest, as before.

With fewer than :data:`MIN_PERIODS` earlier periods the range is the simulation's own.
The residuals are in units of the simulation's own spread, so a period with a thinner
pipeline still gets a relatively wider range. Overlapping quarter windows are not
independent, so the long-run 80 % is a guide there, not a guarantee.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd

from salespulse.warehouse.store import Store

FloatArray = npt.NDArray[np.float64]

#: The range's nominal coverage (P10–P90).
COVERAGE = 0.8
#: Fewer earlier periods than this (the least for which the conformal quantile exists at
#: 80 %): the simulation's own range is used.
MIN_PERIODS = 4
#: P90 of the standard normal: P10–P90 is ± Z90 σ.
Z90 = NormalDist().inv_cdf(0.9)
#: Step of the adaptive level (adaptive conformal inference): chosen from the grid
#: 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5 as the one with the least mean |coverage − 80 %|
#: over tuning data sets (demo seeds 11–13, large seeds 11–12; learned_timing and
#: stage_age, month and quarter), none of which is reported as the measurement.
GAMMA = 0.2
#: Beyond the record the extrapolated tail goes down to the tail probability
#: TAIL_FLOOR / (n + 1) at most (at level 1): half the record's resolution, one half-step
#: beyond its largest ``|z|``. Fixed in advance, not tuned (0.25 gives the same tuning
#: result, docs/benchmarks.md "Range calibration: early quarters and the tail").
TAIL_FLOOR = 0.5


@dataclass(frozen=True)
class Calibration:
    """How much wider than the simulation's own the range is (P10–P90 of the calibrated
    range = P50 ± Z90 · ``scale`` · σ_sim), learned from ``n`` periods; 1 = as simulated."""

    scale: float = 1.0
    n: int = 0
    #: Its track record, where known: the share of the backtest's scored periods whose
    #: actual fell inside the calibrated range, over ``coverage_n`` periods.
    coverage: float | None = None
    coverage_n: int | None = None
    #: The conformal quantile's level it was learned at (adapted to the record's hits and
    #: misses, see the module docstring), where known.
    level: float | None = None

    @property
    def calibrated(self) -> bool:
        """Learned from enough periods to widen the range (else it is as simulated)."""
        return self.n >= MIN_PERIODS

    def apply(
        self, p10: FloatArray, p50: FloatArray, p90: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Calibrated (P10, P90) around the simulated P50."""
        p10, p50, p90 = (np.asarray(x, float) for x in (p10, p50, p90))
        half = self.scale * np.maximum(p90 - p10, 0.0) / 2
        return np.maximum(p50 - half, 0.0), p50 + half


def residuals(periods: pd.DataFrame) -> FloatArray:
    """Standardized residuals of rows with ``p10``, ``p50``, ``p90`` and ``actual`` (NaN
    where the simulated range has no width)."""
    p10, p50, p90, actual = (periods[c].to_numpy(float) for c in ("p10", "p50", "p90", "actual"))
    s = (p90 - p10) / (2 * Z90)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (actual - p50) / s, np.nan)


def fit(z: FloatArray, level: float = COVERAGE, tail: bool = True) -> Calibration:
    """The conformal half-width for the next standardized residual from earlier ones (NaNs
    ignored): the ``⌈level (n + 1)⌉``-th smallest ``|z|`` (at least the smallest), as a
    scale. At the nominal level 0.8 this is split conformal. Where that is beyond the
    largest (``⌈level (n + 1)⌉ > n``), :func:`tail_quantile` (``tail=False``: the
    largest)."""
    z = np.asarray(z, float)
    z = np.sort(np.abs(z[np.isfinite(z)]))
    n = len(z)
    if n < MIN_PERIODS:
        return Calibration(n=n, level=level)
    k = int(np.ceil(round(level * (n + 1), 9))) - 1
    inside = k < n or not tail
    q = float(z[min(max(k, 0), n - 1)]) if inside else tail_quantile(z, level)
    return Calibration(q / Z90, n, level=level)


def tail_quantile(z: FloatArray, level: float) -> float:
    """The ``level`` quantile of ``|z|`` beyond the largest of the ``n`` (sorted, n ≥ 2):
    an exponential tail anchored at the largest (conformal level n / (n + 1)), its scale
    the mean excess of the larger half over the ``⌊n/2⌋``-th smallest, down to the tail
    probability :data:`TAIL_FLOOR` / (n + 1)."""
    z = np.sort(np.abs(np.asarray(z, float)))
    n = len(z)
    m = n // 2
    b = float(np.mean(z[m:] - z[m - 1]))
    p = max(1.0 - level, TAIL_FLOOR / (n + 1))
    return float(z[-1] + b * np.log(1.0 / ((n + 1) * p)))


def adapted_level(errs: Iterable[float], gamma: float = GAMMA) -> float:
    """The quantile level after the hits (0) and misses (1) ``errs``, in the order they
    became known: α ← clip(α + γ (α − err), 0, 1) from α = 1 − COVERAGE; level = 1 − α."""
    alpha = a = 1 - COVERAGE
    for e in errs:
        a = min(max(a + gamma * (alpha - float(e)), 0.0), 1.0)
    return 1 - a


def _usable(periods: pd.DataFrame, day: date) -> FloatArray:
    """The residuals a forecast as of ``day`` may learn from: periods over by then; those
    marked ``provisional`` only while fewer than MIN_PERIODS others are over."""
    w = _Walk(periods)
    return w.z[w.usable(np.datetime64(day, "D"))]


class _Walk:
    """One method and horizon's periods as arrays, for the walk forward."""

    def __init__(self, periods: pd.DataFrame) -> None:
        self.z = residuals(periods)
        self.ends = np.array(periods["end"].tolist(), dtype="datetime64[D]")
        self.as_ofs = np.array(periods["as_of"].tolist(), dtype="datetime64[D]")
        self.actual = periods["actual"].to_numpy(float)
        m = len(periods)
        self.prov = (
            periods["provisional"].to_numpy(bool) if "provisional" in periods else np.zeros(m, bool)
        )

    def usable(self, day: np.datetime64) -> npt.NDArray[np.bool_]:
        """The rows whose residual a forecast as of ``day`` may learn from."""
        over = self.ends <= day
        if np.isfinite(self.z[over & ~self.prov]).sum() >= MIN_PERIODS:
            over &= ~self.prov
        return over

    def level(
        self,
        lo: FloatArray,
        hi: FloatArray,
        n: npt.NDArray[np.int64],
        day: np.datetime64,
        gamma: float,
    ) -> float:
        """The adapted level as of ``day``, fed back from the rows whose range was
        calibrated (``n`` ≥ MIN_PERIODS, their range ``lo``–``hi``) and whose window ended
        by then, in the order the windows ended."""
        fed = np.flatnonzero((n >= MIN_PERIODS) & (self.ends <= day))
        fed = fed[np.lexsort((self.as_ofs[fed], self.ends[fed]))]
        a = self.actual[fed]
        errs = ~((a >= lo[fed]) & (a <= hi[fed]))
        return adapted_level(errs.astype(float), gamma)


def walk_forward(periods: pd.DataFrame, gamma: float = GAMMA, tail: bool = True) -> pd.DataFrame:
    """Calibrated ``lo``/``hi`` (and the calibration's ``n`` and quantile level) for every
    backtest period.

    ``periods``: one method and horizon; columns ``as_of``, ``end`` (the last day of the
    window), ``p10``, ``p50``, ``p90``, ``actual`` and optionally ``provisional`` (a
    stopgap forecast, e.g. made with less history than the scored ones). The row of as-of
    ``T`` is calibrated from the rows whose ``end`` ≤ ``T`` only: their residuals (see
    :func:`_usable`) and their calibrated ranges' hits and misses (:func:`adapted_level`);
    ``tail``: extrapolate beyond the record's largest ``|z|`` (:func:`fit`).
    """
    derived = ["lo", "hi", "calibration_n", "calibration_level"]
    periods = periods.drop(columns=derived, errors="ignore")
    w = _Walk(periods)
    p10, p50, p90 = (periods[c].to_numpy(float) for c in ("p10", "p50", "p90"))
    m = len(periods)
    lo, hi = np.full(m, np.nan), np.full(m, np.nan)
    n, level = np.zeros(m, "int64"), np.full(m, COVERAGE)
    for i in np.argsort(w.as_ofs, kind="stable"):
        # the rows not walked yet have n = 0 and are not over by this as-of anyway
        day = w.as_ofs[i]
        level[i] = w.level(lo, hi, n, day, gamma)
        c = fit(w.z[w.usable(day)], level[i], tail)
        a, b = c.apply(p10[i : i + 1], p50[i : i + 1], p90[i : i + 1])
        lo[i], hi[i], n[i] = float(a[0]), float(b[0]), c.n
    return periods.assign(lo=lo, hi=hi, calibration_n=n, calibration_level=level)


def as_of(periods: pd.DataFrame, day: date, gamma: float = GAMMA, tail: bool = True) -> Calibration:
    """The calibration a forecast as of ``day`` may use: from the periods over by then
    (their residuals and, walked forward, their calibrated ranges' hits and misses)."""
    p = walk_forward(periods, gamma, tail)
    w, d = _Walk(p), np.datetime64(day, "D")
    lo, hi = p["lo"].to_numpy(float), p["hi"].to_numpy(float)
    level = w.level(lo, hi, p["calibration_n"].to_numpy("int64"), d, gamma)
    return fit(w.z[w.usable(d)], level, tail)


# -- stored calibrations (live forecasts) ---------------------------------------------


def save(store: Store, methods: pd.DataFrame, day: date) -> int:
    """Store the backtest's calibration per method and horizon as of ``day`` (replacing
    one of the same date); rows written. ``methods``: the backtest's method table."""
    from salespulse.warehouse.engine import insert_arrow
    from salespulse.warehouse.schema import SYSTEM_TABLES
    from salespulse.warehouse.store import conform, utcnow

    if methods.empty:
        return 0
    table = next(t for t in SYSTEM_TABLES if t.name == "forecast_calibrations")
    rows = pd.DataFrame(
        {
            "method": methods["method"].astype(str),
            "horizon": methods["horizon"].astype(str),
            "as_of": day,
            "scale": methods["calibration_scale"].astype(float),
            "n_periods": methods["calibration_n"].astype("int64"),
            "computed_at": utcnow(),
            "coverage": methods["coverage_p10_p90"].astype(float),
            "coverage_n": methods["n_periods"].astype("int64"),
        }
    )
    with store.transaction():
        store.con.raw_sql(
            f"DELETE FROM forecast_calibrations WHERE as_of = DATE '{day.isoformat()}'"
        )
        insert_arrow(store.con, "forecast_calibrations", conform(table, rows))
    return len(rows)


def stored(store: Store, day: date) -> dict[tuple[str, str], tuple[Calibration, date]]:
    """(method, horizon) → the latest stored calibration dated on or before ``day`` (a
    later one would look ahead), with its date."""
    if not _has_table(store):
        return {}
    t = store.con.table("forecast_calibrations")
    rows = t.filter(t.as_of <= day).execute()
    out: dict[tuple[str, str], tuple[Calibration, date]] = {}
    for r in rows.sort_values("as_of").itertuples(index=False):
        d = pd.Timestamp(r.as_of).date()
        cov, cov_n = getattr(r, "coverage", None), getattr(r, "coverage_n", None)
        c = Calibration(
            float(r.scale),
            int(r.n_periods),
            float(cov) if cov is not None and pd.notna(cov) else None,
            int(cov_n) if cov_n is not None and pd.notna(cov_n) else None,
        )
        out[(str(r.method), str(r.horizon))] = (c, d)
    return out


def _has_table(store: Store) -> bool:
    try:
        return "forecast_calibrations" in store.con.list_tables()
    except Exception:  # pragma: no cover - a backend without listing
        return False
