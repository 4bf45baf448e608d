"""The Python API for analysts: the same KPIs as the CLI, pages and report, as DataFrames.

>>> import salespulse
>>> sp = salespulse.open("demo.duckdb")                        # doctest: +SKIP
>>> sp.kpi("won_revenue", by="rep,quarter", start="2025-01-01")  # doctest: +SKIP

Every method takes the same arguments as ``salespulse kpi show``: ``by`` (breakdowns and one
period grain), ``start``/``end`` (inclusive local dates), ``where`` (``{"team": "T1"}``) and
``as_of`` (known at the end of that day; default today).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from salespulse.analytics.alerts import Alert, list_alerts
from salespulse.analytics.priorities import priority_list
from salespulse.semantic.catalogue import all_kpis, kpi_info
from salespulse.semantic.query import KpiResult, Query, explain, parse_date, records, run
from salespulse.settings import Settings, load_settings
from salespulse.warehouse.store import Store, connect

DateLike = date | str | None


class SalesPulse:
    """An open salespulse database. Create it with :func:`salespulse.open`."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or load_settings(store=store)

    def kpis(self) -> pd.DataFrame:
        """The catalogue: one row per KPI (as ``kpi list --format json`` and ``/api/kpis``)."""
        return pd.DataFrame([kpi_info(k) for k in all_kpis()])

    def query(
        self,
        kpi: str,
        by: str | list[str] = "",
        start: DateLike = None,
        end: DateLike = None,
        where: dict[str, Any] | None = None,
        as_of: DateLike = None,
    ) -> Query:
        return Query.make(kpi, by=by, start=start, end=end, where=where, as_of=as_of)

    def result(self, kpi: str, **kw: Any) -> KpiResult:
        """The full result (rows, unit, as-of, whether the data supports the KPI)."""
        return run(self.store, self.query(kpi, **kw), self.settings)

    def kpi(self, kpi: str, **kw: Any) -> pd.DataFrame:
        """A KPI's rows: breakdown columns, value (and numerator/denominator for ratios)."""
        return self.result(kpi, **kw).frame

    def records(self, kpi: str, limit: int | None = 1000, **kw: Any) -> pd.DataFrame:
        """The records behind a figure (drill-down)."""
        return records(self.store, self.query(kpi, **kw), self.settings, limit=limit)

    def explain(self, kpi: str, **kw: Any) -> str:
        """The definition and the SQL run."""
        return explain(self.store, self.query(kpi, **kw), self.settings)

    def alerts(self, as_of: DateLike = None) -> list[Alert]:
        """What needs attention now, each alert with its records."""
        return list_alerts(self.store, self.settings, as_of=parse_date(as_of, "as-of"))

    def priorities(self, rep_id: str, as_of: DateLike = None) -> pd.DataFrame:
        """A rep's priority list: deals closable first, then leads by score."""
        return priority_list(
            self.store, rep_id, as_of=parse_date(as_of, "as-of"), settings=self.settings
        )

    def forecast(
        self,
        method: str | None = None,
        as_of: DateLike = None,
        months: int | None = None,
        draws: int = 10_000,
    ) -> Any:
        """The forecast (``salespulse forecast show``): a ``Forecast`` with ``summary``
        (expected, P10/P50/P90 per method, period and group) and ``deals``."""
        from salespulse.forecast.run import METHODS, compute
        from salespulse.semantic.query import context

        methods = (method,) if method else METHODS
        ctx = context(self.store, self.settings, parse_date(as_of, "as-of"))
        return compute(ctx, methods=methods, months=months, draws=draws)

    def forecast_backtest(self, as_of: DateLike = None, save: bool = False) -> Any:
        """The walk-forward backtest (``salespulse forecast backtest [--save]``). ``save``:
        store each method's range calibration (and its coverage) as of the backtest's date,
        so later forecasts' ranges use it. A database opened read-only (a DuckDB file, the
        default) is reopened as a writer for that write and then read-only again."""
        from salespulse.forecast import backtest, calibration
        from salespulse.semantic.query import context

        ctx = context(self.store, self.settings, parse_date(as_of, "as-of"))
        result = backtest.run(self.store, self.settings, ctx.as_of)
        if save and not result.methods.empty:
            if not self.store.read_only:
                calibration.save(self.store, result.methods, result.as_of)
                return result
            location = self.store.location
            self.store.close()  # DuckDB allows one way of opening a file per process
            try:
                writer = connect(location, create=False, read_only=False)
                try:
                    calibration.save(writer, result.methods, result.as_of)
                finally:
                    writer.close()
            finally:
                self.store = connect(location, create=False)
        return result

    def pipeline_changes(
        self, since: DateLike, as_of: DateLike = None, period_end: DateLike = None
    ) -> Any:
        """Pipeline changes since a date (``salespulse forecast changes``): ``waterfall()``
        and ``slip`` per rep. ``period_end`` defaults to the end of the as-of quarter."""
        from datetime import timedelta

        from salespulse.forecast.changes import compute as changes
        from salespulse.semantic import timecal
        from salespulse.semantic.query import context
        from salespulse.semantic.timecal import Grain

        end_ctx = context(self.store, self.settings, parse_date(as_of, "as-of"))
        start = parse_date(since, "since") or end_ctx.as_of
        q = timecal.period_start(end_ctx.as_of, Grain.quarter, self.settings)
        pend = parse_date(period_end, "period end") or (
            timecal.next_period(q, Grain.quarter) - timedelta(days=1)
        )
        return changes(context(self.store, self.settings, start), end_ctx, pend)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> SalesPulse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(db: str | Path | None = None, settings: Settings | None = None) -> SalesPulse:
    """Open a salespulse database (default: the workspace database)."""
    return SalesPulse(connect(db, create=False), settings)
