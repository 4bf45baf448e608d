"""What the forecast knows at an as-of date, read through the semantic model.

Everything comes from a :class:`~salespulse.semantic.model.Context`, so it is history-true:
stage, open/closed state and outcome from the stage history as of the date, and — from
``deal_field_history`` — the amount and expected close date as they were then (a deal
without field-history rows before the date keeps its current values). Amounts are in the
reporting currency at the as-of rate. Times are in days (fractional).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _

from salespulse.semantic.catalogue.deals import _forecast_base
from salespulse.semantic.model import Context, days_between
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

#: Deals decided more than this many days before the as-of date are not learned from.
WINDOW_DAYS = 730


def field_values_as_of(ctx: Context) -> ir.Table:
    """deal_id → amount, currency and expected close date as last recorded before as-of."""
    fh = ctx.t("deal_field_history").filter(_.changed_at < ctx.cutoff)
    amt = fh.filter(fh.amount.notnull()).group_by(_fa="deal_id")
    amt = amt.aggregate(
        fh_amount=fh.amount.argmax(fh.changed_at), fh_currency=fh.currency.argmax(fh.changed_at)
    )
    close = fh.filter(fh.expected_close_on.notnull()).group_by(_fc="deal_id")
    close = close.aggregate(fh_close=fh.expected_close_on.argmax(fh.changed_at))
    ids = fh.select(_fd="deal_id").distinct()
    j = ids.left_join(amt, ids._fd == amt._fa).drop("_fa")
    return j.left_join(close, j._fd == close._fc).drop("_fc")


def open_deals_expr(ctx: Context) -> ir.Table:
    """The relation behind :func:`open_deals` (not executed)."""
    base = _forecast_base(ctx).select(
        "deal_id",
        "rep_id",
        "team_id",
        "product_id",
        "product_line",
        "pipeline_id",
        "stage_id",
        "stage_order",
        "p_config",
        "amount",
        "currency",
        "expected_close_on",
        "created_at",
        entered=ibis.coalesce(_._entered, _.created_at),
    )
    if ctx.has_rows("deal_field_history"):
        fv = field_values_as_of(ctx)
        j = base.left_join(fv, base.deal_id == fv._fd)
        has = j._fd.notnull()
        base = j.mutate(
            amount=ibis.ifelse(has, j.fh_amount, j.amount),
            currency=ibis.ifelse(has, j.fh_currency, j.currency),
            expected_close_on=ibis.ifelse(
                has & j.fh_close.notnull(), j.fh_close, j.expected_close_on
            ),
        ).drop("_fd", "fh_amount", "fh_currency", "fh_close")
    base = ctx.to_reporting(base, "amount", "currency")
    return base.mutate(
        age_days=days_between(base.entered, ctx.cutoff),
        deal_age_days=days_between(base.created_at, ctx.cutoff),
    ).drop("amount", "currency", "entered")


def _open_frame(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("age_days", "deal_age_days"):
        df[c] = df[c].astype(float).clip(lower=0.0)
    df["expected_close_on"] = pd.to_datetime(df["expected_close_on"]).dt.date
    for c in ("rep_id", "team_id", "product_id", "product_line", "pipeline_id"):
        df[c] = df[c].astype(object).where(df[c].notnull(), "unknown")
    return df.sort_values("deal_id", kind="stable").reset_index(drop=True)


def open_deals(ctx: Context) -> pd.DataFrame:
    """Deals open at as-of, one row each.

    Columns: deal_id, rep_id, team_id, product_id, product_line, pipeline_id, stage_id,
    stage_order, p_config (the stage's configured probability), amount_eur (null = no
    amount), expected_close_on (as known then; may be past = overdue), age_days (days since
    entering the current stage), deal_age_days (days since the deal was created),
    created_at.
    """
    return _open_frame(open_deals_expr(ctx).execute())


def stage_outcomes_expr(ctx: Context, window_days: int = WINDOW_DAYS) -> ir.Table:
    """The relation behind :func:`stage_outcomes` (not executed)."""
    h = ctx.stage_history.filter(~_.is_closed)
    h = h.group_by(["deal_id", "stage_id"]).aggregate(entered=h.entered_at.max())
    d = ctx.deals.select(
        _d="deal_id",
        pipeline_id=_.pipeline_id,
        product_line=_.product_line,
        product_id=_.product_id,
        outcome=_.outcome,
        closed_at=_.closed_at,
        created_at=_.created_at,
    )
    j = h.inner_join(d, h.deal_id == d._d).drop("_d")
    since = ibis.timestamp(ctx.as_of_at - timedelta(days=window_days))
    j = j.filter(j.closed_at.isnull() | (j.closed_at >= since))
    end = ibis.coalesce(j.closed_at, ctx.cutoff)
    return j.mutate(
        days=days_between(j.entered, end), days_created=days_between(j.created_at, end)
    ).drop("entered", "closed_at", "created_at")


def _history_frame(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("days", "days_created"):
        df[c] = np.maximum(df[c].to_numpy(dtype=float), 0.0)
    for c in ("pipeline_id", "product_line", "product_id"):
        df[c] = df[c].astype(object).where(df[c].notnull(), "unknown")
    return df.sort_values(["deal_id", "stage_id"], kind="stable").reset_index(drop=True)


def stage_outcomes(ctx: Context, window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """One row per (deal, open stage it entered), as known at as-of, for learning.

    Columns: deal_id, pipeline_id, product_line, product_id, stage_id, outcome (won / lost /
    None = still open), days (from the last entry into the stage to the close, or to as-of
    while open), days_created (the same from the deal's creation). Deals decided more than
    ``window_days`` before as-of are left out (the rolling window); open deals always count
    (as censored observations).
    """
    return _history_frame(stage_outcomes_expr(ctx, window_days).execute())


@dataclass
class Inputs:
    """What a forecast at ``ctx.as_of`` starts from."""

    open: pd.DataFrame
    history: pd.DataFrame
    has_history: bool


def load(ctx: Context, window_days: int = WINDOW_DAYS) -> Inputs:
    """The open deals and the stage outcomes at ``ctx.as_of``."""
    has = ctx.has_rows("deal_stage_history")
    hist = stage_outcomes(ctx, window_days) if has else pd.DataFrame()
    return Inputs(open_deals(ctx), hist, has)


#: The as-of date the compiled queries of :class:`Loader` are written for, then rebound.
_SENTINEL = date(2199, 1, 1)


class Loader:
    """:func:`load` for many as-of dates (a backtest): the two queries are compiled by Ibis
    once, for a sentinel date, and each date's literals (the as-of date, the end-of-day
    cutoff, the window start) are bound into the SQL text. Same rows as :func:`load`
    (tested); compiling is what costs time, not running.
    """

    def __init__(self, store: Store, settings: Settings, window_days: int = WINDOW_DAYS):
        self.store, self.settings, self.window_days = store, settings, window_days
        ctx = Context(store, settings, _SENTINEL)
        self.has_history = ctx.has_rows("deal_stage_history")
        self._open = str(ibis.to_sql(open_deals_expr(ctx), dialect=store.con.name))
        self._hist = (
            str(ibis.to_sql(stage_outcomes_expr(ctx, window_days), dialect=store.con.name))
            if self.has_history
            else ""
        )
        self._sentinels = self._literals(ctx)

    def _literals(self, ctx: Context) -> list[str]:
        vals = [
            ibis.literal(ctx.as_of),
            ibis.timestamp(ctx.as_of_at),
            ibis.timestamp(ctx.as_of_at - timedelta(days=self.window_days)),
        ]
        out = []
        for v in vals:
            sql = str(ibis.to_sql(v.name("x"), dialect=self.store.con.name))
            body = sql.split("SELECT", 1)[1].rsplit("AS", 1)[0].strip()
            out.append(body)
        return out

    def _bind(self, sql: str, ctx: Context) -> str:
        for old, new in zip(self._sentinels, self._literals(ctx), strict=True):
            sql = sql.replace(old, new)
        return sql

    def _run(self, sql: str) -> pd.DataFrame:
        con = self.store.con
        if con.name == "duckdb":  # straight to pandas, no second Ibis round
            return con.raw_sql(sql).df()
        return con.sql(sql).execute()

    def load(self, as_of: date) -> Inputs:
        ctx = Context(self.store, self.settings, as_of)
        open_df = _open_frame(self._run(self._bind(self._open, ctx)))
        hist = (
            _history_frame(self._run(self._bind(self._hist, ctx)))
            if self.has_history
            else pd.DataFrame()
        )
        return Inputs(open_df, hist, self.has_history)
