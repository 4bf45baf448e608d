"""Customer KPIs from contracts: contract value (S1), lifetime value (S2), customer
retention and churn (S9).

A *customer* on a date is an account with a contract active that day (start ≤ day ≤ end,
open-ended contracts stay active) or a contract signed within the customer window before
it (setting, default 365 days). Contract values are in the reporting currency.
Breakdowns by rep, team and region follow the account owner.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import ibis
import ibis.expr.types as ir
from ibis import _

from salespulse.semantic.kpi import (
    REP_DIMS,
    Derived,
    Dim,
    Facts,
    Input,
    Kind,
    Kpi,
    Unit,
    same_rows,
)
from salespulse.semantic.measures import Count, Mean, Ratio
from salespulse.semantic.model import Context
from salespulse.semantic.relations import without
from salespulse.semantic.timecal import Grain
from salespulse.warehouse.schema import BILLING_MONTHS

CUSTOMER_DIMS = (*REP_DIMS, Dim.industry)
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def _with_charges(c: ir.Table) -> ir.Table:
    """``c`` (``Context.contracts``) with ``charge_per_year``: a subscription's recurring
    charge per year in the reporting currency (12 × monthly, 4 × quarterly, 1 × yearly);
    null for a one-off order or contract."""
    per_year = ibis.cases(*((c.billing_period == p, 12.0 / m) for p, m in BILLING_MONTHS.items()))
    return c.mutate(charge_per_year=c.recurring_eur * per_year)


def contract_facts(ctx: Context) -> Facts:
    """Contracts by signing date, with their term in whole months (at least one;
    open-ended = 12) and value per year of term (a term under a year — a one-off order —
    is the year's value as it is, not scaled up to twelve months; a subscription: its
    charge per year)."""
    c = _with_charges(ctx.contracts)
    days = (
        c.end_on.cast("timestamp").epoch_seconds() - c.start_on.cast("timestamp").epoch_seconds()
    ).cast("float64") / 86400 + 1
    months = ibis.greatest((days / DAYS_PER_MONTH).round(), 1.0)
    c = c.mutate(term_months=ibis.coalesce(months, 12.0))
    by_term = c.value_eur * 12.0 / ibis.greatest(c.term_months, 12.0)
    c = c.mutate(value_per_year=ibis.coalesce(c.charge_per_year, by_term))
    return Facts(c, "contracts", "contract_id", at="signed_on")


def _customer_periods(
    c: ir.Table, periods: ir.Table, dims: frozenset[Dim], window_days: int
) -> ir.Table:
    """Accounts × periods: ``at_start`` / ``at_end`` (a customer on the first / last day),
    ``new`` (first became a customer in the period: its first signing or start, whichever
    came first, lies in it, and it is a customer at the end) and ``reactivated`` (a customer
    at the end that was one before the period, but not at its start: won back).

    Grouped by account × period over the contract dates alone, as hand-written SQL would
    (the breakdowns are joined after: :attr:`Facts.dims`). The group holds all the
    account's contracts, so "its first signing-or-start lies in the period" is "one
    contract's lies in it and none lies before it"."""

    def days_before(d: ir.DateValue, n: int) -> ir.DateValue:
        # a date, not the timestamp DuckDB makes of date - interval (Ibis drops a plain
        # cast to date, its type already is one)
        return (d - ibis.interval(days=n)).cast("timestamp").date()

    p = periods.select(  # the days each period asks about, as dates (per period, not row)
        "period",
        "p_start_on",
        _last=days_before(periods.p_end_on, 1),
        _start_window=days_before(periods.p_start_on, window_days),
        _last_window=days_before(periods.p_end_on, 1 + window_days),
    )
    j = c.cross_join(p)

    def active(day: ir.DateValue, window_start: ir.DateValue) -> ir.BooleanValue:
        running = (j.start_on <= day) & (j.end_on.isnull() | (j.end_on >= day))
        recent = (j.signed_on <= day) & (j.signed_on > window_start)
        return running | recent

    first = ibis.least(j.signed_on, j.start_on)
    per = j.group_by(["account_id", "period"]).aggregate(
        at_start=active(j.p_start_on, j._start_window).any(),
        at_end=active(j._last, j._last_window).any(),
        _in=((first >= j.p_start_on) & (first <= j._last)).any(),
        _before=(first < j.p_start_on).any(),
    )
    first_new = per._in & ~per._before
    return per.select(
        "account_id",
        "period",
        "at_start",
        "at_end",
        new=first_new & per.at_end,
        reactivated=per.at_end & ~per.at_start & ~first_new,
    )


def _customer_detail(ctx: Context) -> Callable[[ir.Table], ir.Table]:
    """Drill-down columns: each account's contracts signed by the as-of date and their
    total value (reporting currency), in the records' usual column order."""

    def detail(t: ir.Table) -> ir.Table:
        c = ctx.contracts
        per = c.group_by(_da="account_id").aggregate(
            contracts=c.contract_id.nunique(), value_eur=c.value_eur.sum()
        )
        t = without(t.left_join(per, t.account_id == per._da), "_da")
        head = ["account_id", "period", *(d.column for d in CUSTOMER_DIMS)]
        tail = ["at_start", "at_end", "contracts", "value_eur", "new", "reactivated"]
        return t.select(*head, *tail, *(x for x in t.columns if x not in (*head, *tail)))

    return detail


