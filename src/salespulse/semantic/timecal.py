"""Time: local time from UTC, periods (incl. fiscal years), as-of instants, business hours.

The model stores UTC (``*_at``). A sales manager thinks in local days, months and business
hours, so every period and "as of" date is local to ``Settings.timezone``:

* :func:`to_local` turns a UTC timestamp expression into local wall-clock time, as a plain
  ``CASE`` over the zone's UTC-offset segments (computed here from the tz database), which
  every SQL engine runs, DST included.
* ``as_of`` dates mean the **end** of that local day: :func:`as_of_instant` gives the UTC
  instant (exclusive upper bound).
* Business hours are a small calendar table (one row per business day with its opening and
  closing instant in UTC and the business seconds before it), so business time between two
  instants is the difference of two cumulative sums, each found with an ASOF join
  (:func:`with_business_hours`; engines without ASOF joins sum the overlaps instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from salespulse.semantic.relations import without
from salespulse.settings import Settings

#: Years for which local time is computed exactly; outside them the nearest offset applies.
FIRST_YEAR, LAST_YEAR = 2000, 2045


class Grain(StrEnum):
    """Period grains. Quarters and years are fiscal: they start in the fiscal start month."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


@cache
def offset_segments(tz: str) -> tuple[tuple[datetime, timedelta], ...]:
    """``(utc_start, offset)`` for each stretch of constant UTC offset, in order."""
    zone = ZoneInfo(tz)

    def off(t: datetime) -> timedelta:
        return t.replace(tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)

    start = datetime(FIRST_YEAR, 1, 1)
    segments = [(start, off(start))]
    day = start
    end = datetime(LAST_YEAR + 1, 1, 1)
    while day < end:
        nxt = day + timedelta(days=1)
        if off(nxt) != segments[-1][1]:
            # the change happened within this day: find the hour (tz changes are on the hour
            # or half hour in every zone a sales team is likely to be in; search by minute)
            t = day
            while off(t) == segments[-1][1]:
                t += timedelta(minutes=15)
            segments.append((t, off(t)))
        day = nxt
    return tuple(segments)


@ibis.udf.scalar.builtin(name="from_utc_timestamp")
def _from_utc_timestamp(ts: dt.timestamp, tz: dt.string) -> dt.timestamp:
    """Spark's own UTC → local wall-clock conversion (the JVM's tz database)."""


#: Engines that convert to local time with a function of their own: the same offsets as the
#: CASE below, whose size (the timestamp expression repeated in every branch) makes Spark's
#: plans slow to analyze and too big for its code generator.
NATIVE_LOCAL_TIME = frozenset({"pyspark"})


def to_local(ts: ir.TimestampValue, tz: str, engine: str = "") -> ir.TimestampValue:
    """Local wall-clock time in ``tz`` for the naive-UTC timestamp expression ``ts``."""
    if engine in NATIVE_LOCAL_TIME:
        return _from_utc_timestamp(ts, tz)
    segments = offset_segments(tz)

    def pick(lo: int, hi: int) -> ir.TimestampValue:
        # segments[lo:hi] as a balanced binary search: ~7 comparisons per row, not ~90
        if hi - lo == 1:
            offset = segments[lo][1]
            return ts + _interval(offset) if offset else ts
        mid = (lo + hi) // 2
        return ibis.ifelse(ts < ibis.timestamp(segments[mid][0]), pick(lo, mid), pick(mid, hi))

    return pick(0, len(segments))


