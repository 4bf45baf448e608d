"""Asking for a KPI: period grain × breakdowns × filters × as-of, compiled to one query.

:func:`run` is the only way the product computes a KPI. It returns a :class:`KpiResult`
whose rows carry the breakdown columns, ``value`` and — for ratios — ``numerator`` and
``denominator`` (``value`` is null when the denominator is 0). KPIs with targets get
``target`` and ``attainment`` (= value / target). :func:`records` lists the records behind
any figure (drill-down); :func:`explain` shows the definition and the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from salespulse import serialize
from salespulse.errors import UserError
from salespulse.semantic import rollup, sqlcache, targets, timecal
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.kpi import (
    DIM_LABELS,
    Attr,
    Breakdown,
    Derived,
    Dim,
    Facts,
    Kind,
    Kpi,
    Unit,
)
from salespulse.semantic.measures import ratio_value, resolve
from salespulse.semantic.model import Context
from salespulse.semantic.relations import without
from salespulse.semantic.targets import target_rows, with_targets
from salespulse.semantic.timecal import Grain
from salespulse.serialize import jsonable  # noqa: F401  (re-exported for callers)
from salespulse.settings import Settings, load_settings
from salespulse.warehouse.store import Store

#: Snapshot history without an explicit range shows this many periods up to as_of.
DEFAULT_SNAPSHOT_PERIODS = 12


@dataclass(frozen=True)
class Query:
    """What to compute. Dates are local calendar dates; ``start`` and ``end`` inclusive."""

    kpi: str
    by: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    as_of: date | None = None

    @classmethod
    def make(
        cls,
        kpi: str,
        by: str | list[str] | tuple[str, ...] = (),
        start: date | str | None = None,
        end: date | str | None = None,
        where: dict[str, Any] | None = None,
        as_of: date | str | None = None,
    ) -> Query:
        """Convenience constructor accepting strings (``by="rep,quarter"``, ISO dates)."""
        if isinstance(by, str):
            by = tuple(b.strip() for b in by.split(",") if b.strip())
        w = tuple(
            (k, tuple(str(x) for x in (v if isinstance(v, list | tuple | set) else [v])))
            for k, v in sorted((where or {}).items())
        )
        return cls(
            kpi,
            tuple(by),
            parse_date(start, "start"),
            parse_date(end, "end"),
            w,
            parse_date(as_of, "as-of"),
        )


def parse_date(value: date | str | None, what: str = "the") -> date | None:
    """An ISO date string (or date) as a date; a UserError for anything else."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{what} date {value!r} is not a date", hint="use YYYY-MM-DD") from None


@dataclass
class KpiResult:
    """A computed KPI: rows plus what they mean."""

    kpi: Kpi
    query: Query
    as_of: date
    frame: pd.DataFrame
    available: bool = True
    reason: str | None = None
    #: The reporting currency (the unit of money KPIs).
    currency: str = "EUR"

    @property
    def unit(self) -> str:
        """The unit label: the reporting currency for money KPIs."""
        return self.currency if self.kpi.unit is Unit.money else str(self.kpi.unit)

    def to_dict(self) -> dict[str, Any]:
        rows = serialize.rows(self.frame)
        return {
            "kpi": self.kpi.id,
            "name": self.kpi.name_en,
            "name_nl": self.kpi.name_nl,
            "unit": self.unit,
            "as_of": self.as_of.isoformat(),
            "available": self.available,
            "reason": self.reason,
            "rows": rows,
        }


@dataclass(frozen=True)
class Plan:
    """A query resolved against the catalogue (validated grain, breakdowns and filters)."""

    kpi: Kpi
    grain: Grain | None
    dims: tuple[Breakdown, ...]
    where: tuple[tuple[Breakdown, tuple[str, ...]], ...]
    #: Aggregate to the measure's parts (counts, sums, a quantile's values) instead of its
    #: value (a rollup).
    parts: bool = False


def plan(query: Query) -> Plan:
    kpi = get_kpi(query.kpi)
    grain: Grain | None = None
    dims: list[Breakdown] = []
    allowed = ", ".join([*(g.value for g in Grain), *(d.value for d in kpi.dims)])
    allowed += ", or a custom attribute (deal.<name>, lead.<name>, account.<name>)"
    for b in query.by:
        name = {"fiscal_year": "year"}.get(b, b)
        if name in Grain.__members__:
            if grain is not None:
                raise UserError(f"more than one period grain in --by ({grain}, {name})")
            grain = Grain(name)
        elif name in Dim.__members__ and Dim(name) in kpi.dims:
            dims.append(Dim(name))
        elif (attr := Attr.parse(b)) is not None and kpi.takes_attributes:
            dims.append(attr)
        elif (attr := Attr.parse(b)) is not None:
            raise UserError(
                f"{kpi.id} cannot be broken down by a custom attribute ({b})",
                hint="it is computed from other KPIs or per period; custom attributes work "
                "with KPIs that count records (e.g. its inputs)",
            )
        else:
            raise UserError(
                f"{kpi.id} cannot be broken down by {b!r}", hint=f"choose from: {allowed}"
            )
    if grain and kpi.point_only:
        raise UserError(
            f"{kpi.id} is computed as of one date, not per period",
            hint="drop the period from --by and use --as-of",
        )
    where: list[tuple[Breakdown, tuple[str, ...]]] = []
    for k, values in query.where:
        attr = Attr.parse(k) if kpi.takes_attributes else None
        if attr is not None:
            where.append((attr, values))
            continue
        if k not in Dim.__members__ or Dim(k) not in kpi.dims:
            raise UserError(
                f"{kpi.id} cannot be filtered on {k!r}",
                hint=f"filter on: {', '.join(d.value for d in kpi.dims)}, or a custom "
                "attribute (deal.<name>, lead.<name>, account.<name>)",
            )
        where.append((Dim(k), values))
    if query.start and query.end and query.start > query.end:
        raise UserError(f"start {query.start} is after end {query.end}")
    return Plan(kpi, grain, tuple(dims), tuple(where))


