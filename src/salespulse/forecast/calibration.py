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
  heavy tails included; no constant is fitted;
* the calibrated range is ``P50 ± q · s``, never below 0.

With fewer than :data:`MIN_PERIODS` earlier periods the range is the simulation's own.
The residuals are in units of the simulation's own spread, so a period with a thinner
pipeline still gets a relatively wider range. Overlapping quarter windows are not
independent, so the "at least 80 %" is a guide there, not a guarantee.
"""

from __future__ import annotations

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


def fit(z: FloatArray) -> Calibration:
    """The split-conformal half-width for the next standardized residual from earlier ones
    (NaNs ignored): the ``⌈0.8 (n + 1)⌉``-th smallest ``|z|``, as a scale."""
    z = np.asarray(z, float)
    z = np.sort(np.abs(z[np.isfinite(z)]))
    n = len(z)
    if n < MIN_PERIODS:
        return Calibration(n=n)
    k = int(np.ceil(COVERAGE * (n + 1))) - 1
    return Calibration(float(z[min(k, n - 1)]) / Z90, n)


def _usable(periods: pd.DataFrame, day: date) -> FloatArray:
    """The residuals a forecast as of ``day`` may learn from: periods over by then; those
    marked ``provisional`` only while fewer than MIN_PERIODS others are over."""
    z = residuals(periods)
    ends = np.array(periods["end"].tolist(), dtype="datetime64[D]")
    over = ends <= np.datetime64(day, "D")
    if "provisional" in periods:
        prov = periods["provisional"].to_numpy(bool)
        if np.isfinite(z[over & ~prov]).sum() >= MIN_PERIODS:
            over &= ~prov
    return z[over]


def walk_forward(periods: pd.DataFrame) -> pd.DataFrame:
    """Calibrated ``lo``/``hi`` (and the calibration's ``n``) for every backtest period.

    ``periods``: one method and horizon; columns ``as_of``, ``end`` (the last day of the
    window), ``p10``, ``p50``, ``p90``, ``actual`` and optionally ``provisional`` (a
    stopgap forecast, e.g. made with less history than the scored ones). The row of as-of
    ``T`` is calibrated from the rows whose ``end`` ≤ ``T`` only (see :func:`_usable`).
    """
    lo, hi, n = [], [], []
    for r in periods.itertuples(index=False):
        c = fit(_usable(periods, r.as_of))  # type: ignore[arg-type]
        a, b = c.apply(np.array([r.p10]), np.array([r.p50]), np.array([r.p90]))
        lo.append(float(a[0]))
        hi.append(float(b[0]))
        n.append(c.n)
    return periods.assign(lo=lo, hi=hi, calibration_n=n)


def as_of(periods: pd.DataFrame, day: date) -> Calibration:
    """The calibration a forecast as of ``day`` may use: from the periods over by then."""
    return fit(_usable(periods, day))


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
