"""Time arithmetic on int64 arrays of seconds since 1970 (UTC, naive), vectorized.

The demo company works in Europe/Amsterdam: Monday to Friday, 08:00-18:00 local time. The
daylight-saving rule (last Sunday of March to last Sunday of October, switching at 01:00 UTC)
is applied directly; working hours never fall near a switch, so local -> UTC is exact there.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt

Seconds = npt.NDArray[np.int64]

DAY = 86_400
HOUR = 3_600
WORK_START = 8 * HOUR
WORK_END = 18 * HOUR
BUSINESS_DAY = WORK_END - WORK_START
BUSINESS_WEEK = 5 * BUSINESS_DAY
_EPOCH = date(1970, 1, 1)
_FIRST_YEAR = 1970
_YEARS = range(_FIRST_YEAR, 2200)


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH).days


def _last_sunday(year: int, month: int) -> int:
    last = date(year, month, 31)
    return day_number(last) - (last.weekday() + 1) % 7


_DST_START = np.array([_last_sunday(y, 3) * DAY + HOUR for y in _YEARS], dtype=np.int64)
_DST_END = np.array([_last_sunday(y, 10) * DAY + HOUR for y in _YEARS], dtype=np.int64)


def year_of(t: Seconds) -> npt.NDArray[np.int64]:
    """Calendar year of each timestamp."""
    return t.view("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + _FIRST_YEAR


def utc_offset(t: Seconds) -> Seconds:
    """Amsterdam's offset from UTC (3600 or 7200 s) at each instant."""
    yi = year_of(t) - _FIRST_YEAR
    dst = (t >= _DST_START[yi]) & (t < _DST_END[yi])
    return np.where(dst, 2 * HOUR, HOUR).astype(np.int64)


def to_local(t: Seconds) -> Seconds:
    return t + utc_offset(t)


def to_utc(local: Seconds) -> Seconds:
    """Local Amsterdam wall-clock seconds to UTC (exact outside the night of a switch)."""
    return local - utc_offset(local)


def weekday(day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """0 = Monday ... 6 = Sunday, for day numbers since 1970-01-01 (a Thursday)."""
    return (day + 3) % 7


def snap_to_work(rng: np.random.Generator, t: Seconds, weekend_share: float = 0.02) -> Seconds:
    """Move each instant forward to working hours (never backward).

    Before 08:00 -> same day 08:00-10:00; after 18:00 -> next day 08:00-10:00; weekend ->
    Monday, except for ``weekend_share`` of them.
    """
    n = int(t.shape[0])
    local = to_local(t)
    day = local // DAY
    tod = local - day * DAY
    early = tod < WORK_START
    late = tod >= WORK_END
    fresh = WORK_START + (rng.random(n) * 2 * HOUR).astype(np.int64)
    day = day + late
    tod = np.where(early | late, fresh, tod)
    dow = weekday(day)
    weekend = (dow >= 5) & (rng.random(n) >= weekend_share)
    day = np.where(weekend, day + 7 - dow, day)
    return to_utc(day * DAY + tod)


def work_time_on(rng: np.random.Generator, day: npt.NDArray[np.int64]) -> Seconds:
    """A working-hours instant (UTC) on each local day; weekends move to Monday."""
    n = int(day.shape[0])
    dow = weekday(day)
    day = np.where(dow >= 5, day + 7 - dow, day)
    tod = WORK_START + (rng.beta(1.6, 1.8, n) * BUSINESS_DAY).astype(np.int64)
    return to_utc(day * DAY + tod)


def business_seconds(local: Seconds) -> Seconds:
    """Working seconds (Mon-Fri 08-18) elapsed since Monday 1969-12-29, for local times."""
    day = local // DAY
    tod = local - day * DAY
    dow = weekday(day)
    week = (day + 3) // 7
    within = np.clip(tod, WORK_START, WORK_END) - WORK_START
    return week * BUSINESS_WEEK + np.minimum(dow, 5) * BUSINESS_DAY + np.where(dow < 5, within, 0)


def from_business_seconds(b: Seconds) -> Seconds:
    """Inverse of :func:`business_seconds` (local wall-clock seconds)."""
    week = b // BUSINESS_WEEK
    r = b - week * BUSINESS_WEEK
    dow = r // BUSINESS_DAY
    s = r - dow * BUSINESS_DAY
    return (week * 7 - 3 + dow) * DAY + WORK_START + s


def add_business_hours(t: Seconds, hours: npt.NDArray[np.float64]) -> Seconds:
    """``t`` plus ``hours`` working hours (Amsterdam), as UTC."""
    b = business_seconds(to_local(t)) + (hours * HOUR).astype(np.int64)
    return to_utc(from_business_seconds(b))


def business_hours_between(a: Seconds, b: Seconds) -> npt.NDArray[np.float64]:
    """Working hours from ``a`` to ``b``."""
    return (business_seconds(to_local(b)) - business_seconds(to_local(a))) / HOUR


def quarter_index(t: Seconds, first_year: int) -> npt.NDArray[np.int64]:
    """Quarter number since January of ``first_year`` (0 = Q1 of that year)."""
    months = t.view("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return (months - (first_year - _FIRST_YEAR) * 12) // 3


def month_index(t: Seconds, first_year: int) -> npt.NDArray[np.int64]:
    """Month number since January of ``first_year``."""
    months = t.view("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return months - (first_year - _FIRST_YEAR) * 12