def context(
    store: Store,
    settings: Settings | None = None,
    as_of: date | None = None,
    materialize: bool = False,
    breakdowns: frozenset[Dim] | None = None,
) -> Context:
    """A context for one or more queries; with ``materialize``, the big as-of relations are
    computed once into temporary tables (call ``close()`` when done). ``breakdowns``: the
    only breakdowns and filters its queries use (:attr:`Context.breakdowns`)."""
    s = settings or load_settings(store=store)
    day = as_of or data_day(store, s)
    return Context(store, s, day, materialize=materialize, breakdowns=breakdowns)


def _asked(p: Plan) -> frozenset[Dim]:
    """The breakdowns and filters of plan ``p`` (custom attributes are joined by key) and
    what its KPI, or a derived KPI's inputs, read besides (:attr:`Kpi.uses`)."""
    asked = {d for d in (*p.dims, *(w for w, _ in p.where)) if isinstance(d, Dim)}
    todo, seen = [p.kpi], set()
    while todo:
        k = todo.pop()
        seen.add(k.id)
        asked.update(k.uses)
        if isinstance(k.measure, Derived):
            todo += [get_kpi(i.kpi) for i in k.measure.inputs.values() if i.kpi not in seen]
    return frozenset(asked)


#: Event columns whose latest value tells how far the data goes.
EVENT_COLUMNS = {
    "activities": "occurred_at",
    "deal_stage_history": "entered_at",
    "leads": "created_at",
    "deals": "created_at",
}


def data_day(store: Store, settings: Settings) -> date:
    """The default as-of date of every surface (CLI, API, pages, alerts, report): the last
    local day with a recorded event, capped at today; today when there is no data. An
    export of last month then shows last month's state, not an empty "today"."""
    today = timecal.today_local(settings.timezone)
    latest: list[datetime] = []
    for name, col in EVENT_COLUMNS.items():
        v = store.table(name)[col].max().execute()
        if v is not None and not pd.isna(v):
            latest.append(pd.Timestamp(v).to_pydatetime())
    if not latest:
        return today
    local = timecal.utc_to_local(max(latest), settings.timezone)
    return min(local.date(), today)


def _attributes(ctx: Context, p: Plan, t: ir.Table) -> ir.Table:
    """``t`` with a column per custom attribute the plan breaks down or filters by."""
    attrs = dict.fromkeys(d for d in (*p.dims, *(w for w, _ in p.where)) if isinstance(d, Attr))
    for a in attrs:
        if a.key not in t.columns:
            raise UserError(
                f"{p.kpi.id} cannot be broken down by {a.value}: its records are not "
                f"linked to {a.table}",
                hint="use an attribute of the records this KPI counts (see salespulse info)",
            )
        values = attribute_table(ctx, a)
        t = without(t.left_join(values, t[a.key].cast("string") == values._attr_id), "_attr_id")
    return t


def attribute_table(ctx: Context, a: Attr) -> ir.Table:
    """``(_attr_id, <a.column>)``: each record's value of custom attribute ``a``; a UserError
    naming the stored ones when ``a`` was never imported."""
    c = ctx.t("custom_attributes")
    names = ctx.distinct_values(f"attributes.{a.table}", c.filter(c.record_table == a.table).name)
    if a.name not in names:
        known = ", ".join(f"{a.record}.{n}" for n in sorted(names)) or "none were imported"
        raise UserError(f"no custom attribute {a.value!r} in this data", hint=f"known: {known}")
    c = c.filter((c.record_table == a.table) & (c.name == ibis.literal(a.name)))
    return c.select(_attr_id=c.record_id, **{a.column: c.value})


def _filtered(ctx: Context, p: Plan) -> tuple[Facts, ir.Table]:
    assert p.kpi.facts is not None, f"{p.kpi.id}: a derived KPI has no facts of its own"
    facts = p.kpi.facts(ctx)
    t = _attributes(ctx, p, facts.table)
    for dim, values in p.where:
        t = t.filter(t[dim.column].cast("string").isin(list(values)))
    return facts, t


def _time_column(ctx: Context, t: ir.Table, col: str) -> ir.Value:
    """Local time (for UTC timestamps) or the date itself (for date columns)."""
    c = t[col]
    return ctx.local(c) if c.type().is_timestamp() else c


