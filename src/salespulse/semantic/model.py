"""The semantic model: canonical tables as they were **as of** a date, with breakdowns.

Every relation here is an Ibis expression (nothing is computed until a KPI runs). Each one
shows only what was known at ``as_of`` (the end of that local day):

* stage history rows entered before then; a deal's stage, open/closed state, outcome and
  close time come from its last history row (deals without any history fall back to the
  deal's own ``closed_at``/``outcome``/``stage_id`` columns);
* leads with lifecycle timestamps after ``as_of`` blanked (an SQL of next week is not an SQL
  yet), and the owner only once assigned;
* activities, contracts and reps that existed by then.

An empty channel (and a deal without a lead) is ``not_set`` (:data:`NO_CHANNEL`).

Amounts are converted to the reporting currency with the latest rate valid on ``as_of``
(records without a currency are taken to be in the reporting currency; a currency without a
rate gives no amount). Deal owner, amount and product are the current values (the model keeps
no history of them).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, cast

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from salespulse.semantic import timecal
from salespulse.semantic.kpi import Dim
from salespulse.semantic.relations import without
from salespulse.settings import Settings
from salespulse.warehouse import derived
from salespulse.warehouse.store import Store

SECONDS_PER_DAY = 86400.0

#: The channel of a lead whose source left it empty, and of a deal without a lead. Kept
#: apart from any value of the source's own (HubSpot's "unknown", Salesforce's "Other"), so
#: "we don't know" and "the source says unknown" are two different rows.
NO_CHANNEL = "not_set"


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Fractional days from ``start`` to ``end`` (portable: epoch seconds)."""
    return (end.epoch_seconds() - start.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


#: Data versions whose probes are kept (per process).
PROBE_VERSIONS = 16
_probes: OrderedDict[tuple[str, str], dict[str, object]] = OrderedDict()
_probes_lock = threading.Lock()


#: Serializes creating a session's calendar table (PostgreSQL, ``_indexed_calendar``).
_calendar_lock = threading.Lock()


def shared_probes(location: str, version: str) -> dict[str, object]:
    """The probe cache of database ``location`` at data ``version`` (the newest kept)."""
    key = (location, version)
    with _probes_lock:
        if key not in _probes:
            _probes[key] = {}
            while len(_probes) > PROBE_VERSIONS:
                _probes.popitem(last=False)
        _probes.move_to_end(key)
        return _probes[key]


@dataclass
class Context:
    """Everything a KPI needs: the store, the settings and the as-of date."""

    store: Store
    settings: Settings
    as_of: date
    #: Keep the big as-of relations (stage history, deals, leads, …) as temporary tables
    #: for the life of the context: worth it when one context answers many KPIs (a page).
    materialize: bool = False
    #: The breakdowns (and filters) the queries on this context use; None: any. With a
    #: set, the facts leave out the joins that only a breakdown outside it needs (a
    #: deal's lead for ``channel``, its account for ``industry``, its product
    #: for ``product_line``; a lead's account for ``industry`` and company size; the
    #: rep's team for ``team`` and ``region``; a contract's account and owner for rep,
    #: team, region and industry): those columns are then null. Only for a context of
    #: one query shape (``query.run`` makes one); materialized contexts keep them all.
    breakdowns: frozenset[Dim] | None = None
    _flags: dict[str, bool] = field(default_factory=dict, repr=False)
    _values: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _tables: dict[str, ir.Table] = field(default_factory=dict, repr=False)
    _temps: list[str] = field(default_factory=list, repr=False)
    _cached: list[ir.Table] = field(default_factory=list, repr=False)
    _calendar: ir.Table | None = field(default=None, repr=False)
    #: While a query is built for the compiled-SQL cache (``semantic/sqlcache.py``): the
    #: questions about the data it asked, as (ask again on another context, answer).
    _deps: list[tuple[Callable[[Context], Any], Any]] | None = field(default=None, repr=False)

    def _note(self, ask: Callable[[Context], Any], answer: Any) -> None:
        """Record that the SQL being built depends on ``answer`` (see ``_deps``)."""
        if self._deps is not None:
            self._deps.append((ask, answer))

    def _keep(self, name: str, expr: ir.Table) -> ir.Table:
        """``expr`` itself, or (with ``materialize``) a temporary table holding it."""
        if not self.materialize:
            return expr
        if self.store.engine == "pyspark":  # no temporary tables in Ibis's Spark backend
            cached = expr.cache()  # a cached temporary view, released by close()
            self._cached.append(cached)
            return cached
        temp = f"_salespulse_{name}_{uuid.uuid4().hex[:12]}"
        table = self.store.con.create_table(temp, expr, temp=True)
        self._temps.append(temp)
        return table

    def close(self) -> None:
        """Drop the temporary tables of a materialized context."""
        while self._temps:
            self.store.con.drop_table(self._temps.pop(), force=True)
        while self._cached:
            self._cached.pop().release()

    @cached_property
    def as_of_at(self) -> datetime:
        """Exclusive UTC upper bound: the end of local day ``as_of``."""
        return timecal.as_of_instant(self.as_of, self.settings.timezone)

    @property
    def cutoff(self) -> ir.TimestampScalar:
        return ibis.timestamp(self.as_of_at)

    def t(self, name: str) -> ir.Table:
        """Stored table ``name`` (looked up once per context: each lookup reads the
        database's catalogue, and a page asks for the same tables dozens of times)."""
        if name not in self._tables:
            self._tables[name] = self.store.table(name)
        return self._tables[name]

    def local(self, ts: ir.TimestampValue) -> ir.TimestampValue:
        return timecal.to_local(ts, self.settings.timezone, self.store.engine)

    @cached_property
    def _shared(self) -> dict[str, object]:
        """Probes that do not depend on ``as_of``, shared by every context on the same
        database and data version (a new version, after any write, starts empty). Not
        shared for in-memory databases or data never written through a transaction (no
        version to tell two states apart)."""
        version = self.data_version
        if version == "initial" or self.store.location == ":memory:":
            return {}
        return shared_probes(self.store.location, version)

    @cached_property
    def data_version(self) -> str:
        """The store's data version when this context first asked (see
        :meth:`Store.data_version`)."""
        return self.store.data_version()

    def _probe(self, key: str, compute: Callable[[], bool]) -> bool:
        if key not in self._flags:
            shared = self._shared
            if key not in shared:
                shared[key] = compute()
            self._flags[key] = bool(shared[key])
        return self._flags[key]

    def has_rows(self, name: str) -> bool:
        """Whether canonical table ``name`` holds any row (cached per data version)."""
        answer = self._probe(f"rows:{name}", lambda: bool(self.t(name).limit(1).count().execute()))
        self._note(lambda c: c.has_rows(name), answer)
        return answer

    def has_value(self, name: str, column: str) -> bool:
        """Whether any row of ``name`` has ``column`` filled in (cached per data version)."""

        def ask() -> bool:  # the table is looked up only to ask (a catalogue query)
            t = self.t(name)
            return bool(t.filter(t[column].notnull()).limit(1).count().execute())

        answer = self._probe(f"value:{name}.{column}", ask)
        self._note(lambda c: c.has_value(name, column), answer)
        return answer

    @cached_property
    def currencies_without_rate(self) -> list[str]:
        """Currencies used by deals or contracts that cannot be converted on ``as_of``
        (cached per data version)."""
        rc = self.settings.reporting_currency
        key = f"currencies:{rc}:{self.as_of.isoformat()}"
        shared = self._shared
        if key not in shared:
            used = self.t("deals").select("currency").union(self.t("contracts").select("currency"))
            used = used.filter(used.currency.notnull() & (used.currency != rc)).distinct()
            known = self.rates.select(_c="currency")
            gaps = used.anti_join(known, used.currency == known._c)
            shared[key] = sorted(str(c) for c in gaps.currency.execute())
        return list(cast(list[str], shared[key]))

    @property
    def target_kpi_ids(self) -> frozenset[str]:
        """KPI ids that have at least one target (cached per data version)."""
        return frozenset(self.target_grains)

    @property
    def target_grains(self) -> dict[str, frozenset[str]]:
        """KPI id → the period grains its targets are set at (cached per data version)."""
        if "target_grains" not in self._values:
            shared = self._shared
            if "targets:grains" not in shared:
                f = self.t("targets").select("kpi_id", "period_grain").distinct().execute()
                out: dict[str, set[str]] = {}
                for k, g in zip(f["kpi_id"], f["period_grain"], strict=True):
                    out.setdefault(str(k), set()).add(str(g))
                shared["targets:grains"] = {k: frozenset(v) for k, v in out.items()}
            self._values["target_grains"] = shared["targets:grains"]  # type: ignore[assignment]
        answer = cast(dict[str, frozenset[str]], self._values["target_grains"])
        self._note(lambda c: c.target_grains, answer)
        return answer

    def distinct_values(self, key: str, column: ir.Column) -> frozenset[str]:
        """The distinct non-empty values of ``column`` as strings (cached per context)."""
        if key not in self._values:
            shared = self._shared
            if f"values:{key}" not in shared:
                vals = column.name("v").as_table().distinct().v.execute()
                shared[f"values:{key}"] = frozenset(
                    str(v) for v in vals if v is not None and v == v
                )
            self._values[key] = cast(frozenset[str], shared[f"values:{key}"])
        answer = self._values[key]
        self._note(lambda c: c.distinct_values(key, column), answer)
        return answer

    def known_at_as_of(self, key: str, condition: ir.BooleanScalar) -> bool:
        """Evaluate a yes/no question about the as-of data once per context (and per data
        version: ``key`` must name the question, the as-of instant completes it)."""
        if key not in self._flags:
            shared, skey = self._shared, f"known:{key}@{self.as_of_at.isoformat()}"
            if skey not in shared:
                shared[skey] = bool(condition.execute())
            self._flags[key] = bool(shared[skey])
        answer = self._flags[key]
        self._note(lambda c: c.known_at_as_of(key, condition), answer)
        return answer

    def business_calendar(self) -> ir.Table:
        """Business days (with opening hours in UTC) from the first lead to ``as_of``
        (built once per context)."""
        start = self.calendar_start
        self._note(lambda c: c.calendar_start, start)
        if self._calendar is None:
            self._calendar = self._business_calendar(start)
        return self._calendar

    @cached_property
    def calendar_start(self) -> date:
        """The first lead's (UTC) day, or ``as_of`` without leads: where the business
        calendar begins."""
        first = self.t("leads").created_at.min().execute()
        return first.date() if first is not None and not pd.isna(first) else self.as_of

    def _business_calendar(self, start: date) -> ir.Table:
        cal = timecal.business_calendar(
            start - timedelta(days=7), self.as_of + timedelta(days=7), self.settings
        )
        if self.store.engine == "postgres":
            return self._indexed_calendar(cal.frame)
        return cal.table()

    def _indexed_calendar(self, frame: pd.DataFrame) -> ir.Table:
        """PostgreSQL: the calendar as a session's temporary table with an index on
        ``open_at DESC NULLS LAST``. Ibis renders an ASOF join there as a ``LATERAL (…
        ORDER BY open_at DESC NULLS LAST LIMIT 1)`` per row: without that index, a scan
        and sort of the whole calendar per lead (first_response_median at ``large``: 47 s,
        8 s with it). Named by its content, so the contexts of one session share it; the
        session's end drops it."""
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        name = f"_salespulse_bcal_{digest.hexdigest()[:16]}"
        con = self.store.con
        with _calendar_lock:
            if name not in con.list_tables():
                con.create_table(name, frame, temp=True)
                # the order Ibis's LATERAL asks for (a plain index gives DESC NULLS FIRST)
                con.raw_sql(f'CREATE INDEX ON "{name}" (open_at DESC NULLS LAST)')
                con.raw_sql(f'ANALYZE "{name}"')
        return con.table(name)

    # -- dimensions ------------------------------------------------------------------
    @cached_property
    def reps(self) -> ir.Table:
        """rep_id, rep_name, team_id, team_name, region, hired_on, left_on, manager."""
        r, tm = self.t("reps"), self.t("teams")
        j = r.left_join(tm, r.team_id == tm.team_id)
        return j.select(
            rep_id=r.rep_id,
            rep_name=r.name,
            team_id=r.team_id,
            team_name=tm.name,
            region=ibis.coalesce(r.region, tm.region),
            hired_on=r.hired_on,
            left_on=r.left_on,
            manager_rep_id=r.manager_rep_id,
        )

    @cached_property
    def rep_dims(self) -> ir.Table:
        return self.reps.select("rep_id", "team_id", "region")

    def _with_team(self, t: ir.Table, rep: str) -> ir.Table:
        """``t`` with ``team_id`` and ``region`` of the rep in column ``rep`` (null when
        the context's queries break down and filter by neither: see ``breakdowns``)."""
        if not (self.needs(Dim.team) or self.needs(Dim.region)):
            return t.mutate(team_id=ibis.null("string"), region=ibis.null("string"))
        rd = self.rep_dims.rename(_team_rep="rep_id")
        return without(t.left_join(rd, t[rep] == rd._team_rep), "_team_rep")

    @cached_property
    def stages(self) -> ir.Table:
        s = self.t("stages")
        return s.select(
            "stage_id",
            "pipeline_id",
            stage_name=s.name,
            stage_order=s.stage_order,
            stage_probability=s.probability,
            is_closed=s.is_closed,
            is_won=s.is_won,
            is_required=s.is_required.fill_null(False),
        )

    @cached_property
    def rates(self) -> ir.Table:
        """currency, rate: the latest rate per currency valid on ``as_of``."""
        r = self.t("currency_rates").filter(_.valid_from <= self.as_of)
        latest = r.group_by("currency").aggregate(valid_from=_.valid_from.max())
        j = r.inner_join(latest, ["currency", "valid_from"])
        return j.select(currency=j.currency, rate=j.rate)

    def to_reporting(self, table: ir.Table, amount: str, currency: str) -> ir.Table:
        """Adds ``amount_eur``: ``amount`` converted to the reporting currency."""
        return self.in_reporting(table, currency, amount_eur=amount)

    def in_reporting(self, table: ir.Table, currency: str, **amounts: str) -> ir.Table:
        """Adds each ``new=amount`` of ``amounts``: column ``amount`` converted to the
        reporting currency (one join with the rates for all of them)."""
        rc = self.settings.reporting_currency
        rates = self.rates.rename(rate_currency="currency")
        j = table.left_join(rates, table[currency] == rates.rate_currency)
        cur = j[currency]
        same = cur.isnull() | (cur == rc)
        converted = {
            new: ibis.cases((same, j[amount]), else_=j[amount] * j.rate).cast("float64")
            for new, amount in amounts.items()
        }
        return without(j.mutate(**converted), "rate_currency", "rate")

    # -- leads -------------------------------------------------------------------------
    @cached_property
    def leads(self) -> ir.Table:
        """Leads created by ``as_of`` with lifecycle dates as known then, and breakdowns."""
        lead = self.t("leads").filter(_.created_at < self.cutoff)
        cut = self.cutoff

        def known(col: ir.TimestampValue) -> ir.TimestampValue:
            return ibis.ifelse(col < cut, col, ibis.null("timestamp"))

        assigned = lead.owner_rep_id.notnull() & (
            lead.assigned_at.isnull() | (lead.assigned_at < cut)
        )
        base = lead.select(
            "lead_id",
            "account_id",
            "referring_account_id",
            "job_title",
            "created_at",
            "disqualified_reason",
            "company",
            channel=lead.channel.fill_null(NO_CHANNEL),
            owner_rep_id=ibis.ifelse(assigned, lead.owner_rep_id, ibis.null("string")),
            lead_industry=lead.industry,
            lead_employees=lead.employees,
            assigned_at=known(lead.assigned_at),
            mql_at=known(lead.mql_at),
            sql_at=known(lead.sql_at),
            disqualified_at=known(lead.disqualified_at),
        )
        if self.needs(Dim.industry):  # industry and company size: the account's first
            acc = self.t("accounts").select(
                acc_id="account_id", acc_industry="industry", acc_employees="employees"
            )
            j = base.left_join(acc, base.account_id == acc.acc_id)
            j = j.mutate(
                industry=ibis.coalesce(j.acc_industry, j.lead_industry),
                employees=ibis.coalesce(j.acc_employees, j.lead_employees),
            )
            j = without(j, "acc_id", "acc_industry", "acc_employees")
        else:
            j = base.mutate(
                industry=ibis.null(base.lead_industry.type()),
                employees=ibis.null(base.lead_employees.type()),
            )
        j = without(j, "lead_industry", "lead_employees")
        return self._keep("leads", self._with_team(j, "owner_rep_id"))

    # -- deals -------------------------------------------------------------------------

    @property
    def has_stage_visits(self) -> bool:
        """Whether the derived ``stage_visits`` table matches the data (one tiny query)."""
        answer = self._probe(
            "derived:stage_visits", lambda: derived.current(self.store.con, derived.STAGE_VISITS)
        )
        self._note(lambda c: c.has_stage_visits, answer)
        return answer

    @cached_property
    def stage_history(self) -> ir.Table:
        """History rows known at ``as_of``: one per stage entry, with ``left_at`` (next
        entry, null while still there), ``visit`` (1 = first row of the deal), stage
        attributes and the previous row's stage (id and order).

        Read from the derived ``stage_visits`` table when it matches the data (no window
        functions at query time); otherwise computed with windows (same rows)."""
        cut = self.cutoff
        if self.has_stage_visits:
            v = self.store.con.table(derived.STAGE_VISITS).filter(_.entered_at < cut)
            nxt = v.next_entered_at
            left = ibis.ifelse(nxt < cut, nxt, ibis.null("timestamp"))
            v = v.select(
                "deal_id",
                "stage_id",
                "entered_at",
                "changed_by_rep_id",
                "prev_stage_order",
                "prev_stage_id",
                left_at=left,
                visit=v.visit,
                is_last=nxt.isnull() | (nxt >= cut),
            )
            j = v.inner_join(self.stages, "stage_id")
            order = [*(c for c in j.columns if not c.startswith("prev_")), "prev_stage_order"]
            return self._keep("stage_history", j.select(*order, "prev_stage_id"))
        h = self.t("deal_stage_history").filter(_.entered_at < cut)
        w = ibis.window(group_by="deal_id", order_by=["entered_at", "stage_id"])
        h = h.mutate(
            left_at=h.entered_at.lead().over(w),
            visit=ibis.row_number().over(w) + 1,
            is_last=h.entered_at.lead().over(w).isnull(),
        )
        j = h.inner_join(self.stages, "stage_id")
        w2 = ibis.window(group_by="deal_id", order_by=["entered_at", "stage_id"])
        return self._keep(
            "stage_history",
            j.mutate(
                prev_stage_order=j.stage_order.lag().over(w2),
                prev_stage_id=j.stage_id.lag().over(w2),
            ),
        )

    @cached_property
    def deals(self) -> ir.Table:
        """Deals created by ``as_of``, in their state at ``as_of``, with breakdowns.

        Columns: deal_id, rep_id (owner), team_id, region, channel, product_id, product_line,
        pipeline_id, industry, account_id, lead_id, amount_eur, created_at, expected_close_on,
        stage_id, stage_order, is_closed, is_won, outcome, closed_at, has_history, updated_at,
        lost_reason.
        """
        d = self.t("deals").filter(_.created_at < self.cutoff)
        last = self.stage_history.filter(_.is_last).select(
            h_deal="deal_id",
            h_stage="stage_id",
            h_entered="entered_at",
            h_closed="is_closed",
            h_won="is_won",
        )
        j = d.left_join(last, d.deal_id == last.h_deal)
        has_h = j.h_deal.notnull()
        cut = self.cutoff
        closed_plain = j.closed_at.notnull() & (j.closed_at < cut)
        is_closed = ibis.ifelse(has_h, j.h_closed, closed_plain)
        j = without(
            j.mutate(
                has_history=has_h,
                stage_id=ibis.ifelse(has_h, j.h_stage, j.stage_id),
                is_closed=is_closed,
                closed_at=ibis.cases(
                    (has_h & j.h_closed, j.h_entered),
                    (~has_h & closed_plain, j.closed_at),
                    else_=ibis.null("timestamp"),
                ),
                outcome=ibis.cases(
                    (has_h & j.h_closed & j.h_won, ibis.literal("won")),
                    (has_h & j.h_closed, ibis.literal("lost")),
                    (~has_h & closed_plain, j.outcome),
                    else_=ibis.null("string"),
                ),
            ),
            "h_deal",
            "h_stage",
            "h_entered",
            "h_closed",
            "h_won",
        )
        j = j.mutate(is_won=j.outcome.fill_null("") == "won")
        j = self.to_reporting(j, "amount", "currency")
        st = self.stages.select("stage_id", "stage_order", "stage_probability")
        j = without(j.left_join(st, "stage_id"), "stage_id_right")
        return self._keep("deals", self._with_breakdowns(j))

    def needs(self, dim: Dim) -> bool:
        """Whether this context's queries may break down or filter by ``dim`` (see
        :attr:`breakdowns`): a breakdown they do not need may be a null column."""
        return self.materialize or self.breakdowns is None or dim in self.breakdowns

    def _with_breakdowns(self, d: ir.Table) -> ir.Table:
        """Deals ``d`` with their product line, industry, channel and the owner's team and
        region; the owner as ``rep_id``. A breakdown the context's queries do not use
        (:attr:`breakdowns`) is a null column instead of a join: the lead behind a deal's
        channel alone is a hash join over every lead."""
        j = d
        if self.needs(Dim.product_line):
            prod = self.t("products").select(p_id="product_id", product_line="product_line")
            j = without(j.left_join(prod, j.product_id == prod.p_id), "p_id")
        else:
            j = j.mutate(product_line=ibis.null("string"))
        if self.needs(Dim.industry):
            acc = self.t("accounts").select(a_id="account_id", industry="industry")
            j = without(j.left_join(acc, j.account_id == acc.a_id), "a_id")
        else:
            j = j.mutate(industry=ibis.null("string"))
        if self.needs(Dim.channel):
            ld = self.t("leads").select(l_id="lead_id", channel="channel")
            j = without(j.left_join(ld, j.lead_id == ld.l_id), "l_id")
            j = j.mutate(channel=j.channel.fill_null(NO_CHANNEL))
        else:
            j = j.mutate(channel=ibis.null("string"))
        return self._with_team(j, "owner_rep_id").rename(rep_id="owner_rep_id")

    @cached_property
    def deal_dims(self) -> ir.Table:
        """Breakdown columns per deal created by ``as_of`` (for facts built from history
        or activities). None depends on the deal's state or amount, so they come straight
        from the deals table: no last stage, no currency conversion (the same rows and
        values as ``deals``' columns, without their joins)."""
        if self.materialize:  # the temporary deals table holds them already
            return self._deal_dims(self.deals)
        d = self.t("deals").filter(_.created_at < self.cutoff)
        return self._deal_dims(self._with_breakdowns(d))

    @staticmethod
    def _deal_dims(deals: ir.Table) -> ir.Table:
        return deals.select(
            "deal_id",
            "rep_id",
            "team_id",
            "region",
            "channel",
            "product_id",
            "product_line",
            "pipeline_id",
            "industry",
            "account_id",
        )

    @cached_property
    def stage_visits(self) -> ir.Table:
        """One row per stage entry with the deal's breakdowns and the time spent (days, to
        the next entry or, while still there, to ``as_of``)."""
        h = self.stage_history
        j = h.inner_join(self.deal_dims, "deal_id")
        end = ibis.coalesce(j.left_at, self.cutoff)
        return j.mutate(
            days_in_stage=days_between(j.entered_at, end), is_current=j.left_at.isnull()
        )

    # -- activities --------------------------------------------------------------------
    @cached_property
    def activities(self) -> ir.Table:
        """Activities that happened by ``as_of``, with the rep's team and region."""
        a = self.t("activities").filter(_.occurred_at < self.cutoff)
        j = self._with_team(a, "rep_id")
        cut = self.cutoff
        return j.mutate(
            completed_at=ibis.ifelse(j.completed_at < cut, j.completed_at, ibis.null("timestamp")),
            is_outbound=j.direction.fill_null("outbound") == "outbound",
        )

    @cached_property
    def outbound_contacts(self) -> ir.Table:
        """Outbound calls, e-mails and meetings with a lead by ``as_of``, from the activities
        table itself: no rep team or region (``activities``), whose join would touch every
        activity."""
        return self.t("activities").filter(
            _.occurred_at < self.cutoff,
            _.direction.fill_null("outbound") == "outbound",
            _.activity_type.isin(["call", "email", "meeting"]),
            _.lead_id.notnull(),
        )

    @cached_property
    def first_outbound(self) -> ir.Table:
        """lead_id → first outbound call/e-mail/meeting by the lead's owner (UTC)."""
        a = self.outbound_contacts
        # first per (lead, rep), then keep the owner's: the join then meets one row per
        # pair instead of every activity
        per_rep = a.group_by(_l="lead_id", _r="rep_id").aggregate(_at=a.occurred_at.min())
        lead = self.leads.select(l_id="lead_id", l_owner="owner_rep_id")
        j = per_rep.inner_join(lead, [per_rep._l == lead.l_id, per_rep._r == lead.l_owner])
        first = j.select(lead_id=j._l, first_outbound_at=j._at)
        return self._keep("first_outbound", first)

    # -- contracts ---------------------------------------------------------------------

    @cached_property
    def contracts(self) -> ir.Table:
        """Contracts signed by ``as_of`` with value and recurring charge in the reporting
        currency (``value_eur``, ``recurring_eur``) and the account owner's breakdowns."""
        return self._contracts(converted=True)

    @cached_property
    def contract_dates(self) -> ir.Table:
        """:attr:`contracts` with their amounts as stored (no join with the currency
        rates): for KPIs that use a contract's dates only."""
        return self._contracts(converted=False)

    def _contracts(self, converted: bool) -> ir.Table:
        c = self.t("contracts").filter(_.signed_on <= self.as_of)
        if converted:
            c = self.in_reporting(
                c, "currency", value_eur="value", recurring_eur="recurring_amount"
            )
        owner = [Dim.rep, Dim.team, Dim.region]
        if not any(self.needs(d) for d in [*owner, Dim.industry]):  # see ``breakdowns``
            null = ibis.null("string")
            return c.mutate(industry=null, rep_id=null, team_id=null, region=null)
        acc = self.t("accounts").select(
            a_id="account_id", industry="industry", rep_id="owner_rep_id"
        )
        j = without(c.left_join(acc, c.account_id == acc.a_id), "a_id")
        rd = self.rep_dims.rename(r_id="rep_id")
        name = "contracts" if converted else "contract_dates"
        return self._keep(name, without(j.left_join(rd, j.rep_id == rd.r_id), "r_id"))
