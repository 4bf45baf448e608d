"""The forecast's inputs at many as-of dates from one read of the history (a backtest).

:func:`salespulse.forecast.inputs.load` asks the semantic model for one as-of date: two SQL
queries that rebuild every deal's state from the stage and field history. A walk-forward
backtest needs that state at every month end; asking 21 times re-reads and re-joins the
whole history 21 times. :class:`Replay` reads the raw rows **once** (deals, stage history,
field history, stages, products, reps, exchange rates), sorts each history by deal and time,
and then answers any as-of date with a few vectorized numpy passes:

* the rows of a deal recorded before the cutoff are a *prefix* of its sorted rows, so
  "the last row before the cutoff" is ``start[deal] + count − 1`` with ``count`` one
  ``np.bincount`` over the rows known by then;
* the same for (deal, open stage) pairs (the last entry into each stage) and for the
  field history's amount and close-date rows.

The rules are the semantic model's (``Context.deals``, ``Context.stage_history``,
``inputs.open_deals_expr``, ``inputs.stage_outcomes_expr``), replayed: a row counts when
it was recorded before the end of the as-of day (local time zone), a deal's stage and
outcome come from its last stage-history row (without history: its own ``closed_at`` and
``outcome``), amount and expected close date from the last field-history row, converted
at the latest rate valid on the as-of day. Same rows and values as ``inputs.load``
(tested at several dates), so a later change can never alter an earlier state.
Times are in microseconds since the epoch (UTC, naive) internally, days in the output.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from salespulse.forecast.inputs import WINDOW_DAYS, Inputs
from salespulse.semantic import timecal
from salespulse.settings import Settings
from salespulse.warehouse.store import Store

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: "no time" in the microsecond arrays.
NAT = np.iinfo(np.int64).min
US_PER_DAY = 86_400_000_000.0
#: A missing value in object arrays.
NONE = np.array(None, object)


def _us(s: pd.Series) -> IntArray:
    """Timestamps → µs since the epoch (NaT → :data:`NAT`)."""
    t = pd.to_datetime(s).astype("datetime64[us]")
    return t.to_numpy().view(np.int64)


def _objects(s: pd.Series, missing: object = None) -> npt.NDArray[np.object_]:
    return s.astype(object).where(s.notnull(), missing).to_numpy(object)


def _dates(s: pd.Series) -> npt.NDArray[np.object_]:
    """Dates as ``inputs`` gives them: ``datetime.date``, NaT when missing."""
    return pd.to_datetime(s).dt.date.to_numpy(object)


def _frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame that keeps object columns as objects (no string-dtype round trip)."""
    return pd.DataFrame(
        {k: pd.Series(v, dtype=object if v.dtype == object else None) for k, v in cols.items()}
    )


def _last_before(
    deal: IntArray, at: IntArray, start: IntArray, n: int, cut: int
) -> tuple[IntArray, BoolArray]:
    """Per group 0..n-1 (rows sorted by group, then time): the index of its last row with
    ``at < cut``, and whether there is one."""
    cnt = np.bincount(deal[at < cut], minlength=n)
    return start + cnt - 1, cnt > 0


def _starts(group: IntArray, n: int) -> IntArray:
    """First row of each group in rows sorted by group."""
    return np.searchsorted(group, np.arange(n)).astype(np.int64)


