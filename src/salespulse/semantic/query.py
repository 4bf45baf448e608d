"""Asking for a KPI: period grain × breakdowns × filters × as-of, compiled to one query.

:func:`run` is the only way the product computes a KPI. It returns a :class:`KpiResult`
whose rows carry the breakdown columns, ``value`` and — for ratios — ``numerator`` and
``denominator`` (``value`` is null when the denominator is 0). KPIs with targets get
``target`` and ``attainment`` (= value / target). :func:`records` lists the records behind
any figure (drill-down); :func:`explain` shows the definition and the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from salespulse.errors import UserError
from salespulse.semantic import timecal
from salespulse.semantic.catalogue import get_kpi
from salespulse.semantic.kpi import Dim, Facts, Kind, Kpi, Unit
from salespulse.semantic.measures import ratio_value
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain
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
        rows = [
            {k: jsonable(v) for k, v in rec.items()} for rec in self.frame.to_dict(orient="records")
        ]
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


def jsonable(v: Any) -> Any:
    """A value of a result frame as plain JSON (NaN/NaT → None, dates → ISO strings)."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if v is pd.NaT or (not isinstance(v, list | tuple | dict) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.isoformat() if v.time() != datetime.min.time() else v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return v


@dataclass(frozen=True)
class Plan:
    """A query resolved against the catalogue (validated grain, breakdowns and filters)."""

    kpi: Kpi
    grain: Grain | None
    dims: tuple[Dim, ...]
    where: tuple[tuple[Dim, tuple[str, ...]], ...]


def plan(query: Query) -> Plan:
    kpi = get_kpi(query.kpi)
    grain: Grain | None = None
    dims: list[Dim] = []
    allowed = ", ".join([*(g.value for g in Grain), *(d.value for d in kpi.dims)])
    for b in query.by:
        name = {"fiscal_year": "year"}.get(b, b)
        if name in Grain.__members__:
            if grain is not None:
                raise UserError(f"more than one period grain in --by ({grain}, {name})")
            grain = Grain(name)
        elif name in Dim.__members__ and Dim(name) in kpi.dims:
            dims.append(Dim(name))
        else:
            raise UserError(
                f"{kpi.id} cannot be broken down by {b!r}", hint=f"choose from: {allowed}"
            )
    if grain and kpi.point_only:
        raise UserError(
            f"{kpi.id} is computed as of one date, not per period",
            hint="drop the period from --by and use --as-of",
        )
    where = []
    for k, values in query.where:
        if k not in Dim.__members__ or Dim(k) not in kpi.dims:
            raise UserError(
                f"{kpi.id} cannot be filtered on {k!r}",
                hint=f"filter on: {', '.join(d.value for d in kpi.dims)}",
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
) -> Context:
    """A context for one or more queries; with ``materialize``, the big as-of relations are
    computed once into temporary tables (call ``close()`` when done)."""
    s = settings or load_settings()
    return Context(store, s, as_of or timecal.today_local(s.timezone), materialize=materialize)


def _filtered(ctx: Context, p: Plan) -> tuple[Facts, ir.Table]:
    facts = p.kpi.facts(ctx)
    t = facts.table
    for dim, values in p.where:
        t = t.filter(t[dim.column].cast("string").isin(list(values)))
    return facts, t


def _time_column(ctx: Context, t: ir.Table, col: str) -> ir.Value:
    """Local time (for UTC timestamps) or the date itself (for date columns)."""
    c = t[col]
    return ctx.local(c) if c.type().is_timestamp() else c


def _flow(ctx: Context, p: Plan, q: Query) -> tuple[Facts, ir.Table, ir.Table]:
    facts, t = _filtered(ctx, p)
    assert facts.at is not None, f"{p.kpi.id}: flow facts need an event time"
    t = t.mutate(_local=_time_column(ctx, t, facts.at))
    is_ts = t._local.type().is_timestamp()
    if q.start:
        lo = ibis.timestamp(datetime.combine(q.start, datetime.min.time())) if is_ts else q.start
        t = t.filter(t._local >= lo)
    if q.end:
        nxt = q.end + timedelta(days=1)
        hi = ibis.timestamp(datetime.combine(nxt, datetime.min.time())) if is_ts else nxt
        t = t.filter(t._local < hi)
    keys: dict[str, ir.Value] = {}
    if p.grain:
        keys["period"] = timecal.truncate(t._local, p.grain, ctx.settings)
    for d in p.dims:
        keys[d.value] = t[d.column]
    return facts, t, _aggregate(t, keys, p.kpi)


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
    pts = ibis.memtable(_snapshot_points(ctx, p, q))
    j = t.cross_join(pts)
    vf, vt = j[facts.valid_from], j[facts.valid_to]
    j = j.filter(vf < j.as_of_at, vt.isnull() | (vt >= j.as_of_at))
    keys: dict[str, ir.Value] = {}
    if p.grain:
        keys["period"] = j.period
    for d in p.dims:
        keys[d.value] = j[d.column]
    return facts, j, _aggregate(j, keys, p.kpi)


def _aggregate(t: ir.Table, keys: dict[str, ir.Value], kpi: Kpi) -> ir.Table:
    aggs = kpi.measure.aggregates(t)
    agg = t.group_by(**keys).aggregate(**aggs) if keys else t.aggregate(**aggs)
    if kpi.is_ratio:
        return agg.mutate(value=ratio_value(agg.numerator, agg.denominator, kpi.scale))
    if kpi.scale != 1.0:
        return agg.mutate(value=agg.value * kpi.scale)
    return agg


