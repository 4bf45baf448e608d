"""What the forecast knows at an as-of date, read through the semantic model.

Everything comes from a :class:`~salespulse.semantic.model.Context`, so it is history-true:
stage, open/closed state and outcome from the stage history as of the date, and — from
``deal_field_history`` — the amount and expected close date as they were then (a deal
without field-history rows before the date keeps its current values). Amounts are in the
reporting currency at the as-of rate. Times are in days (fractional).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis import _

from salespulse.semantic.catalogue.deals import _forecast_base
from salespulse.semantic.model import Context, days_between
from salespulse.semantic.relations import without

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
    j = without(ids.left_join(amt, ids._fd == amt._fa), "_fa")
    return without(j.left_join(close, j._fd == close._fc), "_fc")


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
        base = without(
            j.mutate(
                amount=ibis.ifelse(has, j.fh_amount, j.amount),
                currency=ibis.ifelse(has, j.fh_currency, j.currency),
                expected_close_on=ibis.ifelse(
                    has & j.fh_close.notnull(), j.fh_close, j.expected_close_on
                ),
            ),
            "_fd",
            "fh_amount",
            "fh_currency",
            "fh_close",
        )
    base = ctx.to_reporting(base, "amount", "currency")
    return without(
        base.mutate(
            age_days=days_between(base.entered, ctx.cutoff),
            deal_age_days=days_between(base.created_at, ctx.cutoff),
        ),
        "amount",
        "currency",
        "entered",
    )


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
    j = without(h.inner_join(d, h.deal_id == d._d), "_d")
    since = ibis.timestamp(ctx.as_of_at - timedelta(days=window_days))
    j = j.filter(j.closed_at.isnull() | (j.closed_at >= since))
    end = ibis.coalesce(j.closed_at, ctx.cutoff)
    return without(
        j.mutate(days=days_between(j.entered, end), days_created=days_between(j.created_at, end)),
        "entered",
        "closed_at",
        "created_at",
    )


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