def _near_dates(t: ir.Table, col: str, q: Query) -> ir.Table:
    """``t`` without the records whose UTC time ``col`` lies more than a day outside the
    query's dates: constants the database applies while it scans, so that local time is
    computed only for records that may be within them (a UTC offset is under a day, so
    no record within the dates is dropped; the exact local filter follows)."""
    c = t[col]
    if not c.type().is_timestamp():
        return t
    if q.start:
        t = t.filter(
            c >= ibis.timestamp(datetime.combine(q.start - timedelta(days=1), datetime.min.time()))
        )
    if q.end:
        t = t.filter(
            c < ibis.timestamp(datetime.combine(q.end + timedelta(days=2), datetime.min.time()))
        )
    return t


def _flow(ctx: Context, p: Plan, q: Query) -> tuple[Facts, ir.Table, ir.Table]:
    facts, t = _filtered(ctx, p)
    assert facts.at is not None, f"{p.kpi.id}: flow facts need an event time"
    keys: dict[str, ir.Value] = {}
    if q.start or q.end or p.grain:  # local time only when dates ask for it: its CASE
        t = _near_dates(t, facts.at, q)  # takes DuckDB ~10 ms to plan, and time per row
        t = t.mutate(_local=_time_column(ctx, t, facts.at))
        is_ts = t._local.type().is_timestamp()
        if q.start:
            start = datetime.combine(q.start, datetime.min.time())
            t = t.filter(t._local >= (ibis.timestamp(start) if is_ts else q.start))
        if q.end:
            nxt = q.end + timedelta(days=1)
            end = datetime.combine(nxt, datetime.min.time())
            t = t.filter(t._local < (ibis.timestamp(end) if is_ts else nxt))
    if p.grain:
        keys["period"] = timecal.truncate(t._local, p.grain, ctx.settings)
    for d in p.dims:
        keys[d.value] = t[d.column]
    return facts, t, _aggregate(t, keys, p)