class Replay:
    """Reads the history once; :meth:`load` gives :class:`Inputs` at any as-of date."""

    def __init__(self, store: Store, settings: Settings, window_days: int = WINDOW_DAYS):
        self.settings, self.window_days = settings, window_days
        t = store.table
        d = t("deals").execute().sort_values("deal_id", kind="stable").reset_index(drop=True)
        self.n = n = len(d)
        self.deal_id = _objects(d["deal_id"])
        ids = pd.Index(d["deal_id"])
        reps = t("reps").select("rep_id", "team_id").execute()
        team = dict(zip(reps["rep_id"], reps["team_id"], strict=True))
        prods = t("products").select("product_id", "product_line").execute()
        line = dict(zip(prods["product_id"], prods["product_line"], strict=True))
        # breakdowns as the forecast uses them: a missing value is "unknown"
        self.rep = _objects(d["owner_rep_id"], "unknown")
        self.team = _objects(d["owner_rep_id"].map(team), "unknown")
        self.product = _objects(d["product_id"], "unknown")
        self.line = _objects(d["product_id"].map(line), "unknown")
        self.pipeline = _objects(d["pipeline_id"], "unknown")
        self.created = _us(d["created_at"])
        self.closed_plain = _us(d["closed_at"])
        self.outcome_plain = _objects(d["outcome"])
        self.amount = d["amount"].to_numpy(float, na_value=np.nan)
        self.currency = _objects(d["currency"])
        self.close_on = _dates(d["expected_close_on"])
        self.created_ts = pd.to_datetime(d["created_at"]).astype("datetime64[us]").to_numpy()

        st = t("stages").execute()
        self.stage_ids = _objects(st["stage_id"])
        self.st_order = st["stage_order"].to_numpy(np.int64)
        self.st_prob = st["probability"].to_numpy(float, na_value=np.nan)
        self.st_closed = st["is_closed"].to_numpy(bool)
        self.st_won = st["is_won"].to_numpy(bool)
        code_of = pd.Index(st["stage_id"])
        self.stage_plain = code_of.get_indexer(d["stage_id"]).astype(np.int64)

        h = t("deal_stage_history").select("deal_id", "stage_id", "entered_at").execute()
        h = h.assign(_d=ids.get_indexer(h["deal_id"]), _s=code_of.get_indexer(h["stage_id"]))
        h = h[h["_d"] >= 0].sort_values(["_d", "entered_at", "stage_id"], kind="stable")
        self.has_history = len(h) > 0
        self.h_deal = h["_d"].to_numpy(np.int64)
        self.h_stage = h["_s"].to_numpy(np.int64)
        self.h_at = _us(h["entered_at"])
        self.h_start = _starts(self.h_deal, n)
        # entries into open stages, by (deal, stage) pair then time
        known = self.h_stage >= 0
        op = h[known & ~self.st_closed[np.maximum(self.h_stage, 0)]]
        op = op.sort_values(["_d", "stage_id", "entered_at"], kind="stable")
        pair_key = op["_d"].to_numpy(np.int64) * (len(st) + 1) + op["_s"].to_numpy(np.int64)
        new_pair = np.r_[True, pair_key[1:] != pair_key[:-1]] if len(op) else np.zeros(0, bool)
        self.p_row = np.cumsum(new_pair) - 1
        self.n_pairs = int(new_pair.sum())
        self.p_deal = op["_d"].to_numpy(np.int64)[new_pair]
        self.p_stage = op["_s"].to_numpy(np.int64)[new_pair]
        self.p_at = _us(op["entered_at"])
        self.p_start = _starts(self.p_row, self.n_pairs)

        f = t("deal_field_history").select(
            "deal_id", "changed_at", "amount", "currency", "expected_close_on"
        )
        f = f.execute()
        f = f.assign(_d=ids.get_indexer(f["deal_id"]))
        f = f[f["_d"] >= 0].sort_values(["_d", "changed_at"], kind="stable")
        self.f_all = self._field_rows(f)
        self.f_amt = self._field_rows(f[f["amount"].notnull()])
        self.f_close = self._field_rows(f[f["expected_close_on"].notnull()])

        r = t("currency_rates").execute()
        r["valid_from"] = pd.to_datetime(r["valid_from"]).dt.date
        self.rates = r.sort_values(["currency", "valid_from"], kind="stable")

    def _field_rows(self, f: pd.DataFrame) -> dict[str, np.ndarray]:
        deal = f["_d"].to_numpy(np.int64)
        return {
            "deal": deal,
            "at": _us(f["changed_at"]),
            "start": _starts(deal, self.n),
            "amount": f["amount"].to_numpy(float, na_value=np.nan),
            "currency": _objects(f["currency"]),
            "close": _dates(f["expected_close_on"]),
        }

    def _rate(self, as_of: date) -> dict[str, float]:
        r = self.rates[self.rates["valid_from"] <= as_of]
        last = r.groupby("currency", sort=False).tail(1)
        return dict(zip(last["currency"], last["rate"].astype(float), strict=True))

    def load(self, as_of: date) -> Inputs:
        """The open deals and the stage outcomes known at the end of ``as_of``."""
        cut_at = timecal.as_of_instant(as_of, self.settings.timezone)
        cut = int(np.datetime64(cut_at, "us").astype(np.int64))
        n = self.n
        alive = (self.created != NAT) & (self.created < cut)
        last, has = _last_before(self.h_deal, self.h_at, self.h_start, n, cut)
        last = np.where(has, last, 0)
        h_stage = self.h_stage[last] if len(self.h_stage) else np.full(n, -1)
        has &= h_stage >= 0  # a last row with an unknown stage is dropped (inner join)
        h_at = self.h_at[last] if len(self.h_at) else np.full(n, NAT)
        sc = np.maximum(h_stage, 0)
        plain_closed = (self.closed_plain != NAT) & (self.closed_plain < cut)
        h_closed = has & self.st_closed[sc]
        is_closed = np.where(has, h_closed, plain_closed)
        closed_at = np.where(h_closed, h_at, np.where(~has & plain_closed, self.closed_plain, NAT))
        outcome = np.where(
            h_closed,
            np.where(self.st_won[sc], "won", "lost").astype(object),
            np.where(~has & plain_closed, self.outcome_plain, NONE),
        )
        stage = np.where(has, h_stage, self.stage_plain)
        open_ = np.flatnonzero(alive & ~is_closed)
        open_df = self._open(open_, stage, np.where(has, h_at, self.created), as_of, cut)
        hist = pd.DataFrame()
        if self.has_history:
            since = int(
                np.datetime64(cut_at - timedelta(days=self.window_days), "us").astype(np.int64)
            )
            hist = self._outcomes(cut, since, alive, outcome, closed_at)
        return Inputs(open_df, hist, self.has_history)

    def _open(
        self, i: IntArray, stage: IntArray, entered: IntArray, as_of: date, cut: int
    ) -> pd.DataFrame:
        amount, currency, close = self.amount[i], self.currency[i], self.close_on[i]
        fa = self.f_all
        _, has_f = _last_before(fa["deal"], fa["at"], fa["start"], self.n, cut)
        has_f = has_f[i]
        fm = self.f_amt
        la, ha = _last_before(fm["deal"], fm["at"], fm["start"], self.n, cut)
        la, ha = np.where(ha, la, 0)[i], ha[i]
        if len(fm["deal"]):
            f_amount = np.where(ha, fm["amount"][la], np.nan)
            f_cur = np.where(ha, fm["currency"][la], NONE)
        else:
            f_amount, f_cur = np.full(len(i), np.nan), np.full(len(i), None, object)
        amount = np.where(has_f, f_amount, amount)
        currency = np.where(has_f, f_cur, currency)
        fc = self.f_close
        lc, hc = _last_before(fc["deal"], fc["at"], fc["start"], self.n, cut)
        lc, hc = np.where(hc, lc, 0)[i], hc[i]
        if len(fc["deal"]):
            close = np.where(has_f & hc, fc["close"][lc], close)
        rc = self.settings.reporting_currency
        rates = self._rate(as_of)
        rate = np.array(
            [1.0 if c is None or c == rc else rates.get(c, np.nan) for c in currency], float
        )
        s = stage[i]
        known = s >= 0
        sc = np.maximum(s, 0)
        # as inputs._open_frame leaves it (rows already in deal_id order)
        return _frame(
            {
                "deal_id": self.deal_id[i],
                "rep_id": self.rep[i],
                "team_id": self.team[i],
                "product_id": self.product[i],
                "product_line": self.line[i],
                "pipeline_id": self.pipeline[i],
                "stage_id": np.where(known, self.stage_ids[sc], NONE),
                "stage_order": np.where(known, self.st_order[sc], 0),
                "p_config": np.where(known, self.st_prob[sc], np.nan),
                "expected_close_on": close,
                "created_at": self.created_ts[i],
                "amount_eur": amount.astype(float) * rate,
                "age_days": np.maximum((cut - entered[i]) / US_PER_DAY, 0.0),
                "deal_age_days": np.maximum((cut - self.created[i]) / US_PER_DAY, 0.0),
            }
        )

    def _outcomes(
        self,
        cut: int,
        since: int,
        alive: BoolArray,
        outcome: npt.NDArray[np.object_],
        closed_at: IntArray,
    ) -> pd.DataFrame:
        last, has = _last_before(self.p_row, self.p_at, self.p_start, self.n_pairs, cut)
        d = self.p_deal
        c = closed_at[d]
        keep = has & alive[d] & ((c == NAT) | (c >= since))
        k = np.flatnonzero(keep)
        d, c = d[k], c[k]
        entered = self.p_at[last[k]]
        end = np.where(c == NAT, cut, c)
        # as inputs._history_frame leaves it (pairs already in (deal_id, stage_id) order)
        return _frame(
            {
                "deal_id": self.deal_id[d],
                "stage_id": self.stage_ids[self.p_stage[k]],
                "pipeline_id": self.pipeline[d],
                "product_line": self.line[d],
                "product_id": self.product[d],
                "outcome": np.where(outcome[d] == None, np.nan, outcome[d]),  # noqa: E711
                "days": np.maximum((end - entered) / US_PER_DAY, 0.0),
                "days_created": np.maximum((end - self.created[d]) / US_PER_DAY, 0.0),
            }
        )
