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
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from ibis.common.deferred import Deferred

from salespulse.semantic.kpi import DIM_LABELS, Attr, Derived, Dim, Kind
from salespulse.semantic.measures import Ratio

if TYPE_CHECKING:
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


class _Arrays:
    """A kept fine frame's columns as numpy, made once per frame and column: each key or
    label column as codes into its distinct values (−1: missing), each part as values."""

    def __init__(self, fine: pd.DataFrame) -> None:
        self.fine = weakref.proxy(fine)
        self._codes: dict[str, tuple[npt.NDArray[np.int64], pd.Index]] = {}
        self._values: dict[str, npt.NDArray[Any]] = {}

    def codes(self, c: str) -> tuple[npt.NDArray[np.int64], pd.Index]:
        if c not in self._codes:
            col = self.fine[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes, uniques = col.cat.codes.to_numpy(), col.cat.categories
            else:
                codes, uniques = pd.factorize(col, use_na_sentinel=True)
                uniques = pd.Index(uniques, dtype=col.dtype)
            self._codes[c] = (codes.astype(np.int64), uniques)
        return self._codes[c]

    def values(self, c: str) -> npt.NDArray[Any]:
        if c not in self._values:
            col = self.fine[c]
            self._values[c] = (
                col.to_numpy(dtype=object)
                if col.dtype == object
                else col.to_numpy(dtype="float64", na_value=np.nan)
            )
        return self._values[c]


_ARRAYS: dict[int, _Arrays] = {}


def _arrays(fine: pd.DataFrame) -> _Arrays:
    """The :class:`_Arrays` of ``fine``, kept while ``fine`` lives (the rollups keep it)."""
    got = _ARRAYS.get(id(fine))
    if got is None:
        got = _ARRAYS[id(fine)] = _Arrays(fine)
        weakref.finalize(fine, _ARRAYS.pop, id(fine), None)
    return got


def _selected(a: _Arrays, p: Plan, n_rows: int) -> npt.NDArray[np.intp] | None:
    """The positions of the fine rows ``p``'s filters keep (None: no filter, all)."""
    if not p.where:
        return None
    keep = np.ones(n_rows, dtype=bool)
    for dim, values in p.where:
        codes, uniques = a.codes(dim.value)
        wanted = np.asarray(uniques.astype("string").isin(list(values)), dtype=bool)
        keep &= np.append(wanted, False)[codes]  # code −1 (missing) is never wanted
    return np.flatnonzero(keep)


def _groups(codes: list[npt.NDArray[np.int64]], n_rows: int) -> tuple[npt.NDArray[np.int64], int]:
    """The group of each row by its codes in ``codes`` (a missing value is a value),
    groups numbered in the order they first occur; and the number of groups."""
    group = np.zeros(n_rows, dtype=np.int64)
    for c in codes:
        group = pd.factorize(group * (int(c.max(initial=-1)) + 2) + c + 1)[0]
    return group.astype(np.int64), int(group.max(initial=-1)) + 1


def _taken(codes: npt.NDArray[np.int64], uniques: pd.Index) -> pd.Index:
    """The values at ``codes`` (−1: missing), in the dtype the engine gave them."""
    if (codes < 0).any():
        cat = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(uniques))
        return pd.Index(cat).astype(uniques.dtype)
    return uniques.take(codes)