def _snapshot_points(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    s, tz = ctx.settings, ctx.settings.timezone
    if not p.grain:
        return pd.DataFrame({"as_of_at": [pd.Timestamp(ctx.as_of_at)], "as_of_on": [ctx.as_of]})
    end = min(q.end or ctx.as_of, ctx.as_of)
    if q.start:
        start = q.start
    else:
        start = timecal.period_start(end, p.grain, s)
        for _ in range(DEFAULT_SNAPSHOT_PERIODS - 1):
            start = timecal.period_start(start - timedelta(days=1), p.grain, s)
    starts = timecal.periods(start, end, p.grain, s)
    points = [
        min(
            timecal.local_to_utc(
                datetime.combine(timecal.next_period(ps, p.grain), datetime.min.time()), tz
            ),
            ctx.as_of_at,
        )
        for ps in starts
    ]
    days = [min(timecal.next_period(ps, p.grain) - timedelta(days=1), ctx.as_of) for ps in starts]
    return pd.DataFrame({"period": starts, "as_of_at": pd.to_datetime(points), "as_of_on": days})


def _snapshot(ctx: Context, p: Plan, q: Query) -> tuple[Facts, ir.Table, ir.Table]:
    facts, t = _filtered(ctx, p)
    assert facts.valid_from and facts.valid_to, f"{p.kpi.id}: snapshot facts need validity"
    frame = _snapshot_points(ctx, p, q)
    # only records valid at some point can count: said with constants first, so that the
    # database drops the others before any join of the facts (the points are a join)
    first, last = frame.as_of_at.min().to_pydatetime(), frame.as_of_at.max().to_pydatetime()
    t = t.filter(
        t[facts.valid_from] < ibis.timestamp(last),
        t[facts.valid_to].isnull() | (t[facts.valid_to] >= ibis.timestamp(first)),
    )
    j = t.cross_join(ibis.memtable(frame))
    vf, vt = j[facts.valid_from], j[facts.valid_to]
    j = j.filter(vf < j.as_of_at, vt.isnull() | (vt >= j.as_of_at))
    keys: dict[str, ir.Value] = {}
    if p.grain:
        keys["period"] = j.period
    for d in p.dims:
        keys[d.value] = j[d.column]
    return facts, j, _aggregate(j, keys, p)


def period_table(ctx: Context, p: Plan, q: Query, default_grain: Grain) -> ir.Table:
    """The query's periods: ``period`` (start date), ``p_start_on``/``p_end_on`` (local
    dates, end exclusive) and ``p_start_at``/``p_end_at`` (UTC instants, exclusive, capped
    at as-of). Without a grain, one period spans the query's dates (default: the
    ``default_grain`` period containing as-of)."""
    s, tz = ctx.settings, ctx.settings.timezone
    end = min(q.end or ctx.as_of, ctx.as_of)
    if p.grain:
        start = q.start or timecal.period_start(end, p.grain, s)
        starts = timecal.periods(start, end, p.grain, s)
        bounds = [(ps, timecal.next_period(ps, p.grain)) for ps in starts]
    else:
        start = q.start or timecal.period_start(end, default_grain, s)
        bounds = [(start, end + timedelta(days=1))]

    def utc(d: date) -> datetime:
        return min(timecal.local_to_utc(datetime.combine(d, datetime.min.time()), tz), ctx.as_of_at)

    frame = pd.DataFrame(
        {
            "period": [b[0] for b in bounds],
            "p_start_on": [b[0] for b in bounds],
            "p_end_on": [min(b[1], ctx.as_of + timedelta(days=1)) for b in bounds],
            "p_start_at": pd.to_datetime([utc(b[0]) for b in bounds]),
            "p_end_at": pd.to_datetime([utc(b[1]) for b in bounds]),
        }
    )
    return ibis.memtable(frame)


def _period(
    ctx: Context, p: Plan, q: Query, with_dims: bool = False
) -> tuple[Facts, ir.Table, ir.Table]:
    """Period facts; with :attr:`Facts.dims`, the records are grouped by key × period
    first and the breakdown columns joined after (``with_dims``: even without breakdowns
    or filters, for the drill-down)."""
    assert p.kpi.facts is not None, f"{p.kpi.id}: period facts need facts"
    facts = p.kpi.facts(ctx)
    t = facts.table if facts.dims is not None else _filtered(ctx, p)[1]
    assert facts.per_period is not None, f"{p.kpi.id}: period facts need per_period"
    periods = period_table(ctx, p, q, facts.default_grain or Grain.year)
    asked = [*p.dims, *(d for d, _ in p.where)]
    j = facts.per_period(t, periods, frozenset(d for d in asked if isinstance(d, Dim)))
    if facts.dims is not None and (with_dims or p.dims or p.where):
        d = facts.dims.rename(_dims_key=facts.key)
        j = without(j.left_join(d, j[facts.key] == d._dims_key), "_dims_key")
        for dim, values in p.where:
            j = j.filter(j[dim.column].cast("string").isin(list(values)))
    keys: dict[str, ir.Value] = {}
    if p.grain:
        keys["period"] = j.period
    for d in p.dims:
        keys[d.value] = j[d.column]
    return facts, j, _aggregate(j, keys, p)


def _key_names(p: Plan) -> list[str]:
    return (["period"] if p.grain else []) + [d.value for d in p.dims]


def _input_query(ctx: Context, p: Plan, q: Query, name: str) -> tuple[Plan, Query]:
    """The query for input ``name`` of derived KPI ``p``: same grain, breakdowns and
    filters; its own window where it has one."""
    assert isinstance(p.kpi.measure, Derived)
    inp = p.kpi.measure.inputs[name]
    start, end = inp.window(ctx) if inp.window else (q.start, q.end)
    by = ((p.grain.value,) if p.grain else ()) + tuple(d.value for d in p.dims)
    iq = replace(q, kpi=inp.kpi, by=by, start=start, end=end)
    return plan(iq), iq


def _scope(ctx: Context, p: Plan, q: Query, periods: ir.Table | None) -> ir.Table | None:
    """Every rep (team, region) in scope: within the filters and on staff at some time in
    the query's dates (up to as-of; point-in-time KPIs: on the as-of date), or — per
    period — in that period. None when the breakdown is not by rep, team or region."""
    cols = {Dim.rep: "rep_id", Dim.team: "team_id", Dim.region: "region"}
    if not p.dims or not set(p.dims) <= set(cols):
        return None
    r = ctx.reps
    end = min(q.end or ctx.as_of, ctx.as_of)
    start = ctx.as_of if p.kpi.point_only else q.start
    r = r.filter(r.hired_on.isnull() | (r.hired_on <= end))
    if start:
        r = r.filter(r.left_on.isnull() | (r.left_on >= start))
    for dim, values in p.where:
        if dim in cols:
            r = r.filter(r[cols[dim]].cast("string").isin(list(values)))
    if periods is not None and p.grain:
        j = r.cross_join(periods)
        nxt = timecal.next_period_expr(j.period, p.grain)
        r = j.filter(
            j.hired_on.isnull() | (j.hired_on < nxt), j.left_on.isnull() | (j.left_on >= j.period)
        )
    keys = {d.value: r[cols[d]].cast("string") for d in p.dims if isinstance(d, Dim)}
    out = r.select(*(["period"] if periods is not None and p.grain else []), **keys)
    return out.filter(*[out[d.value].notnull() for d in p.dims]).distinct()


def _derived(ctx: Context, p: Plan, q: Query, rollups: rollup.Rollups | None = None) -> ir.Table:
    """A derived KPI: its inputs joined on the result keys over the full dimension (each
    input answered from its rollup where it has one)."""
    m = p.kpi.measure
    assert isinstance(m, Derived)
    keys = _key_names(p)
    parts: dict[str, ir.Table] = {}
    for name, inp in m.inputs.items():
        ip, iq = _input_query(ctx, p, q, name)
        rel = target_rows(ctx, ip, iq) if inp.column == "target" else _input(ctx, ip, iq, rollups)
        parts[name] = rel.select(*keys, **{name: rel[inp.column].cast("float64")})
    if keys:
        spine = None
        for rel in parts.values():
            k = rel.select(*keys)
            spine = k if spine is None else spine.union(k)
        assert spine is not None
        periods = spine.select("period").distinct() if p.grain else None
        members = _scope(ctx, p, q, periods)
        if members is not None:
            spine = spine.union(members.select(*keys))
        j = spine.distinct()
        for rel in parts.values():
            r = rel.rename(**{f"_k_{k}": k for k in keys})
            j = j.left_join(r, [j[k].identical_to(r[f"_k_{k}"]) for k in keys])
            j = without(j, *[f"_k_{k}" for k in keys])
    else:
        j = None
        for rel in parts.values():
            one = rel.aggregate(**{c: rel[c].max() for c in rel.columns})  # one row
            j = one if j is None else j.cross_join(one)
        assert j is not None
    fills = {n: ibis.coalesce(j[n], i.fill) for n, i in m.inputs.items() if i.fill is not None}
    j = j.mutate(**fills) if fills else j
    num = resolve(j, m.numerator).cast("float64")
    if m.denominator is None:
        return j.mutate(value=num * p.kpi.scale if p.kpi.scale != 1.0 else num)
    den = resolve(j, m.denominator).cast("float64")
    return j.mutate(
        numerator=num,
        denominator=den,
        value=ratio_value(num, den, p.kpi.scale, positive=m.positive),
    )


def _input(ctx: Context, p: Plan, q: Query, rollups: rollup.Rollups | None) -> ir.Table:
    """The rows of a derived KPI's input: from its rollup (an in-memory table) or compiled."""
    fine = rollup.fine_query(q, p, ctx) if rollups is not None else None
    if rollups is None or fine is None:
        return _compile(ctx, p, q, rollups)
    rows = ibis.memtable(rollup.answer(rollups(fine, lambda: fine_rows(ctx, fine)), p))
    # period starts are dates in the compile path (pandas holds them as timestamps)
    return rows.mutate(period=rows.period.cast("date")) if p.grain else rows


def _compile(ctx: Context, p: Plan, q: Query, rollups: rollup.Rollups | None = None) -> ir.Table:
    """The one compile path: the aggregated rows of any KPI (before labels and targets)."""
    if p.kpi.kind is Kind.derived:
        return _derived(ctx, p, q, rollups)
    build = {Kind.flow: _flow, Kind.snapshot: _snapshot, Kind.period: _period}[p.kpi.kind]
    return build(ctx, p, q)[2]


def _aggregate(t: ir.Table, keys: dict[str, ir.Value], p: Plan) -> ir.Table:
    kpi = p.kpi
    aggs = kpi.measure.parts(t, rollup.PART) if p.parts else kpi.measure.aggregates(t)
    agg = t.group_by(**keys).aggregate(**aggs) if keys else t.aggregate(**aggs)
    if p.parts:  # a rollup: the parts, summed and combined when a query is answered
        return agg
    if kpi.is_ratio:
        return agg.mutate(value=ratio_value(agg.numerator, agg.denominator, kpi.scale))
    if kpi.scale != 1.0:
        return agg.mutate(value=agg.value * kpi.scale)
    return agg


def _labelled(ctx: Context, agg: ir.Table, p: Plan) -> ir.Table:
    """Add readable names beside ids (``Dim.label``: rep_name, team_name, …); reps also get
    ``rep_left_on`` (the day a rep left, empty while on staff)."""
    names: dict[Dim, tuple[ir.Table, str, str]] = {
        Dim.rep: (ctx.reps, "rep_id", "rep_name"),
        Dim.team: (ctx.t("teams"), "team_id", "name"),
        Dim.product: (ctx.t("products"), "product_id", "name"),
        Dim.stage: (ctx.stages, "stage_id", "stage_name"),
        Dim.from_stage: (ctx.stages, "stage_id", "stage_name"),
        Dim.account: (ctx.t("accounts"), "account_id", "name"),
    }
    for dim in p.dims:
        if dim not in DIM_LABELS:
            continue
        table, key, name = names[dim]
        extra: dict[str, str] = {}
        if dim is Dim.stage:
            extra["stage_order"] = "stage_order"
        if dim is Dim.rep:
            extra["rep_left_on"] = "left_on"
        lk = table.select(_lkey=table[key].cast("string"), **{DIM_LABELS[dim]: name}, **extra)
        agg = without(agg.left_join(lk, agg[dim.value].cast("string") == lk._lkey), "_lkey")
    return agg


def _ordered(frame: pd.DataFrame, p: Plan) -> pd.DataFrame:
    keys = (["period"] if p.grain else []) + [
        "stage_order" if d is Dim.stage else d.value for d in p.dims
    ]
    if keys and len(frame):
        frame = frame.sort_values(keys, kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def compile_query(
    ctx: Context, q: Query, rollups: rollup.Rollups | None = None
) -> tuple[Plan, ir.Table]:
    """The Ibis expression for ``q`` (before labels and targets)."""
    p = plan(q)
    return p, _compile(ctx, p, q, rollups)


def expression(
    ctx: Context, q: Query, rollups: rollup.Rollups | None = None
) -> tuple[Plan, ir.Table]:
    """The whole expression behind a result: rows, labels and targets (``rollups``: where
    a derived KPI's inputs may be answered from)."""
    p, agg = compile_query(ctx, q, rollups)
    expr = _labelled(ctx, agg, p)
    if p.kpi.kind is not Kind.derived and (p.kpi.target_kpi or p.kpi.id) in ctx.target_kpi_ids:
        expr = with_targets(ctx, expr, p, q)
    return p, expr


def fine_rows(ctx: Context, fine: Query) -> pd.DataFrame:
    """The rows of a fine query (:func:`rollup.fine_query`): the measure's parts per key,
    with labels, in key order."""
    p = replace(plan(fine), parts=True)
    rows = _labelled(ctx, _compile(ctx, p, fine), p).execute()
    # in key order: parts summed over them add up in the same order every time (the
    # engine returns groups in any order; floating-point sums depend on it)
    keys = _key_names(p)
    rows = rows.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    return rollup.compact(rows, p)


def _from_rollup(
    ctx: Context, p: Plan, q: Query, fine: pd.DataFrame, rollups: rollup.Rollups
) -> pd.DataFrame:
    """The rows of ``q`` from its fine query's, with targets as :func:`expression` adds them."""
    frame = rollup.answer(fine, p)
    if (p.kpi.target_kpi or p.kpi.id) not in ctx.target_kpi_ids:
        return frame
    if not targets.applies(ctx, p):  # what with_targets gives, without a query
        return frame.assign(target=np.nan, attainment=np.nan)
    tg = _rollup_targets(ctx, p, q, rollups)
    if tg is None:
        joined = with_targets(ctx, ibis.memtable(frame), p, q).execute()
        return joined.astype({c: frame[c].dtype for c in frame.columns})
    keys = _key_names(p)
    if keys:  # each row's target by its keys (a missing key matches a missing key)
        tg = tg.astype({k: frame[k].dtype for k in keys})
        at = _index(tg, keys).get_indexer(_index(frame, keys))
        found = np.append(tg["target"].to_numpy(dtype="float64", na_value=np.nan), np.nan)
        target = pd.Series(found[at], index=frame.index)  # −1 (no target row): the NaN
    else:
        target = pd.Series(tg["target"].sum(min_count=1), index=frame.index, dtype="float64")
    return frame.assign(target=target, attainment=frame["value"] / target.where(target != 0))


def _index(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    return pd.Index(frame[keys[0]]) if len(keys) == 1 else pd.MultiIndex.from_frame(frame[keys])


def _rollup_targets(
    ctx: Context, p: Plan, q: Query, rollups: rollup.Rollups
) -> pd.DataFrame | None:
    """:func:`target_rows` of ``p`` (targets apply) from the unfiltered target rows of its
    KPI, grain and dates, kept beside the rollups (:func:`targets.from_unfiltered`); None
    when the KPI has no rep and team breakdowns to ask them by."""
    if not {Dim.rep, Dim.team} <= set(p.kpi.dims):
        return None
    grain = (p.grain.value,) if p.grain else ()

    def rows(by: tuple[str, ...]) -> pd.DataFrame:
        tq = replace(q, by=grain + by, where=())
        return rollups(("targets", tq), lambda: target_rows(ctx, plan(tq), tq).execute())

    return targets.from_unfiltered(p, rows)


def _derived_from_rollups(
    ctx: Context, p: Plan, q: Query, rollups: rollup.Rollups
) -> pd.DataFrame | None:
    """A derived KPI's rows from its inputs' rollups and unfiltered targets, in memory (as
    :func:`_derived` and :func:`_labelled` give them); None when an input has no rollup,
    or for a period grain or a breakdown other than rep, team and region."""
    m = p.kpi.measure
    assert isinstance(m, Derived)
    if p.grain or not set(p.dims) <= set(rollup.MEMBER_COLUMNS):
        return None
    keys = _key_names(p)
    parts: dict[str, pd.DataFrame] = {}
    for name, inp in m.inputs.items():
        ip, iq = _input_query(ctx, p, q, name)
        if inp.column == "target":
            rel = (
                _rollup_targets(ctx, ip, iq, rollups)
                if targets.applies(ctx, ip)
                else pd.DataFrame({c: pd.Series(dtype="string") for c in keys} | {"target": []})
            )
        else:
            fine = rollup.fine_query(iq, ip, ctx)
            rel = None if fine is None else rollup.answer(rollups(fine, _fine(ctx, fine)), ip)
        if rel is None:
            return None
        parts[name] = rel[[*keys, inp.column]].rename(columns={inp.column: name})
    people = rollups(("reps",), lambda: ctx.reps.execute())
    scope = None
    if keys:
        start = ctx.as_of if p.kpi.point_only else q.start
        scope = rollup.members(p, people, start, min(q.end or ctx.as_of, ctx.as_of))
        parts = {n: rel.astype({k: scope[k].dtype for k in keys}) for n, rel in parts.items()}
    labels = {
        "rep": people.set_index(people["rep_id"].astype("str"))[["rep_name", "left_on"]].rename(
            columns={"left_on": "rep_left_on"}
        ),
        "team": rollups(("teams",), lambda: ctx.t("teams").execute())
        .pipe(lambda t: t.set_index(t["team_id"].astype("str"))[["name"]])
        .rename(columns={"name": "team_name"}),
    }
    return rollup.derived(p, parts, scope, labels)


def _fine(ctx: Context, fine: Query) -> Callable[[], pd.DataFrame]:
    return lambda: fine_rows(ctx, fine)


def _known_values(ctx: Context, dim: Breakdown) -> frozenset[str] | None:
    """The values a filter on ``dim`` can take in this data (None: not checked)."""
    if isinstance(dim, Attr):
        col = attribute_table(ctx, dim)[dim.column]
        return ctx.distinct_values(f"attr.{dim.value}", col)
    from salespulse.semantic.catalogue.leads import LEAD_STATUSES
    from salespulse.semantic.model import NO_CHANNEL
    from salespulse.warehouse.schema import ACTIVITY_TYPES

    fixed = {Dim.lead_status: LEAD_STATUSES, Dim.activity_type: ACTIVITY_TYPES}
    if dim in fixed:
        return frozenset(fixed[dim])
    columns = {
        Dim.rep: ("reps", "rep_id"),
        Dim.team: ("teams", "team_id"),
        Dim.region: ("reps", "region"),
        Dim.product: ("products", "product_id"),
        Dim.product_line: ("products", "product_line"),
        Dim.pipeline: ("pipelines", "pipeline_id"),
        Dim.stage: ("stages", "stage_id"),
        Dim.from_stage: ("stages", "stage_id"),
        Dim.account: ("accounts", "account_id"),
        Dim.channel: ("leads", "channel"),
        Dim.industry: ("accounts", "industry"),
    }
    table, col = columns[dim]
    vals = ctx.distinct_values(f"{table}.{col}", ctx.t(table)[col])
    if dim is Dim.region:
        vals |= ctx.distinct_values("teams.region", ctx.t("teams").region)
    if dim is Dim.industry:
        vals |= ctx.distinct_values("leads.industry", ctx.t("leads").industry)
    if dim is Dim.channel:
        vals |= {NO_CHANNEL}
    return vals


def check_filters(ctx: Context, p: Plan) -> None:
    """A UserError for a filter value the data does not have (``--where team=T99``), with
    the nearest known value; filtering on it would silently give nothing."""
    import difflib

    for dim, values in p.where:
        known = _known_values(ctx, dim)
        if known is None:
            continue
        for v in values:
            if v not in known:
                close = difflib.get_close_matches(v, sorted(known), n=1)
                some = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
                raise UserError(
                    f"no {dim.value} {v!r} in this data",
                    hint=f"did you mean {close[0]!r}?" if close else f"known: {some}",
                )


def missing_data(ctx: Context, kpi: Kpi) -> str | None:
    """Why the data cannot support ``kpi`` (None when it can).

    ``Kpi.requires`` lists canonical tables that must hold rows, or ``table.column`` where
    some row must have the column filled in. Money KPIs also need an exchange rate for every
    currency in use.
    """
    if isinstance(kpi.measure, Derived):
        for inp in kpi.measure.inputs.values():
            reason = missing_data(ctx, get_kpi(inp.kpi))
            if reason:
                return reason
    missing = []
    for need in kpi.requires:
        table, _, column = need.partition(".")
        if not ctx.has_rows(table):
            missing.append(table.replace("_", " "))
        elif column and not ctx.has_value(table, column):
            missing.append(f"{column.replace('_', ' ')} in {table.replace('_', ' ')}")
    if missing:
        return "not available for this data: no " + ", ".join(missing)
    if kpi.uses_money:
        unconverted = ctx.currencies_without_rate
        if unconverted:
            rc = ctx.settings.reporting_currency
            return (
                f"not available for this data: no exchange rate from "
                f"{', '.join(unconverted)} to {rc} (add currency_rates, or set "
                f'reporting_currency = "{unconverted[0]}" in settings.toml)'
            )
    return None


def run(
    store: Store,
    query: Query,
    settings: Settings | None = None,
    ctx: Context | None = None,
    rollups: rollup.Rollups | None = None,
) -> KpiResult:
    """Compute ``query`` on ``store``; with ``rollups``, from the rows of its fine query
    where it has one (:mod:`salespulse.semantic.rollup`)."""
    p = plan(query)
    # a fine query (rollups) breaks down by every page dimension: then all of them
    asked = _asked(p) if rollups is None else None
    ctx = ctx or context(store, settings, query.as_of, breakdowns=asked)
    check_filters(ctx, p)
    reason = missing_data(ctx, p.kpi)
    if reason:
        cols = (["period"] if p.grain else []) + [d.value for d in p.dims] + ["value"]
        return KpiResult(
            p.kpi,
            query,
            ctx.as_of,
            pd.DataFrame(columns=cols),
            available=False,
            reason=reason,
            currency=ctx.settings.reporting_currency,
        )
    fine = rollup.fine_query(query, p, ctx) if rollups is not None else None
    if rollups is not None and fine is not None:
        frame = _from_rollup(ctx, p, query, rollups(fine, _fine(ctx, fine)), rollups)
    elif rollups is not None and p.kpi.kind is Kind.derived:
        in_memory = _derived_from_rollups(ctx, p, query, rollups)
        # else inputs from rollups: in-memory tables of this data, never kept as compiled SQL
        frame = in_memory if in_memory is not None else expression(ctx, query, rollups)[1].execute()
    else:
        frame = sqlcache.execute(ctx, query, lambda: expression(ctx, query)[1])
    if "stage_order" in frame.columns:
        frame = _ordered(frame, p).drop(columns="stage_order")
    else:
        frame = _ordered(frame, p)
    return KpiResult(p.kpi, query, ctx.as_of, frame, currency=ctx.settings.reporting_currency)


def records(
    store: Store,
    query: Query,
    settings: Settings | None = None,
    limit: int | None = 1000,
    numerator_only: bool = False,
    ctx: Context | None = None,
    order_by: str | None = None,
    rollups: rollup.Rollups | None = None,
) -> pd.DataFrame:
    """The records behind a figure: the facts of ``query``'s KPI within its period,
    filters and as-of date, with ``in_numerator`` for ratios/conditional counts
    (``numerator_only`` keeps just those rows). ``order_by`` names a column to sort on in
    the engine before the limit ("-amount_eur" = largest first); default: the record id.
    With ``rollups`` (and no limit or order), the rows are those of the unfiltered query
    kept there, filtered."""
    ctx = ctx or context(store, settings, query.as_of)
    p = plan(query)
    check_filters(ctx, p)
    reason = missing_data(ctx, p.kpi)
    if reason:
        raise UserError(f"{p.kpi.id}: {reason}")
    whole_q = rollup.records_query(query, p) if rollups is not None else None
    if rollups is not None and whole_q is not None and limit is None and order_by is None:
        rows = rollups(
            ("records", whole_q, numerator_only),
            lambda: records(store, whole_q, settings, None, numerator_only, ctx),
        )
        kept = rollup.filtered_records(rows, p)
        if kept is not None:
            return kept
    if p.kpi.kind is Kind.derived:
        assert p.kpi.drill, f"{p.kpi.id}: a derived KPI names the input it drills into"
        sub = query
        m = p.kpi.measure
        assert isinstance(m, Derived)
        for inp in m.inputs.values():
            if inp.kpi == p.kpi.drill and inp.window:
                start, end = inp.window(ctx)
                sub = replace(query, start=start, end=end)
        sub = replace(sub, kpi=p.kpi.drill)
        return records(store, sub, settings, limit, numerator_only, ctx, order_by)
    if p.where and order_by is None and (unfiltered := rollup.records_query(query, p)):
        # one compiled SQL for every filter value: the unfiltered records, filtered around it
        up = plan(unfiltered)
        frame = sqlcache.execute_filtered(
            ctx,
            unfiltered,
            lambda: _records_table(ctx, up, unfiltered, numerator_only),
            [(d.column, values) for d, values in p.where],
            limit,
            kind=("records", numerator_only),
        )
        if frame is not None:
            return frame
    t, key = _records_table(ctx, p, query, numerator_only)
    t = _sorted(t, order_by) if order_by else t.order_by(key)
    if limit is not None:
        t = t.limit(limit)
    return t.execute()


def _records_table(
    ctx: Context, p: Plan, query: Query, numerator_only: bool
) -> tuple[ir.Table, str]:
    """The fact rows behind ``p`` (a flow, snapshot or period KPI) with ``in_numerator``
    for ratios, not ordered, and the column that identifies a record (their order)."""
    whole = Plan(p.kpi, None, (), p.where)
    if p.kpi.kind is Kind.period:
        facts, t, _ = _period(ctx, whole, query, with_dims=True)
    else:
        facts, t, _ = {Kind.flow: _flow, Kind.snapshot: _snapshot}[p.kpi.kind](ctx, whole, query)
    t = facts.detail(t) if facts.detail else t
    part = p.kpi.measure.in_denominator(t)
    if part is not None:
        t = t.filter(part)
    flag = p.kpi.measure.in_numerator(t)
    if flag is not None:
        t = t.mutate(in_numerator=flag)
        if numerator_only:
            t = t.filter(t.in_numerator)
    drop = [c for c in t.columns if c.startswith("_") or c.startswith("p_")]
    t = without(t, *drop) if drop else t
    attrs = {d.value: d.column for d, _ in p.where if isinstance(d, Attr)}
    t = t.rename(attrs) if attrs else t  # shown as mapped: deal.contract_type
    return t, facts.key


def _sorted(t: ir.Table, order_by: str) -> ir.Table:
    col = order_by.lstrip("-")
    if col not in t.columns:
        raise UserError(
            f"cannot sort records by {col!r}", hint=f"choose from: {', '.join(sorted(t.columns))}"
        )
    key = t[col]
    return t.order_by(key.desc(nulls_first=False) if order_by.startswith("-") else key.asc())


def explain(store: Store, query: Query, settings: Settings | None = None) -> str:
    """The definition and the SQL that computes ``query`` (labels and targets included)."""
    ctx = context(store, settings, query.as_of, breakdowns=_asked(plan(query)))
    p, expr = expression(ctx, query)
    k = p.kpi
    head = [
        f"{k.id} — {k.name_en} ({k.name_nl})",
        "",
        k.definition,
        "",
        f"unit: {k.unit}; {k.kind} KPI; source: {k.source or 'dashboard measure'}",
        f"as of: {ctx.as_of} (end of day, {ctx.settings.timezone})",
    ]
    if isinstance(k.measure, Derived):
        head += ["", "inputs:"]
        for name, inp in k.measure.inputs.items():
            ip, iq = _input_query(ctx, p, query, name)
            span = f", {iq.start or '…'} – {iq.end or ctx.as_of}" if inp.window else ""
            head.append(f"  {name} = {inp.column} of {inp.kpi} ({ip.kpi.name_en}{span})")
    return "\n".join([*head, "", "SQL:", str(ibis.to_sql(expr, dialect=store.engine))])