def customer_facts(ctx: Context) -> Facts:
    """Contract dates (signed by as-of) per account, for period facts; breakdowns by the
    account's industry and owner (rep, team, region) in ``dims``."""
    c = ctx.t("contracts").filter(_.signed_on <= ctx.as_of)
    c = c.select("account_id", "signed_on", "start_on", "end_on")
    acc = ctx.t("accounts").select("account_id", "industry", rep_id="owner_rep_id")
    rd = ctx.rep_dims.rename(_r="rep_id")
    acc = without(acc.left_join(rd, acc.rep_id == rd._r), "_r")
    return Facts(
        c,
        "accounts",
        "account_id",
        per_period=partial(_customer_periods, window_days=ctx.settings.customer_window_days),
        per_period_rows=same_rows,  # accounts × periods, whatever the breakdowns
        default_grain=Grain.year,
        dims=acc.select("account_id", *(d.column for d in CUSTOMER_DIMS)),
        detail=_customer_detail(ctx),
    )


def lifetime_facts(ctx: Context) -> Facts:
    """One row per customer with a contract by the as-of date: purchases (contracts),
    lifespan in years (first contract's start to the last contract's end for customers
    that left; up to the as-of date for current ones) and purchases per year (over at least
    one year of lifespan). Valid from the first signing (a snapshot as of the date)."""
    c = ctx.contract_dates
    as_of = ibis.literal(ctx.as_of)
    end = ibis.coalesce(c.end_on, as_of)
    # grouped by the account and the breakdowns the queries use (the owner's, the
    # industry: one value per account); the others are null columns
    dims = [d.column for d in CUSTOMER_DIMS]
    used = [d.column for d in CUSTOMER_DIMS if ctx.needs(d)]
    per = c.group_by(["account_id", *used]).aggregate(
        purchases=c.count(),
        first_on=c.start_on.min(),
        first_signed=c.signed_on.min(),
        last_end=end.max(),
        active=((c.start_on <= as_of) & (end >= as_of)).any(),
    )
    if unused := [col for col in dims if col not in used]:
        per = per.mutate(**{col: ibis.null("string") for col in unused})
        rest = [x for x in per.columns if x not in ("account_id", *dims)]
        per = per.select("account_id", *dims, *rest)
    until = ibis.ifelse(per.active, as_of, ibis.least(per.last_end, as_of))
    span = (
        until.cast("timestamp").epoch_seconds() - per.first_on.cast("timestamp").epoch_seconds()
    ) / (86400.0 * DAYS_PER_YEAR)
    per = per.mutate(lifespan_years=ibis.greatest(span.cast("float64"), 0.0))
    per = per.mutate(
        purchases_per_year=per.purchases / ibis.greatest(per.lifespan_years, 1.0),
        valid_from=per.first_signed.cast("timestamp"),
        valid_to=ibis.null("timestamp"),
    )
    return Facts(per, "accounts", "account_id", valid_from="valid_from", valid_to="valid_to")


def purchase_facts(ctx: Context) -> Facts:
    """Contracts signed by the as-of date (each a purchase), as a snapshot. An open-ended
    subscription is worth the charges billed from its start up to the as-of date (each
    billing period that has begun; none before it starts), not its stored one-year value."""
    c = _with_charges(ctx.contracts)
    as_of = ibis.literal(ctx.as_of)
    months = ibis.cases(*((c.billing_period == p, float(m)) for p, m in BILLING_MONTHS.items()))
    s = c.start_on
    elapsed = (  # whole months from the start to the as-of date
        (as_of.year() - s.year()) * 12
        + (as_of.month() - s.month())
        - ibis.ifelse(as_of.day() < s.day(), 1, 0)
    ).cast("float64")
    begun = ibis.ifelse(c.start_on <= as_of, (elapsed / months).floor() + 1, 0.0)
    to_date = c.recurring_eur * begun  # the charges billed so far
    open_sub = c.end_on.isnull() & c.charge_per_year.notnull()
    c = c.mutate(
        value_eur=ibis.ifelse(open_sub, to_date, c.value_eur),
        valid_from=_.signed_on.cast("timestamp"),
        valid_to=ibis.null("timestamp"),
    )
    return Facts(c, "contracts", "contract_id", valid_from="valid_from", valid_to="valid_to")


CON = ("contracts",)

