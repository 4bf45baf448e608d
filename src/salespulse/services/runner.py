"""Run the semantic layer's queries for one page: one context, one window, one filter set."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from salespulse.errors import UserError
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.kpi import Attr, Kind, Kpi
from salespulse.semantic.query import Query, context, fine_rows, jsonable, plan, run
from salespulse.semantic.rollup import Rollups, answerable, fine_queries
from salespulse.semantic.timecal import Grain
from salespulse.services.cache import checkpoint
from salespulse.services.filters import Filters, Window, where_for
from salespulse.services.models import Layer
from salespulse.services.names import Names, load_names
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

if TYPE_CHECKING:
    from salespulse.semantic.model import Context

log = logging.getLogger(__name__)


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A result frame as JSON-ready rows."""
    return [
        {str(k): jsonable(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")
    ]


class Runner:
    """Asks the semantic layer for the figures of one page."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        window: Window,
        filters: Filters,
        materialize: bool = False,
        rollups: Rollups | None = None,
        rollups_only: bool = False,
        names: Callable[[], Names] | None = None,
    ):
        """``rollups``: where the rows of fine queries are kept, to answer the page's
        KPIs from them where their measures roll up (:mod:`salespulse.semantic.rollup`);
        None: every query is computed in full. ``rollups_only``: compute only what goes
        into ``rollups`` (the other layers come back empty): to build them ahead of
        visitors, for every filter combination. ``names``: the display names by id, where
        they are kept (read from the database when None)."""
        self.store, self.settings, self.window, self.filters = store, settings, window, filters
        self.rollups = rollups
        self._names = names
        self.rollups_only = rollups_only and rollups is not None
        # a page asks many KPIs of one context: materializing its base relations pays off
        self.ctx = context(store, settings, window.as_of, materialize=materialize)

    def close(self) -> None:
        self.ctx.close()

    def names(self) -> Names:
        """The display name of every rep, team, account, stage and product, by id."""
        return self._names() if self._names is not None else load_names(self.store)

    def query(
        self,
        kpi_id: str,
        by: str = "",
        *,
        start: date | None = None,
        end: date | None = None,
        where: dict[str, Any] | None = None,
    ) -> tuple[Query, list[str]]:
        """The query for ``kpi_id`` on this page: flow KPIs over the window, snapshot KPIs
        as of the window's as-of date (or per period over the window when ``by`` has one)."""
        kpi = get_kpi(kpi_id)
        w, ignored = where_for(kpi, self.filters)
        w.update(where or {})
        periodic = any(b in Grain.__members__ for b in by.split(","))
        if kpi.kind is Kind.snapshot and not periodic:
            start = end = None
        elif kpi.point_only:
            start, end = None, None
        else:
            start = start or self.window.start
            end = end or self.window.end
        return Query.make(kpi.id, by=by, start=start, end=end, where=w, as_of=self.window.as_of), (
            ignored
        )

    def layer(
        self,
        kpi_id: str,
        by: str = "",
        *,
        style: str = "bar",
        start: date | None = None,
        end: date | None = None,
        where: dict[str, Any] | None = None,
    ) -> Layer:
        checkpoint()  # stop here when every client waiting for this page has gone
        kpi = get_kpi(kpi_id)
        q, ignored = self.query(kpi_id, by, start=start, end=end, where=where)
        if drop := _unlinked(kpi, q, self.ctx):
            q = replace(q, where=tuple((k, v) for k, v in q.where if k not in drop))
            ignored = [*ignored, *sorted(drop)]
        base = Layer(
            kpi=kpi.id,
            name_en=kpi.name_en,
            name_nl=kpi.name_nl,
            unit=str(kpi.unit),
            higher_is_better=kpi.higher_is_better,
            ignored_filters=ignored,
            query=query_params(q),
            style=style,  # type: ignore[arg-type]
        )
        if self.rollups_only and kpi.kind is not Kind.derived:
            p = plan(q)
            if not answerable(p, self.ctx):
                return base.model_copy(update={"available": False, "reason": "not computed"})
            assert self.rollups is not None
            for fine in fine_queries(q, p, self.ctx):  # what every filter combination asks
                self.rollups(fine, functools.partial(fine_rows, self.ctx, fine))
        try:
            result = run(self.store, q, ctx=self.ctx, rollups=self.rollups)
        except UserError as exc:
            return base.model_copy(update={"available": False, "reason": exc.message})
        except Exception as exc:  # a figure that fails must not take the page down
            log.exception("KPI %s failed", kpi.id)
            return base.model_copy(
                update={"available": False, "reason": f"could not be computed: {exc}"}
            )
        if not result.available:
            return base.model_copy(update={"available": False, "reason": result.reason})
        return base.model_copy(update={"rows": rows_of(result.frame)})


def _unlinked(kpi: Kpi, q: Query, ctx: Context) -> set[str]:
    """The custom-attribute filters of ``q`` on records ``kpi`` does not count (a lead
    attribute on a deal KPI): a page ignores them, as it does a filter on a missing dim."""
    attrs = {k: a for k, _ in q.where if (a := Attr.parse(k)) is not None}
    if not attrs or kpi.facts is None or not kpi.takes_attributes:
        return set()
    columns = kpi.facts(ctx).table.columns
    return {k for k, a in attrs.items() if a.key not in columns}


def query_params(q: Query) -> dict[str, Any]:
    """A query as KPI-explorer / API parameters."""
    out: dict[str, Any] = {"kpi": q.kpi}
    if q.by:
        out["by"] = ",".join(q.by)
    for name in ("start", "end", "as_of"):
        v = getattr(q, name)
        if v is not None:
            out[name] = v.isoformat()
    for k, values in q.where:
        out[k] = ",".join(values)
    return out
