"""The use-cases behind the web app and its API, with caching per data version.

:class:`Service` is what a route calls: ``page(name, filters)``, ``alerts(filters)``,
``kpi(...)``, ``records(...)``, ``explain(...)``, ``options()``. Each result is cached under
the current data version (see :mod:`salespulse.services.cache`); :meth:`Service.warm`
computes the default view of every page ahead of the first visitor.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any, TypeVar, cast

import ibis
import pandas as pd

from salespulse.semantic.catalogue import all_kpis, get_kpi, kpi_info
from salespulse.semantic.query import Query, data_day, explain, plan, records
from salespulse.services import access, pages, public
from salespulse.services.cache import PageCache
from salespulse.services.filters import FILTER_DIMS, Filters, Period, Window, resolve
from salespulse.services.models import (
    AlertData,
    AlertsPage,
    FilterOptions,
    KpiInfo,
    Layer,
    Option,
    PageData,
    Table,
)
from salespulse.services.names import Names, load_names
from salespulse.services.records import counted_first, readable
from salespulse.services.runner import Runner, query_params, rows_of
from salespulse.services.workers import Remote, Workers
from salespulse.settings import Settings
from salespulse.warehouse.attributes import attribute_breakdowns
from salespulse.warehouse.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between data-version checks of a serving app (to warm the pages after an import).
WATCH_SECONDS = 2.0

#: The page periods whose rollups are built after each import, the default first.
ROLLUP_PERIODS = (Period.fytd, Period.qtd, Period.last_12m, Period.last_q, Period.last_fy)

#: Values a service keeps per data version (pages, rendered responses, rollups).
CACHE_ENTRIES = 2048

#: Rows shown per alert / drill-down on a page; the CSV downloads hold up to RECORDS_MAX.
RECORDS_SHOWN = 50
RECORDS_MAX = 10_000


class Service:
    #: Whose view this is (see :mod:`salespulse.services.access`); None: everything (CLI).
    principal: access.Principal | None = None

    def __init__(self, store: Store, settings: Settings, workers: int = 0):
        """``workers``: compute in that many worker processes (0: on threads of this one);
        only for a database other processes can open (a file or a server)."""
        self.store = store
        self.settings = settings
        self.workers = Workers(store.location, settings, workers) if workers else None
        self.cache = PageCache(store, workers=workers or 2, max_entries=CACHE_ENTRIES)
        self._root = self

    def computed(self, key: Hashable, func: Callable[..., T], *args: Any) -> T:
        """The cached value of ``func(service, *args)`` under ``key``: computed in a worker
        process when the service has them, else on a cache thread. ``func`` is a module-level
        function of the unscoped service (access rules apply to what it returns)."""
        if self.workers is not None:
            return cast(T, self.cache.get(key, Remote(self.workers, func, args)))
        root = self._root
        return self.cache.get(key, lambda: func(root, *args))

    def close(self) -> None:
        """Stop computing (the cache, the worker processes)."""
        self.cache.close()
        if self.workers is not None:
            self.workers.close()

    def scoped(self, principal: access.Principal | None) -> Service:
        """The same service (and cache) as ``principal`` may see it."""
        view = copy.copy(self)
        view.principal = principal
        return view

    def reps(self) -> access.Reps:
        """rep_id → (name, team_id), for the access rule."""

        def load() -> access.Reps:
            df = self.store.table("reps").select("rep_id", "name", "team_id").execute()
            return {
                str(r): (str(n), None if t is None or pd.isna(t) else str(t))
                for r, n, t in zip(df["rep_id"], df["name"], df["team_id"], strict=True)
            }

        return self.cache.get("reps", load)

    # -- the data's own calendar ----------------------------------------------------------
    def data_day(self) -> date:
        """The last local day with recorded events (capped at today); today without data."""
        return self.cache.get("data_day", self._data_day)

    def _data_day(self) -> date:
        return data_day(self.store, self.settings)

    def window(self, filters: Filters) -> Window:
        return resolve(filters, self.settings, self.data_day())

    def runner(self, filters: Filters) -> Runner:
        return Runner(
            self.store,
            self.settings,
            self.window(filters),
            filters,
            rollups=self.rollup,
            names=self.names,
        )

    def page_runner(
        self, filters: Filters, *, rollups: bool = True, rollups_only: bool = False
    ) -> Runner:
        """The runner of a page: one materialized context for its queries, answered from
        this service's rollups (``rollups_only``: computing only those)."""
        return Runner(
            self.store,
            self.settings,
            self.window(filters),
            filters,
            materialize=True,
            rollups=self.rollup if rollups else None,
            rollups_only=rollups_only,
            names=self.names,
        )

    def rollup(self, key: Hashable, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The rows of a fine query (:mod:`salespulse.semantic.rollup`), kept per data
        version: every filter combination of a page is answered from them."""
        return self.cache.get(("rollup", key), compute)

    def _filters_dict(self, filters: Filters) -> dict[str, Any]:
        out: dict[str, Any] = {"period": filters.period.value, **filters.dims()}
        for name in ("start", "end", "as_of"):
            v = getattr(filters, name)
            if v is not None:
                out[name] = v.isoformat()
        return out

    # -- pages ----------------------------------------------------------------------------
    def page(self, name: str, filters: Filters) -> PageData:
        data = self.computed(("page", name, filters.key()), _page_data, name, filters)
        return access.page(self.principal, data, self.reps())

    def _page(self, name: str, filters: Filters) -> PageData:
        r = self.page_runner(filters)
        try:
            cards, figures, tables = pages.PAGES[name](r)
        finally:
            r.close()
        return PageData(
            page=name,
            window=r.window.to_dict(),
            filters=self._filters_dict(filters),
            data_version=self.cache.version(),
            currency=self.settings.reporting_currency,
            cards=cards,
            figures=figures,
            tables=tables,
        )

    def alerts(self, filters: Filters) -> AlertsPage:
        data = self.computed(("alerts", filters.key()), _alerts_data, filters)
        return access.alerts(self.principal, data, self.reps())

    def _alerts(self, filters: Filters) -> AlertsPage:
        from salespulse.analytics.alerts import list_alerts

        w = self.window(filters)
        out = []
        skip = ("in_numerator",)  # an alert lists only the records it counts
        found = list_alerts(
            self.store, self.settings, as_of=w.as_of, where=filters.dims(), rollups=self.rollup
        )
        for a in found:
            recs = a.records
            out.append(
                AlertData(
                    kind=a.kind,
                    kpi=a.kpi,
                    title_en=a.title_en,
                    title_nl=a.title_nl,
                    severity=a.severity,
                    count=a.count,
                    available=a.available,
                    reason=a.reason,
                    start=a.start.isoformat() if a.start else None,
                    end=a.end.isoformat() if a.end else None,
                    columns=[str(c) for c in recs.columns],
                    records=rows_of(recs),
                    table=readable(
                        f"alert-{a.kind}", recs.head(RECORDS_SHOWN), self.names(), None, skip
                    ),
                )
            )
        return AlertsPage(
            window=w.to_dict(),
            filters=self._filters_dict(filters),
            data_version=self.cache.version(),
            alerts=out,
        )

    # -- KPI explorer ---------------------------------------------------------------------
    def kpi(self, kpi_id: str, by: str, filters: Filters) -> Layer:
        """One KPI; an impossible breakdown is the user's error (raised, not an empty layer)."""
        kpi = get_kpi(kpi_id)
        plan(Query.make(kpi.id, by=by))
        return self.computed(("kpi", kpi.id, by, filters.key()), _kpi_data, kpi.id, by, filters)

    def query(self, kpi_id: str, by: str, filters: Filters) -> Query:
        q, _ = self.runner(filters).query(get_kpi(kpi_id).id, by)
        return q

    def records(self, kpi_id: str, filters: Filters, limit: int = RECORDS_MAX) -> pd.DataFrame:
        kpi = get_kpi(kpi_id)
        frame = self.computed(
            ("records", kpi.id, limit, filters.key()), _records_data, kpi.id, limit, filters
        )
        return access.records(self.principal, frame, self.reps())

    def names(self) -> Names:
        """Display names of reps, teams, accounts, stages and products by id."""
        return self.cache.get("names", lambda: load_names(self.store))

    def drill(self, kpi_id: str, filters: Filters, limit: int = RECORDS_SHOWN) -> Table:
        """The first ``limit`` records behind a KPI as a manager reads them (names, headers)."""
        kpi = get_kpi(kpi_id)
        frame = counted_first(self.records(kpi.id, filters)).head(limit)
        q = query_params(self.query(kpi.id, "", filters))
        return readable("records", frame, self.names(), csv=q)

    def explain(self, kpi_id: str, by: str, filters: Filters) -> str:
        kpi = get_kpi(kpi_id)
        return self.computed(("explain", kpi.id, by, filters.key()), _explain, kpi.id, by, filters)

    # -- lookups --------------------------------------------------------------------------
    def options(self) -> FilterOptions:
        return self.cache.get("options", self._options)

    def _options(self) -> FilterOptions:
        def pairs(table: ibis.Table, value: str, label: str) -> list[Option]:
            df = table.select(v=table[value], l=table[label]).distinct().order_by("l").execute()
            return [
                Option(value=str(v), label=str(lab))
                for v, lab in zip(df["v"], df["l"], strict=True)
                if v is not None and not pd.isna(v)
            ]

        teams = self.store.table("teams")
        reps, leads = self.store.table("reps"), self.store.table("leads")
        regions = (
            teams.select(region=teams.region)
            .union(reps.select(region=reps.region))
            .filter(ibis._.region.notnull())
        )
        return FilterOptions(
            rep=pairs(reps, "rep_id", "name"),
            team=pairs(teams, "team_id", "name"),
            region=pairs(regions, "region", "region"),
            product=pairs(self.store.table("products"), "product_id", "name"),
            channel=pairs(leads.filter(leads.channel.notnull()), "channel", "channel"),
            attributes=attribute_breakdowns(self.store),
            data_day=self.data_day().isoformat(),
            fiscal_year_start_month=self.settings.fiscal_year_start_month,
        )

    @staticmethod
    def kpis() -> list[KpiInfo]:
        return [KpiInfo(**kpi_info(k)) for k in all_kpis()]

    def keep_warm(self, stop: threading.Event, every: float = WATCH_SECONDS) -> None:
        """Warm the default views now, and again whenever the data version changes (an
        import, a sync): the version is checked every ``every`` seconds, so the first
        visitor after an import finds the pages computed. Runs until ``stop`` is set."""
        warmed: str | None = None
        while not stop.is_set():
            version: str | None
            try:
                version = self.cache.version()
            except Exception:  # the database is away (being replaced): try again later
                log.exception("checking the data version failed")
                version = warmed
            if version != warmed:
                self.warm()
                warmed = version
            stop.wait(every)

    def warm(self, names: tuple[str, ...] | None = None) -> None:
        """Compute the default view of every page (and the alerts) into the cache."""
        default = Filters()
        with self.cache.patient():
            self.options()
            for name in names or (*pages.PAGES, "alerts"):
                if self.cache.closed:  # the server stops
                    return
                try:
                    if name == "alerts":
                        self.alerts(default)
                    else:
                        self.page(name, default)
                except Exception:  # warming must never stop the server
                    log.exception("warming %s failed", name)
        self.build_rollups()

    def build_rollups(self, periods: tuple[Period, ...] = ROLLUP_PERIODS) -> None:
        """Build the rollups of every page for each of ``periods`` (every team, product,
        channel, … is then answered from them: :mod:`salespulse.semantic.rollup`). Each
        worker process keeps its own: each builds them, one period at a time, so requests
        are served in between."""
        with self.cache.patient():
            for period in periods:
                if self.cache.closed:
                    return
                try:
                    if self.workers is None:  # one computation of this cache, on its thread
                        build = functools.partial(_build_rollups, self, period)
                        self.cache.get(("rollups_built", period.value), build)
                    else:
                        self.workers.each(_build_rollups, (period,), lambda: self.cache.closed)
                except Exception:  # warming must never stop the server
                    log.exception("building the rollups of %s failed", period)


# -- what the service computes (module-level: a worker process can be asked by name) -------
def _page_data(service: Service, name: str, filters: Filters) -> PageData:
    return public.page(service._page(name, filters))


def _build_rollups(service: Service, period: Period) -> bool:
    """Compute the rollups every page asks for in ``period`` into the service's cache (one
    materialized context for all pages)."""
    from salespulse.analytics.alerts import list_alerts

    r = service.page_runner(Filters(period=period), rollups_only=True)
    try:
        for page in pages.PAGES.values():
            page(r)
        # the alerts' unfiltered counts and records (the same for every period)
        list_alerts(
            service.store, service.settings, r.window.as_of, ctx=r.ctx, rollups=service.rollup
        )
    finally:
        r.close()
    return True


def _alerts_data(service: Service, filters: Filters) -> AlertsPage:
    return public.alerts(service._alerts(filters))


def _kpi_data(service: Service, kpi_id: str, by: str, filters: Filters) -> Layer:
    return public.layer(pages.kpi_layer(service.runner(filters), kpi_id, by))


def _records_data(service: Service, kpi_id: str, limit: int, filters: Filters) -> pd.DataFrame:
    return records(service.store, service.query(kpi_id, "", filters), service.settings, limit)


def _explain(service: Service, kpi_id: str, by: str, filters: Filters) -> str:
    return explain(service.store, service.query(kpi_id, by, filters), service.settings)


__all__ = ["FILTER_DIMS", "Filters", "Service"]
