"""Rollups: a KPI's additive parts per fine key, from which every filter combination of a
page is answered by summing — the way cube.js pre-aggregations answer queries.

A page filtered on team T2 and product P3 asks the same KPIs as the unfiltered page, only
over fewer fact rows. For a KPI whose measure is *additive* (counts, sums and ratios of
them, :attr:`~salespulse.semantic.measures.Measure.additive`), the figure over a set of
fact rows follows from the figures of disjoint groups of them: numerators, denominators,
totals and row counts add up. So the **fine query** of a query — the same KPI, period
grain, dates and as-of date, without filters, broken down by every page-filter dimension
the KPI has (rep, team, region, product, channel) besides its own breakdowns — is computed
once per data version, through the one compile path, to the measure's parts
(``Plan.parts``); every query that differs from it only in those filters and breakdowns is
then answered from its rows: keep the rows the filters select, group by the breakdowns,
sum the parts, combine them into the value (:func:`answer`). Labels come along from the
fine rows; targets are joined as for any query.

Derived KPIs take their inputs from rollups. Not answered this way (they take the full
query): medians and other quantiles and distinct counts (not additive), ``period`` KPIs
whose records per period depend on the breakdowns asked (``Facts.per_period_additive``
false: conversion per cohort, customer retention), custom attributes, and
breakdowns by account (a rollup by account would be as big as the facts).

Assumption, true of every fact table in the catalogue: a fact row has one value of each
dimension (a deal has one owner, one product), so groups by the fine key are disjoint.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import pandas as pd

from salespulse.semantic.kpi import DIM_LABELS, Attr, Dim, Kind
from salespulse.semantic.measures import Ratio

if TYPE_CHECKING:
    from salespulse.semantic.model import Context
    from salespulse.semantic.query import Plan, Query

#: The prefix of the measure parts' columns in a fine frame.
PART = "_p_"

#: The dimensions pages filter on: a fine query breaks down by every one the KPI has.
ROLLUP_DIMS = (Dim.rep, Dim.team, Dim.region, Dim.product, Dim.channel)

#: Breakdowns with about as many values as records: a rollup by them would be the facts.
FINE_ONLY = frozenset({Dim.account})

#: Where fine rows are kept: ``rollups(key, compute)`` returns the rows kept under ``key``
#: (a fine query, or ``("records", query, numerator_only)``), computing them with
#: ``compute()`` when it has none (e.g. a cache per data version; see
#: :class:`salespulse.services.service.Service`).
Rollups = Callable[[Hashable, Callable[[], pd.DataFrame]], pd.DataFrame]


def answerable(p: Plan, ctx: Context | None = None) -> bool:
    """Whether queries of plan ``p`` can be answered from a rollup (``period`` KPIs only
    given the context: their facts say how their rows depend on the breakdowns)."""
    kpi = p.kpi
    if kpi.kind is Kind.derived or not kpi.measure.additive:
        return False
    if kpi.kind is Kind.period and (ctx is None or _rows_key(p, ctx) is None):
        return False
    return not any(
        isinstance(d, Attr) or d in FINE_ONLY for d in [*p.dims, *(d for d, _ in p.where)]
    )


def _rows_key(p: Plan, ctx: Context) -> Callable[[frozenset[Dim]], Hashable] | None:
    """``Facts.per_period_rows`` of a period KPI."""
    assert p.kpi.facts is not None
    return p.kpi.facts(ctx).per_period_rows


def fine_query(q: Query, p: Plan, ctx: Context | None = None) -> Query | None:
    """The query whose rows answer ``q`` (and every query differing from it only in
    filters and breakdowns on the page dimensions), or None when ``q`` cannot be.

    A ``period`` KPI's fine query adds only breakdowns that keep its rows the rows of
    ``q``'s breakdowns, and takes ``q``'s filter dimensions only on that condition."""
    if not answerable(p, ctx):
        return None
    dims = {d for d in p.dims if isinstance(d, Dim)}
    wanted = dims | {d for d, _ in p.where if isinstance(d, Dim)}
    extra = [d for d in ROLLUP_DIMS if d in p.kpi.dims]
    if p.kpi.kind is Kind.period:
        assert ctx is not None
        key = _rows_key(p, ctx)
        assert key is not None
        same = key(frozenset(dims))
        if key(frozenset(wanted)) != same:
            return None
        for d in extra:
            if key(frozenset(wanted | {d})) == same:
                wanted.add(d)
    else:
        wanted.update(extra)
    order = [d.value for d in Dim if d in wanted]  # one order, whatever the query's
    by = ((p.grain.value,) if p.grain else ()) + tuple(order)
    return type(q)(q.kpi, by, q.start, q.end, (), q.as_of)


def records_query(q: Query, p: Plan) -> Query | None:
    """The records query (drill-down) whose rows, filtered, are those of ``q``: ``q``
    without its filters — or None when a filter is not on a page dimension."""
    if p.kpi.kind is Kind.derived or any(d not in ROLLUP_DIMS for d, _ in p.where):
        return None
    return type(q)(q.kpi, (), q.start, q.end, (), q.as_of)


def filtered_records(rows: pd.DataFrame, p: Plan) -> pd.DataFrame | None:
    """The records of ``p`` from those of its :func:`records_query` (in their order), or
    None when a filter's column is not among them."""
    for dim, values in p.where:
        col = dim.column
        if col not in rows.columns:
            return None
        rows = rows[rows[col].astype("string").isin(list(values))]
    return rows.reset_index(drop=True)


def label_columns(p: Plan) -> list[str]:
    """The columns the compile path puts beside ``p``'s breakdowns (names, stage order,
    the day a rep left)."""
    out: list[str] = []
    for d in p.dims:
        if d in DIM_LABELS:
            out.append(DIM_LABELS[d])
            if d is Dim.stage:
                out.append("stage_order")
            if d is Dim.rep:
                out.append("rep_left_on")
    return out


def answer(fine: pd.DataFrame, p: Plan) -> pd.DataFrame:
    """The rows of plan ``p`` (before targets) from the rows of its fine query: the
    columns and values the compile path gives, in the same order."""
    rows = fine
    for dim, values in p.where:
        rows = rows[rows[dim.value].astype("string").isin(list(values))]
    keys = (["period"] if p.grain else []) + [d.value for d in p.dims]
    labels = label_columns(p)
    measure = p.kpi.measure
    parts = [c for c in fine.columns if c.startswith(PART)]
    if keys:
        groups = rows.groupby(keys, dropna=False, sort=False)
        summed = groups[parts].sum(min_count=1)
        named = groups[labels].first() if labels else None
        out = summed.reset_index()
        if named is not None:
            out = out.join(named.reset_index(drop=True))
    else:
        out = rows[parts].sum(min_count=1).to_frame().T.astype("float64")
    scale = p.kpi.scale
    if isinstance(measure, Ratio):
        num, den = measure.combine_ratio(out, PART)
        out["numerator"], out["denominator"] = num, den
        value = num / den.where(den != 0)
        out["value"] = value * scale if scale != 1.0 else value
    else:
        value = measure.combine(out, PART)
        out["value"] = value * scale if scale != 1.0 else value
    figures = ["numerator", "denominator", "value"] if isinstance(measure, Ratio) else ["value"]
    out = out[[*keys, *figures, *labels]].reset_index(drop=True)
    return out.astype({c: fine[c].dtype for c in [*keys, *labels]})  # as the engine gave them
