"""Global page filters (period, rep, team, region, product, channel) and what they mean as
queries.

A *period* is a preset resolved against the fiscal year (a setting) and the data's as-of date:

* ``fytd`` — fiscal year to date (the default), ``last_fy`` — the previous fiscal year;
* ``qtd`` / ``last_q`` — fiscal quarter to date / the previous fiscal quarter;
* ``12m`` — the last twelve whole months plus the current month to date;
* ``custom`` — ``start`` … ``end`` as given.

The as-of date is the last day with data (see :func:`data_today`) unless one is given: an
export of last month shows last month's state, not an empty "today".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from salespulse.semantic import timecal
from salespulse.semantic.kpi import Attr, Dim, Kpi
from salespulse.semantic.timecal import Grain
from salespulse.settings import Settings

#: The dimensions a page can be filtered on, in the order the filter bar shows them.
FILTER_DIMS = ("rep", "team", "region", "product", "channel")
#: Further breakdowns a drill-down link (a click on a chart bar) may pin, e.g. ``stage=…``.
DRILL_DIMS = tuple(d.value for d in Dim if d.value not in FILTER_DIMS)


class Period(StrEnum):
    fytd = "fytd"
    last_fy = "last_fy"
    qtd = "qtd"
    last_q = "last_q"
    last_12m = "12m"
    custom = "custom"


@dataclass(frozen=True)
class Filters:
    """What the user picked (all optional)."""

    period: Period = Period.fytd
    start: date | None = None
    end: date | None = None
    as_of: date | None = None
    rep: str | None = None
    team: str | None = None
    region: str | None = None
    product: str | None = None
    channel: str | None = None
    #: Breakdown values of a clicked chart bar (e.g. ``(("stage", "proposal"),)``): applied
    #: like the filters above by every KPI that has the dimension (the drill-down).
    drill: tuple[tuple[str, str], ...] = ()

    def dims(self) -> dict[str, str]:
        """The dimension filters that are set, e.g. ``{"team": "T1"}`` (drill values too)."""
        out = {d: v for d in FILTER_DIMS if (v := getattr(self, d))}
        out.update({d: v for d, v in self.drill if v})
        return out

    def key(self) -> tuple[Any, ...]:
        return (self.period.value, self.start, self.end, self.as_of, *self.dims().items())


@dataclass(frozen=True)
class Window:
    """A resolved period: ``start`` … ``end`` (inclusive local dates) and the as-of date."""

    start: date
    end: date
    as_of: date

    def to_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
        }


def resolve(filters: Filters, settings: Settings, data_day: date) -> Window:
    """The dates a filter selection stands for. ``data_day`` is the data's last day."""
    as_of = filters.as_of or data_day
    if filters.period is Period.custom or filters.start or filters.end:
        end = filters.end or as_of
        start = filters.start or timecal.period_start(end, Grain.year, settings)
        if start > end:
            start, end = end, start
        return Window(start, end, min(as_of, end) if filters.as_of is None else as_of)
    if filters.period in (Period.fytd, Period.last_fy):
        grain = Grain.year
    elif filters.period in (Period.qtd, Period.last_q):
        grain = Grain.quarter
    else:
        grain = Grain.month
    start = timecal.period_start(as_of, grain, settings)
    if filters.period is Period.last_12m:
        for _ in range(12):
            start = timecal.period_start(start - timedelta(days=1), Grain.month, settings)
        return Window(start, as_of, as_of)
    if filters.period in (Period.last_fy, Period.last_q):
        end = start - timedelta(days=1)
        return Window(timecal.period_start(end, grain, settings), end, end)
    return Window(start, as_of, as_of)


def where_for(kpi: Kpi, filters: Filters) -> tuple[dict[str, Any], list[str]]:
    """The filters ``kpi`` can apply, and the names of those it cannot (shown as a note)."""
    allowed = {d.value for d in kpi.dims}
    where: dict[str, Any] = {}
    ignored = []
    for dim, value in filters.dims().items():
        if Attr.parse(dim) is not None and kpi.takes_attributes:
            where[dim] = value.split(",") if "," in value else value  # checked by the runner
        elif dim in allowed:
            # a drill-down value may list several (``lead_status=new,attempting``)
            where[dim] = value.split(",") if dim not in FILTER_DIMS and "," in value else value
        else:
            ignored.append(dim)
    return where, ignored
