"""Measures: how a KPI aggregates its facts.

A measure turns a (grouped) fact table into either a ``value`` or, for ratios, a
``numerator`` and ``denominator`` with ``value = numerator / denominator`` — null (no value)
when the denominator is zero or empty, never 0 or NaN.

Column arguments are Ibis deferred expressions (``_.amount``), column names or functions of
the fact table, resolved against the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd
from ibis.common.deferred import Deferred

IntArray = npt.NDArray[np.int64]
#: Merged parts by name: one value per group.
Parts = dict[str, npt.NDArray[Any]]
Expr = Any  # an Ibis deferred (``_.amount``), a column name, or a function of the table


def resolve(t: ir.Table, expr: Expr) -> ir.Value:
    """``expr`` (deferred, literal or column name) as a column of ``t``."""
    if isinstance(expr, str):
        return t[expr]
    if isinstance(expr, Deferred):
        return expr.resolve(t)
    if callable(expr):
        return expr(t)
    return ibis.literal(expr)


class Measure:
    """Base class. ``aggregates`` returns the named aggregate expressions."""

    is_ratio = False

    def aggregates(self, t: ir.Table) -> dict[str, ir.Scalar]:
        raise NotImplementedError

    def in_numerator(self, t: ir.Table) -> ir.BooleanValue | None:
        """For drill-down: which fact rows count in the numerator (None = all)."""
        return None

    @property
    def rolls_up(self) -> bool:
        """Whether :meth:`parts` exist: the figure of a union of disjoint groups of fact
        rows follows from the groups' parts, merged (a count's are summed, a median's
        values put together; a distinct count has none: a value may be in several)."""
        return False

    def parts(self, t: ir.Table, prefix: str = "") -> dict[str, ir.Scalar]:
        """The parts, named ``prefix`` + a letter; merged over groups (:meth:`merge`) they
        give :meth:`combine` what it needs (see :mod:`salespulse.semantic.rollup`)."""
        raise NotImplementedError(f"{type(self).__name__} does not roll up")

    def merge(self, parts: Mapping[str, npt.NDArray[Any]], group: IntArray, n: int) -> Parts:
        """The parts of fact-row groups merged into ``n`` groups: ``group[i]`` (0 … n − 1)
        is where row ``i`` goes. Parts are summed; a group where no row has a part (or with
        no rows) gets null."""
        return {
            name: _summed(np.asarray(x, dtype="float64"), group, n) for name, x in parts.items()
        }

    def combine(self, parts: pd.DataFrame, prefix: str = "") -> pd.Series:
        """The measure's value from its merged parts (``parts`` columns as :meth:`parts`
        names them)."""
        raise NotImplementedError(f"{type(self).__name__} does not roll up")

    def in_denominator(self, t: ir.Table) -> ir.BooleanValue | None:
        """For drill-down: which fact rows are part of the figure at all (None = all)."""
        return None


def _where(t: ir.Table, where: Expr | None) -> ir.BooleanValue | None:
    return None if where is None else resolve(t, where)


@dataclass(frozen=True)
class Count(Measure):
    """Number of fact rows (optionally only those matching ``where``; or distinct values)."""

    where: Expr | None = None
    distinct: str | None = None

    def scalar(self, t: ir.Table) -> ir.Scalar:
        w = _where(t, self.where)
        if self.distinct:
            return t[self.distinct].nunique(where=w)
        return t.count(where=w) if w is not None else t.count()

    def aggregates(self, t: ir.Table) -> dict[str, ir.Scalar]:
        return {"value": self.scalar(t).cast("float64")}

    def in_numerator(self, t: ir.Table) -> ir.BooleanValue | None:
        return _where(t, self.where)

    @property
    def rolls_up(self) -> bool:
        return self.distinct is None  # a value may be in several groups

    def parts(self, t: ir.Table, prefix: str = "") -> dict[str, ir.Scalar]:
        return {f"{prefix}c": self.scalar(t).cast("float64")}

    def combine(self, parts: pd.DataFrame, prefix: str = "") -> pd.Series:
        return parts[f"{prefix}c"].fillna(0.0).astype("float64")


@dataclass(frozen=True)
class Sum(Measure):
    """Sum of a column over the fact rows, nulls ignored. No rows → 0 (nothing happened);
    rows that all lack the value → null (no value: e.g. open deals without amounts)."""

    column: Expr
    where: Expr | None = None

    def scalar(self, t: ir.Table) -> ir.Scalar:
        w = _where(t, self.where)
        total = resolve(t, self.column).cast("float64").sum(where=w)
        rows = t.count(where=w) if w is not None else t.count()
        return ibis.ifelse(rows == 0, 0.0, total)

    def aggregates(self, t: ir.Table) -> dict[str, ir.Scalar]:
        return {"value": self.scalar(t)}

    def in_numerator(self, t: ir.Table) -> ir.BooleanValue | None:
        return _where(t, self.where)

    @property
    def rolls_up(self) -> bool:
        return True

    def parts(self, t: ir.Table, prefix: str = "") -> dict[str, ir.Scalar]:
        # the total of the values present (null when none is) and the number of rows
        w = _where(t, self.where)
        rows = t.count(where=w) if w is not None else t.count()
        total = resolve(t, self.column).cast("float64").sum(where=w)
        return {f"{prefix}s": total, f"{prefix}n": rows.cast("float64")}

    def combine(self, parts: pd.DataFrame, prefix: str = "") -> pd.Series:
        rows = parts[f"{prefix}n"].fillna(0.0)
        return parts[f"{prefix}s"].astype("float64").where(rows > 0, 0.0)


@dataclass(frozen=True)
class Quantile(Measure):
    """A quantile (0.5 = median, continuous/interpolated) of a column; null without data."""

    column: Expr
    q: float
    where: Expr | None = None

    def aggregates(self, t: ir.Table) -> dict[str, ir.Scalar]:
        col = resolve(t, self.column).cast("float64")
        return {"value": col.quantile(self.q, where=_where(t, self.where))}

    @property
    def rolls_up(self) -> bool:
        return True

    def parts(self, t: ir.Table, prefix: str = "") -> dict[str, ir.Scalar]:
        # the values themselves (nulls left out): a quantile of a union needs them all
        col = resolve(t, self.column).cast("float64")
        return {f"{prefix}v": col.collect(where=_where(t, self.where))}

    def merge(self, parts: Mapping[str, npt.NDArray[Any]], group: IntArray, n: int) -> Parts:
        ((name, lists),) = parts.items()
        together: list[list[npt.NDArray[np.float64]]] = [[] for _ in range(n)]
        for g, v in zip(group.tolist(), lists, strict=True):
            if v is not None and len(v):
                together[g].append(np.asarray(v, dtype="float64"))
        out = np.empty(n, dtype=object)
        for i, arrays in enumerate(together):  # one by one: never a 2-d array of equal lists
            out[i] = np.concatenate(arrays) if arrays else np.empty(0)
        return {name: out}

    def combine(self, parts: pd.DataFrame, prefix: str = "") -> pd.Series:
        values = [_interpolated(v, self.q) for v in parts[f"{prefix}v"]]
        return pd.Series(values, index=parts.index, dtype="float64")


def _summed(x: npt.NDArray[np.float64], group: IntArray, n: int) -> npt.NDArray[np.float64]:
    """``x`` summed per group, nulls left out; null where a group has no value."""
    present = ~np.isnan(x)
    total = np.bincount(group, weights=np.where(present, x, 0.0), minlength=n).astype("float64")
    total[np.bincount(group[present], minlength=n) == 0] = np.nan
    return total


def _interpolated(values: npt.NDArray[np.float64], q: float) -> float:
    """The ``q``-quantile of ``values`` as the engines compute it (DuckDB ``quantile_cont``,
    PostgreSQL ``percentile_cont``): linear between the two nearest ranks; NaN (no
    value) for no values."""
    if len(values) == 0:
        return float("nan")
    v = np.sort(values)
    pos = q * (len(v) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def Median(column: Expr, where: Expr | None = None) -> Quantile:
    return Quantile(column, 0.5, where)


@dataclass(frozen=True)
class Ratio(Measure):
    """``numerator / denominator`` (× ``scale``, e.g. 100 for percentages); null if den = 0."""

    numerator: Count | Sum
    denominator: Count | Sum
    scale: float = 1.0
    is_ratio = True

    def aggregates(self, t: ir.Table) -> dict[str, ir.Scalar]:
        num = self.numerator.scalar(t).cast("float64")
        den = self.denominator.scalar(t).cast("float64")
        return {"numerator": num, "denominator": den}

    def in_numerator(self, t: ir.Table) -> ir.BooleanValue | None:
        return self.numerator.in_numerator(t)

    def in_denominator(self, t: ir.Table) -> ir.BooleanValue | None:
        return self.denominator.in_numerator(t)

    @property
    def rolls_up(self) -> bool:
        return self.numerator.rolls_up and self.denominator.rolls_up

    def parts(self, t: ir.Table, prefix: str = "") -> dict[str, ir.Scalar]:
        return {
            **self.numerator.parts(t, f"{prefix}num_"),
            **self.denominator.parts(t, f"{prefix}den_"),
        }

    def combine(self, parts: pd.DataFrame, prefix: str = "") -> pd.Series:
        raise TypeError("a ratio has a numerator and a denominator: use combine_ratio")

    def combine_ratio(self, parts: pd.DataFrame, prefix: str = "") -> tuple[pd.Series, pd.Series]:
        """(numerator, denominator) from the summed parts."""
        return (
            self.numerator.combine(parts, f"{prefix}num_"),
            self.denominator.combine(parts, f"{prefix}den_"),
        )


def Mean(column: Expr, where: Expr | None = None) -> Ratio:
    """Average of a column: sum / number of non-empty values (a ratio, so both are shown)."""

    def notnull(t: ir.Table) -> ir.BooleanValue:
        ok = resolve(t, column).notnull()
        w = _where(t, where)
        return ok if w is None else ok & w

    return Ratio(Sum(column, where), Count(where=notnull))


def ratio_value(
    num: ir.NumericValue, den: ir.NumericValue, scale: float = 1.0, positive: bool = False
) -> ir.Value:
    """``num / den × scale``, null when ``den`` is zero or null (or, with ``positive``,
    not above zero)."""
    safe = ibis.ifelse(den > 0, den, ibis.null("float64")) if positive else den.nullif(0)
    value = num / safe
    return value * scale if scale != 1.0 else value
