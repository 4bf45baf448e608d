"""Rollups: a KPI's parts per fine key (counts, sums, a quantile's values), from which
every filter combination of a page is answered — the way cube.js pre-aggregations answer
queries.

A page filtered on team T2 and product P3 asks the same KPIs as the unfiltered page, only
over fewer fact rows. For a KPI whose measure *rolls up*
(:attr:`~salespulse.semantic.measures.Measure.rolls_up`: counts, sums, ratios of them and
quantiles), the figure over a set of fact rows follows from parts of disjoint groups of
them: numerators, denominators, totals and row counts add up; a quantile's values are put
together. So the **fine query** of a query — the same KPI, period grain, dates and as-of
date, without filters, broken down by every page-filter dimension the KPI has (rep, team,
region, product, channel) besides its own breakdowns — is computed once per data version,
through the one compile path, to the measure's parts (``Plan.parts``); every query that
differs from it only in those filters and breakdowns is then answered from its rows: keep
the rows the filters select, group by the breakdowns, merge the parts
(``Measure.merge``), combine them into the value (:func:`answer`). Labels come along from
the fine rows; targets are joined as for any query.

Derived KPIs take their inputs from rollups. Not answered this way (they take the full
query): distinct counts (a value may be in several groups), ``period`` KPIs whose records
per period depend on the breakdowns asked in a way ``Facts.per_period_rows`` does not
declare, and custom attributes. A breakdown by account is answered too: its fine rows
are at most as many as the fact rows in the window (pages ask it of won deals only).

Assumption, true of every fact table in the catalogue: a fact row has one value of each
dimension (a deal has one owner, one product), so groups by the fine key are disjoint.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salespulse.semantic.kpi import DIM_LABELS, Attr, Dim, Kind
from salespulse.semantic.measures import Ratio

if TYPE_CHECKING:
    from pandas._typing import DtypeObj

    from salespulse.semantic.kpi import Facts
    from salespulse.semantic.model import Context
    from salespulse.semantic.query import Plan, Query

#: The prefix of the measure parts' columns in a fine frame.
PART = "_p_"

#: The dimensions pages filter on: a fine query breaks down by every one the KPI has.
ROLLUP_DIMS = (Dim.rep, Dim.team, Dim.region, Dim.product, Dim.channel)

#: Where fine rows are kept: ``rollups(key, compute)`` returns the rows kept under ``key``
#: (a fine query, or ``("records", query, numerator_only)``), computing them with
#: ``compute()`` when it has none (e.g. a cache per data version; see
#: :class:`salespulse.services.service.Service`).
Rollups = Callable[[Hashable, Callable[[], pd.DataFrame]], pd.DataFrame]


def answerable(p: Plan, ctx: Context | None = None) -> bool:
    """Whether queries of plan ``p`` can be answered from a rollup (``period`` KPIs only
    given the context: their facts say how their rows depend on the breakdowns)."""
    kpi = p.kpi
    if kpi.kind is Kind.derived or not kpi.measure.rolls_up:
        return False
    if kpi.kind is Kind.period and (ctx is None or _rows_key(p, ctx) is None):
        return False
    return not any(isinstance(d, Attr) for d in [*p.dims, *(d for d, _ in p.where)])


def _rows_key(p: Plan, ctx: Context) -> Callable[[frozenset[Dim]], Hashable] | None:
    """``Facts.per_period_rows`` of a period KPI (the same for every context: building the
    facts to read it costs as much as a query's expression, so it is read once)."""
    make = p.kpi.facts
    assert make is not None
    if make not in _ROWS_KEYS:
        _ROWS_KEYS[make] = make(ctx).per_period_rows
    return _ROWS_KEYS[make]


_ROWS_KEYS: dict[Callable[[Context], Facts], Callable[[frozenset[Dim]], Hashable] | None] = {}


def fine_query(q: Query, p: Plan, ctx: Context | None = None) -> Query | None:
    """The query whose rows answer ``q`` (and every query differing from it only in
    filters and breakdowns on the page dimensions), or None when ``q`` cannot be.

    A ``period`` KPI's fine query adds only breakdowns that keep its rows those of ``q``
    (which depend on ``q``'s breakdowns and filters: ``Facts.per_period_rows``), so a
    conversion rate filtered on a product is answered from deals alone."""
    if not answerable(p, ctx):
        return None
    wanted = {d for d in [*p.dims, *(d for d, _ in p.where)] if isinstance(d, Dim)}
    extra = [d for d in ROLLUP_DIMS if d in p.kpi.dims]
    if p.kpi.kind is Kind.period:
        assert ctx is not None
        key = _rows_key(p, ctx)
        assert key is not None
        same = key(frozenset(wanted))  # the rows of q: its breakdowns and filters decide
        for d in extra:
            if key(frozenset(wanted | {d})) == same:
                wanted.add(d)
    else:
        wanted.update(extra)
    order = [d.value for d in Dim if d in wanted]  # one order, whatever the query's
    by = ((p.grain.value,) if p.grain else ()) + tuple(order)
    return type(q)(q.kpi, by, q.start, q.end, (), q.as_of)


def fine_queries(q: Query, p: Plan, ctx: Context | None = None) -> list[Query]:
    """The fine queries of ``q`` under every combination of page filters, each once: what
    to build ahead so that no filter combination computes one (a conversion rate filtered
    on a product is answered from other rows than one filtered on a team)."""
    dims = [d for d in ROLLUP_DIMS if d in p.kpi.dims]
    out: list[Query] = []
    for n in range(len(dims) + 1):
        for filtered in itertools.combinations(dims, n):
            variant = replace(p, where=tuple((d, ("",)) for d in filtered))
            fine = fine_query(q, variant, ctx)
            if fine is not None and fine not in out:
                out.append(fine)
    return out


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


def compact(fine: pd.DataFrame, p: Plan) -> pd.DataFrame:
    """The rows of fine plan ``p`` as kept: text breakdowns and names as categories (a
    fraction of the memory; filters and groups on them work on small integer codes), and
    lists of values (a quantile's parts) as arrays of floats."""
    text = [
        c
        for c in [*(d.value for d in p.dims), *label_columns(p)]
        if c in fine.columns and pd.api.types.is_string_dtype(fine[c])
    ]
    out = fine.astype(dict.fromkeys(text, "category"))
    for c in out.columns:
        if c.startswith(PART) and out[c].dtype == object:
            arrays = [np.asarray(v if v is not None else [], dtype="float64") for v in out[c]]
            out[c] = pd.Series(arrays, index=out.index, dtype=object)
    return out


def _as_given(col: pd.Series) -> DtypeObj:
    """The dtype the engine gave a column kept by :func:`compact`."""
    return col.cat.categories.dtype if isinstance(col.dtype, pd.CategoricalDtype) else col.dtype


def answer(fine: pd.DataFrame, p: Plan) -> pd.DataFrame:
    """The rows of plan ``p`` (before targets) from the rows of its fine query: the
    columns and values the compile path gives, in the same order."""
    keys = (["period"] if p.grain else []) + [d.value for d in p.dims]
    labels = label_columns(p)
    measure = p.kpi.measure
    parts = [c for c in fine.columns if c.startswith(PART)]
    rows = fine[[*keys, *parts, *labels]]  # only what the answer needs is filtered
    if p.where:
        keep = np.ones(len(fine), dtype=bool)
        for dim, values in p.where:
            col = fine[dim.value]
            if not isinstance(col.dtype, pd.CategoricalDtype):
                col = col.astype("string")
            keep &= col.isin(list(values)).to_numpy(dtype=bool, na_value=False)
        rows = rows[keep]
    out = measure.merge(rows, keys, parts)
    if labels:  # one name per key: the first (groups in the same order as merged)
        named = rows.groupby(keys, dropna=False, sort=False, observed=True)[labels].first()
        out = out.join(named.reset_index(drop=True))
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
    return out.astype({c: _as_given(fine[c]) for c in [*keys, *labels]})  # as the engine gave