def answer(fine: pd.DataFrame, p: Plan) -> pd.DataFrame:
    """The rows of plan ``p`` (before targets) from the rows of its fine query: the
    columns and values the compile path gives, in the same order. Numpy over codes of
    the fine rows' columns, made once per fine frame: a page asks up to 35 of these."""
    keys = (["period"] if p.grain else []) + [d.value for d in p.dims]
    labels = label_columns(p)
    measure = p.kpi.measure
    parts = [c for c in fine.columns if c.startswith(PART)]
    a = _arrays(fine)
    at = _selected(a, p, len(fine))
    n_rows = len(fine) if at is None else len(at)

    def kept(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return x if at is None else x[at]

    out: dict[str, Any] = {}
    if keys:
        group, n = _groups([kept(a.codes(k)[0]) for k in keys], n_rows)
        first = np.unique(group, return_index=True)[1]  # the first row of each group
        at_first = first if at is None else at[first]
        for c in [*keys, *labels]:
            codes, uniques = a.codes(c)
            out[c] = _taken(codes[at_first], uniques)
    else:
        group, n = np.zeros(n_rows, dtype=np.int64), 1
    merged = measure.merge({c: kept(a.values(c)) for c in parts}, group, n)
    frame = pd.DataFrame({**out, **merged}, index=pd.RangeIndex(n))
    scale = p.kpi.scale
    if isinstance(measure, Ratio):
        num, den = measure.combine_ratio(frame, PART)
        value = num / den.where(den != 0)
        figures = {"numerator": num, "denominator": den}
    else:
        value = measure.combine(frame, PART)
        figures = {}
    figures["value"] = value * scale if scale != 1.0 else value
    return pd.DataFrame({**{k: frame[k] for k in keys}, **figures, **{c: frame[c] for c in labels}})


#: The breakdowns a derived KPI is answered by from its inputs' rollups, and the column of
#: the reps' table each takes its members from (every rep on staff in the query's dates).
MEMBER_COLUMNS = {Dim.rep: "rep_id", Dim.team: "team_id", Dim.region: "region"}


def members(p: Plan, people: pd.DataFrame, start: date | None, end: date) -> pd.DataFrame:
    """Every rep (team, region) in scope, by ``p``'s breakdowns: within its filters and
    on staff at some time from ``start`` to ``end`` — the rows of ``query._scope`` (no
    period grain) from the reps' table ``people`` (rep_id, team_id, region, hired_on,
    left_on)."""
    r = people
    r = r[r["hired_on"].isna() | (r["hired_on"] <= pd.Timestamp(end))]
    if start is not None:
        r = r[r["left_on"].isna() | (r["left_on"] >= pd.Timestamp(start))]
    for dim, values in p.where:
        if dim in MEMBER_COLUMNS:
            r = r[r[MEMBER_COLUMNS[dim]].astype("string").isin(list(values))]
    cols = {d.value: MEMBER_COLUMNS[d] for d in p.dims if isinstance(d, Dim)}
    out = pd.DataFrame({k: r[c].astype("str") for k, c in cols.items()})
    return out.dropna().drop_duplicates()


def derived(
    p: Plan,
    parts: dict[str, pd.DataFrame],
    scope: pd.DataFrame | None,
    labels: Mapping[str, pd.DataFrame],
) -> pd.DataFrame | None:
    """A derived KPI's rows (no period grain) from its inputs' rows ``parts`` (name →
    breakdown columns and a column of that name), the breakdown's ``scope``
    (:func:`members`) and ``labels`` (the names by breakdown value, as the compile path
    joins them): the compile path's ``_derived`` on in-memory frames. None when its
    expressions are not column arithmetic (deferred), which frames cannot take."""
    m = p.kpi.measure
    assert isinstance(m, Derived)
    exprs = [m.numerator, *([m.denominator] if m.denominator is not None else [])]
    if not all(isinstance(e, Deferred) for e in exprs):
        return None
    keys = [d.value for d in p.dims]
    if keys:
        spine = pd.concat(
            [*(rel[keys] for rel in parts.values()), *([scope] if scope is not None else [])]
        )
        j = spine.drop_duplicates().reset_index(drop=True).astype(dict.fromkeys(keys, "str"))
        for name, rel in parts.items():
            j = j.merge(rel[[*keys, name]], how="left", on=keys)
    else:  # one row (an input without rows: no value)
        j = pd.DataFrame({name: [rel[name].max()] for name, rel in parts.items()}, dtype="float64")
    for name, inp in m.inputs.items():
        if inp.fill is not None:
            j[name] = j[name].fillna(inp.fill)
    scale = p.kpi.scale
    num = m.numerator.resolve(j).astype("float64")
    if m.denominator is None:
        j["value"] = num * scale if scale != 1.0 else num
    else:
        den = m.denominator.resolve(j).astype("float64")
        safe = den.where(den > 0) if m.positive else den.where(den != 0)
        value = num / safe
        j["numerator"], j["denominator"] = num, den
        j["value"] = value * scale if scale != 1.0 else value
    for d in p.dims:
        if d in DIM_LABELS:
            names = labels[d.value]
            j = j.merge(names, how="left", left_on=d.value, right_index=True)
    return j.reset_index(drop=True)