def _labelled(ctx: Context, agg: ir.Table, p: Plan) -> ir.Table:
    """Add readable names beside ids (rep_name, team_name, product_name, stage_name)."""
    if Dim.rep in p.dims:
        r = ctx.reps.select(_rid="rep_id", rep_name="rep_name")
        agg = agg.left_join(r, agg.rep == r._rid).drop("_rid")
    if Dim.team in p.dims:
        tm = ctx.t("teams").select(_tid="team_id", team_name="name")
        agg = agg.left_join(tm, agg.team == tm._tid).drop("_tid")
    if Dim.product in p.dims:
        pr = ctx.t("products").select(_pid="product_id", product_name="name")
        agg = agg.left_join(pr, agg.product == pr._pid).drop("_pid")
    if Dim.stage in p.dims:
        st = ctx.stages.select(_sid="stage_id", stage_name="stage_name", stage_order="stage_order")
        agg = agg.left_join(st, agg.stage == st._sid).drop("_sid")
    if Dim.from_stage in p.dims:
        fs = ctx.stages.select(_fid="stage_id", from_stage_name="stage_name")
        agg = agg.left_join(fs, agg.from_stage == fs._fid).drop("_fid")
    if Dim.account in p.dims:
        ac = ctx.t("accounts").select(_aid="account_id", account_name="name")
        agg = agg.left_join(ac, agg.account == ac._aid).drop("_aid")
    return agg


def _ordered(frame: pd.DataFrame, p: Plan) -> pd.DataFrame:
    keys = (["period"] if p.grain else []) + [
        "stage_order" if d is Dim.stage else d.value for d in p.dims
    ]
    if keys and len(frame):
        frame = frame.sort_values(keys, kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def compile_query(ctx: Context, q: Query) -> tuple[Plan, ir.Table]:
    """The Ibis expression for ``q`` (before labels and targets)."""
    p = plan(q)
    build = _snapshot if p.kpi.kind is Kind.snapshot else _flow
    _, _, agg = build(ctx, p, q)
    return p, agg


def missing_data(ctx: Context, kpi: Kpi) -> str | None:
    """Why the data cannot support ``kpi`` (None when it can).

    ``Kpi.requires`` lists canonical tables that must hold rows, or ``table.column`` where
    some row must have the column filled in. Money KPIs also need an exchange rate for every
    currency in use.
    """
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
    store: Store, query: Query, settings: Settings | None = None, ctx: Context | None = None
) -> KpiResult:
    """Compute ``query`` on ``store``."""
    ctx = ctx or context(store, settings, query.as_of)
    p = plan(query)
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
    if p.kpi.compute is not None:
        frame = p.kpi.compute(ctx, p, query)
        return KpiResult(
            p.kpi, query, ctx.as_of, _ordered(frame, p), currency=ctx.settings.reporting_currency
        )
    _, agg = compile_query(ctx, query)
    expr = _labelled(ctx, agg, p)
    if (p.kpi.target_kpi or p.kpi.id) in ctx.target_kpi_ids:
        from salespulse.semantic.targets import with_targets

        expr = with_targets(ctx, expr, p, query)
    frame = expr.execute()
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
) -> pd.DataFrame:
    """The records behind a figure: the facts of ``query``'s KPI within its period,
    filters and as-of date, with ``in_numerator`` for ratios/conditional counts
    (``numerator_only`` keeps just those rows). ``order_by`` names a column to sort on in
    the engine before the limit ("-amount_eur" = largest first); default: the record id."""
    ctx = ctx or context(store, settings, query.as_of)
    p = plan(query)
    reason = missing_data(ctx, p.kpi)
    if reason:
        raise UserError(f"{p.kpi.id}: {reason}")
    whole = Plan(p.kpi, None, (), p.where)
    if isinstance(p.kpi.drill, str):
        return records(
            store, replace(query, kpi=p.kpi.drill), settings, limit, numerator_only, ctx, order_by
        )
    if p.kpi.drill is not None:
        t = p.kpi.drill(ctx, whole, query)
        if numerator_only:
            t = t.filter(t.in_numerator)
        t = _sorted(t, order_by) if order_by else t
        return (t.limit(limit) if limit is not None else t).execute()
    build = _snapshot if p.kpi.kind is Kind.snapshot else _flow
    facts, t, _ = build(ctx, whole, query)
    flag = p.kpi.measure.in_numerator(t)
    if flag is not None:
        t = t.mutate(in_numerator=flag)
        if numerator_only:
            t = t.filter(t.in_numerator)
    t = t.drop(*[c for c in t.columns if c.startswith("_")])
    t = _sorted(t, order_by) if order_by else t.order_by(facts.key)
    if limit is not None:
        t = t.limit(limit)
    return t.execute()


def _sorted(t: ir.Table, order_by: str) -> ir.Table:
    col = order_by.lstrip("-")
    if col not in t.columns:
        raise UserError(
            f"cannot sort records by {col!r}", hint=f"choose from: {', '.join(sorted(t.columns))}"
        )
    key = t[col]
    return t.order_by(key.desc(nulls_first=False) if order_by.startswith("-") else key.asc())


def explain(store: Store, query: Query, settings: Settings | None = None) -> str:
    """The definition and the SQL that computes ``query``."""
    ctx = context(store, settings, query.as_of)
    p, agg = compile_query(ctx, query)
    k = p.kpi
    head = [
        f"{k.id} — {k.name_en} ({k.name_nl})",
        "",
        k.definition,
        "",
        f"unit: {k.unit}; {k.kind} KPI; source: {k.source or 'dashboard measure'}",
        f"as of: {ctx.as_of} (end of day, {ctx.settings.timezone})",
        "",
    ]
    if k.compute is not None:
        return "\n".join([*head, "(computed from other KPIs; see their SQL)"])
    return "\n".join([*head, "SQL:", str(ibis.to_sql(agg, dialect=store.engine))])