KPIS = (
    Kpi(
        "acv",
        "Annual contract value (ACV)",
        "Jaarlijkse contractwaarde (ACV)",
        "The source's formula: total value of the contracts signed in the year / number of "
        "those contracts. A contract counts once, in the year it was signed, with its whole "
        "value (see the per-year variant).",
        Unit.money,
        contract_facts,
        Mean(_.value_eur),
        dims=(*CUSTOMER_DIMS, Dim.product),
        source="S1",
        primary=True,
        requires=CON,
        default_by=("year",),
    ),
    Kpi(
        "acv_per_year",
        "Annual contract value per year of term",
        "Contractwaarde per contractjaar",
        "Variant of ACV: each contract's value divided by its term in years (whole months; "
        "open-ended contracts count as one year; a subscription counts its recurring charge "
        "per year), averaged over the contracts signed in the period.",
        Unit.money,
        contract_facts,
        Mean(_.value_per_year),
        dims=(*CUSTOMER_DIMS, Dim.product),
        source="S1",
        requires=CON,
        default_by=("year",),
    ),
    Kpi(
        "clv_purchase_value",
        "CLV: average purchase value",
        "CLV: gemiddelde aankoopwaarde",
        "Average value of the contracts signed by the as-of date (one contract = one "
        "purchase; an open-ended subscription is worth the charges billed from its start "
        "up to the as-of date): the first factor of CLV.",
        Unit.money,
        purchase_facts,
        Mean(_.value_eur),
        kind=Kind.snapshot,
        dims=CUSTOMER_DIMS,
        source="S2",
        requires=CON,
        point_only=True,
    ),
    Kpi(
        "clv_purchases_per_year",
        "CLV: purchases per customer per year",
        "CLV: aankopen per klant per jaar",
        "Average over customers of their contracts per year of lifespan (at least one "
        "year): the second factor of CLV.",
        Unit.count,
        lifetime_facts,
        Mean(_.purchases_per_year),
        kind=Kind.snapshot,
        dims=CUSTOMER_DIMS,
        source="S2",
        requires=CON,
        point_only=True,
    ),
    Kpi(
        "clv_lifespan_years",
        "CLV: average customer lifespan",
        "CLV: gemiddelde klantlevensduur",
        "Average over customers of the years from their first contract's start to the last "
        "contract's end (customers that left) or to the as-of date (current customers): the "
        "third factor of CLV.",
        Unit.count,
        lifetime_facts,
        Mean(_.lifespan_years),
        kind=Kind.snapshot,
        dims=CUSTOMER_DIMS,
        source="S2",
        requires=CON,
        point_only=True,
    ),
    Kpi(
        "clv",
        "Customer lifetime value (CLV)",
        "Klantwaarde (CLV)",
        "Average purchase value × average purchases per year per customer × average "
        "customer lifespan in years, over all customers with a contract by the as-of date. "
        "Lifespan runs from the first contract's start to the last contract's end for "
        "customers that left; for current customers up to the as-of date (so young "
        "customers lower it). Purchases per year use at least one year of lifespan.",
        Unit.money,
        None,
        Derived(
            {
                "avg_purchase_value": Input("clv_purchase_value"),
                "purchases_per_year": Input("clv_purchases_per_year"),
                "lifespan_years": Input("clv_lifespan_years"),
            },
            numerator=_.avg_purchase_value * _.purchases_per_year * _.lifespan_years,
        ),
        kind=Kind.derived,
        dims=CUSTOMER_DIMS,
        source="S2",
        primary=True,
        requires=CON,
        point_only=True,
        drill="acv",
    ),
    Kpi(
        "customer_retention",
        "Customer retention",
        "Klantbehoud",
        "Of the customers at the start of the period, the share still a customer at its "
        "end, × 100 (0-100%). This is the source's (customers at end − new customers) / "
        "customers at start when no former customer is won back; won-back customers are "
        "not counted as retained (see customer_reactivations).",
        Unit.percent,
        customer_facts,
        Ratio(Count(where=_.at_start & _.at_end), Count(where=_.at_start)),
        kind=Kind.period,
        dims=CUSTOMER_DIMS,
        source="S9",
        primary=True,
        requires=CON,
        default_by=("year",),
        scale=100.0,
    ),
    Kpi(
        "customer_churn",
        "Customer churn",
        "Klantverloop",
        "Of the customers at the start of the period, the share that is no longer a "
        "customer at its end, × 100 (100 − retention).",
        Unit.percent,
        customer_facts,
        Ratio(Count(where=_.at_start & ~_.at_end), Count(where=_.at_start)),
        kind=Kind.period,
        dims=CUSTOMER_DIMS,
        source="S9",
        requires=CON,
        higher_is_better=False,
        default_by=("year",),
        scale=100.0,
    ),
    Kpi(
        "customer_reactivations",
        "Customers won back",
        "Teruggewonnen klanten",
        "Former customers (a customer before the period, not at its start) that are a "
        "customer again at its end.",
        Unit.count,
        customer_facts,
        Count(where=_.reactivated),
        kind=Kind.period,
        dims=CUSTOMER_DIMS,
        source="S9",
        requires=CON,
        default_by=("year",),
    ),
    Kpi(
        "new_customers",
        "New customers",
        "Nieuwe klanten",
        "Accounts that became a customer for the first time in the period (first signing "
        "or start, whichever came first) and are a customer at its end.",
        Unit.count,
        customer_facts,
        Count(where=_.new),
        kind=Kind.period,
        dims=CUSTOMER_DIMS,
        source="S9",
        requires=CON,
        default_by=("year",),
    ),
)