def _interval(delta: timedelta) -> ir.IntervalScalar:
    return ibis.interval(minutes=int(delta.total_seconds() // 60))


def local_to_utc(local: datetime, tz: str) -> datetime:
    """Naive local wall-clock time → naive UTC (ambiguous times take the first occurrence)."""
    aware = local.replace(tzinfo=ZoneInfo(tz))
    return aware.astimezone(UTC).replace(tzinfo=None)


def utc_to_local(utc: datetime, tz: str) -> datetime:
    """A naive UTC instant as naive local time in ``tz``."""
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def as_of_instant(as_of: date, tz: str) -> datetime:
    """The UTC instant at the end of local day ``as_of`` (start of the next local day)."""
    return local_to_utc(datetime.combine(as_of + timedelta(days=1), datetime.min.time()), tz)


def today_local(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def _fy_shift(settings: Settings) -> int:
    return settings.fiscal_year_start_month - 1


def truncate(
    local: ir.TimestampValue | ir.DateValue, grain: Grain, settings: Settings
) -> ir.DateValue:
    """Start date of the (fiscal) period containing the local time/date ``local``."""
    if grain in (Grain.quarter, Grain.year) and _fy_shift(settings):
        months = ibis.interval(months=_fy_shift(settings))
        unit = "Q" if grain is Grain.quarter else "Y"
        return ((local - months).truncate(unit) + months).cast("date")
    unit = {Grain.day: "D", Grain.week: "W", Grain.month: "M", Grain.quarter: "Q", Grain.year: "Y"}[
        grain
    ]
    return local.truncate(unit).cast("date")


def period_start(d: date, grain: Grain, settings: Settings) -> date:
    """Python twin of :func:`truncate` for one date."""
    if grain is Grain.day:
        return d
    if grain is Grain.week:
        return d - timedelta(days=d.weekday())
    if grain is Grain.month:
        return d.replace(day=1)
    shift = _fy_shift(settings)
    months = d.year * 12 + d.month - 1 - shift
    step = 3 if grain is Grain.quarter else 12
    months -= months % step
    months += shift
    return date(months // 12, months % 12 + 1, 1)


def next_period(start: date, grain: Grain) -> date:
    """Start of the period after the one starting at ``start``."""
    if grain is Grain.day:
        return start + timedelta(days=1)
    if grain is Grain.week:
        return start + timedelta(days=7)
    months = (
        start.year * 12
        + start.month
        - 1
        + {Grain.month: 1, Grain.quarter: 3, Grain.year: 12}[grain]
    )
    return date(months // 12, months % 12 + 1, 1)


def next_period_expr(start: ir.DateValue, grain: Grain) -> ir.DateValue:
    """Engine twin of :func:`next_period` (exclusive end of the period at ``start``)."""
    if grain in (Grain.day, Grain.week):
        return (start + ibis.interval(days=1 if grain is Grain.day else 7)).cast("date")
    months = {Grain.month: 1, Grain.quarter: 3, Grain.year: 12}[grain]
    return (start + ibis.interval(months=months)).cast("date")


def periods(start: date, end: date, grain: Grain, settings: Settings) -> list[date]:
    """Start dates of the periods that overlap [start, end] (both inclusive)."""
    out = []
    p = period_start(start, grain, settings)
    while p <= end:
        out.append(p)
        p = next_period(p, grain)
    return out


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days between two dates, with their opening hours as UTC instants."""

    #: columns: day (date), open_at, close_at (naive UTC), cum_before (business seconds
    #: from the calendar's first opening to this day's opening)
    frame: pd.DataFrame

    def table(self) -> ir.Table:
        return ibis.memtable(self.frame, columns=None)


def business_calendar(start: date, end: date, settings: Settings) -> BusinessCalendar:
    """Business days in [start, end] with opening/closing instants in UTC (DST-correct)."""
    days = pd.date_range(start, end, freq="D")
    days = days[days.weekday.isin(settings.business_days)]
    zone = settings.timezone
    opens = [
        local_to_utc(d.to_pydatetime() + timedelta(hours=settings.business_day_start_hour), zone)
        for d in days
    ]
    closes = [
        local_to_utc(d.to_pydatetime() + timedelta(hours=settings.business_day_end_hour), zone)
        for d in days
    ]
    frame = pd.DataFrame(
        {"day": days.date, "open_at": pd.to_datetime(opens), "close_at": pd.to_datetime(closes)}
    )
    seconds = (frame.close_at - frame.open_at).dt.total_seconds().astype("float64")
    frame["cum_before"] = seconds.cumsum() - seconds  # business seconds before open_at
    return BusinessCalendar(frame)


def business_hours_between(
    pairs: ir.Table, start_col: str, end_col: str, key: str, calendar: ir.Table
) -> ir.Table:
    """Business hours between ``start_col`` and ``end_col`` for each ``key`` in ``pairs``.

    Both columns are naive UTC. Returns ``key`` and ``business_hours`` (0 when the span lies
    outside business hours; null when ``end_col`` is null).
    """
    p = pairs.select(key, s=pairs[start_col], e=pairs[end_col])
    cal = calendar
    joined = p.left_join(cal, [p.e.notnull(), cal.close_at > p.s, cal.open_at < p.e])
    lo = ibis.greatest(joined.s, joined.open_at)
    hi = ibis.least(joined.e, joined.close_at)
    secs = (hi.epoch_seconds() - lo.epoch_seconds()).cast("float64")
    overlap = ibis.cases((joined.open_at.isnull(), 0.0), else_=secs)
    agg = joined.group_by([key, "e"]).aggregate(seconds=overlap.sum())
    return agg.select(
        key,
        business_hours=ibis.cases(
            (agg.e.isnull(), ibis.null("float64")), else_=agg.seconds / 3600.0
        ),
    )


#: Engines whose Ibis backend compiles ASOF joins (Spark's does not).
ASOF_ENGINES = frozenset({"duckdb", "postgres"})


def with_business_hours(
    t: ir.Table,
    start_col: str,
    end_col: str,
    key: str,
    calendar: ir.Table,
    engine: str,
    name: str = "business_hours",
) -> ir.Table:
    """``t`` with column ``name``: business hours between ``start_col`` and ``end_col``
    (naive UTC; 0 outside business hours; null when ``end_col`` is null).

    Business seconds up to an instant are ``cum_before`` of the last opening at or before
    it plus the part of that day up to the instant (capped at its closing): one ASOF join
    per end, no join of every span with every day. On engines without ASOF joins, the
    same figure as a sum of overlaps (:func:`business_hours_between`, joined back on the
    unique column ``key``)."""
    if engine not in ASOF_ENGINES:
        bh = business_hours_between(t, start_col, end_col, key, calendar)
        bh = bh.rename(**{"_bh_k": key, name: "business_hours"})
        return without(t.inner_join(bh, t[key] == bh._bh_k), "_bh_k")

    def upto(tab: ir.Table, col: str, tag: str) -> tuple[ir.Table, ir.FloatingValue]:
        cal = calendar.select(
            **{f"_o{tag}": calendar.open_at, f"_c{tag}": calendar.close_at},
            **{f"_b{tag}": calendar.cum_before},
        )
        j = tab.asof_join(cal, on=tab[col] >= cal[f"_o{tag}"])
        ts, o, c = j[col], j[f"_o{tag}"], j[f"_c{tag}"]
        part = (ibis.least(ts, c).epoch_seconds() - o.epoch_seconds()).cast("float64")
        secs = ibis.cases((o.isnull(), 0.0), else_=j[f"_b{tag}"] + part)
        return j, secs

    j, s_secs = upto(t, start_col, "s")
    j = j.mutate(_bh_s=s_secs)
    j, e_secs = upto(j, end_col, "e")
    hours = ibis.cases(
        (j[end_col].isnull(), ibis.null("float64")), else_=(e_secs - j._bh_s) / 3600.0
    )
    j = j.mutate(**{name: hours})
    return without(j, "_os", "_cs", "_bs", "_oe", "_ce", "_be", "_bh_s")
