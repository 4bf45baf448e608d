"""Customer KPIs from contracts: contract value (S1), lifetime value (S2), customer
retention and churn (S9).

A *customer* on a date is an account with a contract active that day (start ≤ day ≤ end,
open-ended contracts stay active) or a contract signed within the customer window before
it (setting, default 365 days). Contract values are in the reporting currency.
Breakdowns by rep, team and region follow the account owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis import _

from salespulse.semantic.catalogue.common import grouped, key_columns, period_table
from salespulse.semantic.kpi import COMPUTED_RATIO, REP_DIMS, Dim, Facts, Kpi, Unit, computed
from salespulse.semantic.measures import Mean, ratio_value
from salespulse.semantic.model import Context
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.query import Plan, Query

CUSTOMER_DIMS = (*REP_DIMS, Dim.industry)
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def contract_facts(ctx: Context) -> Facts:
    """Contracts by signing date, with their term in whole months (at least one;
    open-ended = 12) and value per year of term."""
    c = ctx.contracts
    days = (
        c.end_on.cast("timestamp").epoch_seconds() - c.start_on.cast("timestamp").epoch_seconds()
    ).cast("float64") / 86400 + 1
    months = ibis.greatest((days / DAYS_PER_MONTH).round(), 1.0)
    c = c.mutate(term_months=ibis.coalesce(months, 12.0))
    c = c.mutate(value_per_year=c.value_eur * 12.0 / c.term_months)
    return Facts(c, "contracts", "contract_id", at="signed_on")


def _filtered_contracts(ctx: Context, p: Plan) -> ir.Table:
    c = ctx.contracts
    for dim, values in p.where:
        c = c.filter(c[dim.column].cast("string").isin(list(values)))
    return c


def _customer_rows(ctx: Context, p: Plan, q: Query) -> tuple[ir.Table, bool]:
    """Contracts × periods with ``at_start`` / ``at_end`` (the account is a customer on the
    first / last day by this contract) and ``new`` (the account first became a customer in
    the period, on its first signing or start, whichever came first)."""
    periods, with_period = period_table(ctx, p, q, Grain.year)
    c = _filtered_contracts(ctx, p)
    window = ctx.settings.customer_window_days
    first = ctx.contracts.group_by(_fa="account_id").aggregate(
        first_on=ibis.least(_.signed_on, _.start_on).min()
    )
    c = c.left_join(first, c.account_id == first._fa).drop("_fa")
    j = c.cross_join(periods)
    last_day = j.p_end_on - ibis.interval(days=1)

    def active(day: ir.DateValue) -> ir.BooleanValue:
        running = (j.start_on <= day) & (j.end_on.isnull() | (j.end_on >= day))
        recent = (j.signed_on <= day) & (j.signed_on > day - ibis.interval(days=window))
        return running | recent

    new = (j.first_on >= j.p_start_on) & (j.first_on <= last_day)
    at_end = active(last_day)
    return j.mutate(at_start=active(j.p_start_on), at_end=at_end, new=new & at_end), with_period


def _customer_retention(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    """S9: (customers at end − new customers in the period) / customers at start × 100."""
    j, with_period = _customer_rows(ctx, p, q)
    keys = key_columns(p, with_period)
    groups = {k: (j[k] if k == "period" else j[Dim(k).column]) for k in keys}
    agg = grouped(
        j,
        groups,
        at_start=j.account_id.nunique(where=j.at_start).cast("float64"),
        at_end=j.account_id.nunique(where=j.at_end).cast("float64"),
        new=j.account_id.nunique(where=j.new).cast("float64"),
    )
    agg = agg.mutate(numerator=agg.at_end - agg.new, denominator=agg.at_start)
    agg = agg.mutate(value=ratio_value(agg.numerator, agg.denominator, 100.0))
    return agg.drop("at_start", "at_end", "new").execute()


def _customer_records(ctx: Context, p: Plan, q: Query) -> ir.Table:
    """One row per account that was a customer at the start or end of the period, with
    ``in_numerator`` = retained (a customer at the end that is not new)."""
    j, _ = _customer_rows(ctx, p, q)
    per = j.group_by("account_id").aggregate(
        at_start=j.at_start.any(),
        at_end=j.at_end.any(),
        new=j.new.any(),
        contracts=j.contract_id.nunique(),
        value_eur=j.value_eur.sum(),
    )
    per = per.filter(per.at_start | per.at_end)
    return per.mutate(in_numerator=per.at_end & ~per.new).order_by("account_id")


def _customer_churn(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    r = _customer_retention(ctx, p, q)
    return r.assign(value=100.0 - r["value"])


def _clv(ctx: Context, p: Plan, q: Query) -> pd.DataFrame:
    """S2 as of a date; see the KPI definition."""
    c = _filtered_contracts(ctx, p)
    as_of = ibis.literal(ctx.as_of)
    end = ibis.coalesce(c.end_on, as_of)
    dims = [d.column for d in p.dims]
    per_cust = c.group_by(["account_id", *dims]).aggregate(
        n=c.count(),
        first_on=c.start_on.min(),
        last_end=end.max(),
        active=((c.start_on <= as_of) & (end >= as_of)).any(),
    )
    until = ibis.ifelse(per_cust.active, as_of, ibis.least(per_cust.last_end, as_of))
    span = (
        (
            until.cast("timestamp").epoch_seconds()
            - per_cust.first_on.cast("timestamp").epoch_seconds()
        )
        / 86400.0
        / DAYS_PER_YEAR
    )
    per_cust = per_cust.mutate(lifespan=ibis.greatest(span.cast("float64"), 0.0))
    per_cust = per_cust.mutate(per_year=per_cust.n / ibis.greatest(per_cust.lifespan, 1.0))
    by = {d: per_cust[d] for d in dims}
    cust = grouped(
        per_cust,
        by,
        lifespan_years=per_cust.lifespan.mean(),
        purchases_per_year=per_cust.per_year.mean(),
    )
    val = grouped(c, {d: c[d] for d in dims}, avg_purchase_value=c.value_eur.mean())
    out = cust.inner_join(val, dims) if dims else cust.cross_join(val)
    out = out.mutate(value=out.avg_purchase_value * out.purchases_per_year * out.lifespan_years)
    keys = {d.value: out[d.column] for d in p.dims}
    return out.select(
        **keys,
        avg_purchase_value=out.avg_purchase_value,
        purchases_per_year=out.purchases_per_year,
        lifespan_years=out.lifespan_years,
        value=out.value,
    ).execute()


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
        "open-ended contracts count as one year), averaged over the contracts signed in the "
        "period.",
        Unit.money,
        contract_facts,
        Mean(_.value_per_year),
        dims=(*CUSTOMER_DIMS, Dim.product),
        source="S1",
        requires=CON,
        default_by=("year",),
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
        computed,
        COMPUTED_RATIO,
        dims=CUSTOMER_DIMS,
        source="S2",
        primary=True,
        requires=CON,
        point_only=True,
        compute=_clv,
        drill="acv",
    ),
    Kpi(
        "customer_retention",
        "Customer retention",
        "Klantbehoud",
        "The source's formula: (customers at the end of the period − new customers in the "
        "period) / customers at the start × 100.",
        Unit.percent,
        computed,
        COMPUTED_RATIO,
        dims=CUSTOMER_DIMS,
        source="S9",
        primary=True,
        requires=CON,
        default_by=("year",),
        compute=_customer_retention,
        drill=_customer_records,
    ),
    Kpi(
        "customer_churn",
        "Customer churn",
        "Klantverloop",
        "100 − customer retention: the share of customers lost in the period, in %.",
        Unit.percent,
        computed,
        COMPUTED_RATIO,
        dims=CUSTOMER_DIMS,
        source="S9",
        requires=CON,
        higher_is_better=False,
        default_by=("year",),
        compute=_customer_churn,
        drill=_customer_records,
    ),
)
