"""An independent pandas implementation of the main KPIs, for the differential test and the
benchmark.

Written from the KPI definitions in ``docs/kpis.md`` and the conventions in the data-model
docs — it does not import or copy anything from ``salespulse.semantic``. Straightforward on
purpose: one plain pandas function per KPI, readable next to its definition.

Conventions (from the docs):

* Stored timestamps are naive UTC; periods are local calendar periods (Europe/Amsterdam by
  default); quarters and years are fiscal (start month configurable).
* ``as_of`` D means "known at the end of local day D": everything that happened before the
  next local midnight (as a UTC instant, exclusive) counts.
* A deal's state as of D comes from its last stage-history row entered by then (closed /
  won if that stage is); deals without history use their own ``closed_at``/``outcome``.
* Amounts are converted to EUR with the latest rate valid on D.
* Ratios are numerator / denominator and have no value (NaN here) when the denominator is 0.

Every function returns a frame with the breakdown columns (``period`` first, as a
``datetime64`` of the period's first day, then the dimensions named as in ``--by``) and
``value``; ratios and means also ``numerator`` and ``denominator``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

TZ = "Europe/Amsterdam"
SLA_DEFAULT_STALE_DAYS = 60.0
STALE_MIN_HISTORY = 20
STALE_FACTOR = 1.25
CUSTOMER_WINDOW_DAYS = 365
REPORTING = "EUR"

#: The columns each KPI here needs, per canonical table (nothing else is loaded).
COLUMNS: dict[str, list[str]] = {
    "teams": ["team_id", "region"],
    "reps": ["rep_id", "team_id", "region", "hired_on", "left_on"],
    "accounts": ["account_id", "industry"],
    "products": ["product_id", "product_line"],
    "stages": ["stage_id", "pipeline_id", "stage_order", "is_closed", "is_won"],
    "leads": [
        "lead_id",
        "channel",
        "owner_rep_id",
        "account_id",
        "industry",
        "created_at",
        "assigned_at",
        "sql_at",
        "disqualified_at",
    ],
    "deals": [
        "deal_id",
        "account_id",
        "lead_id",
        "owner_rep_id",
        "pipeline_id",
        "stage_id",
        "product_id",
        "amount",
        "currency",
        "created_at",
        "closed_at",
        "outcome",
    ],
    "deal_stage_history": ["deal_id", "stage_id", "entered_at"],
    "activities": [
        "activity_type",
        "direction",
        "rep_id",
        "lead_id",
        "occurred_at",
        "due_at",
        "completed_at",
    ],
    "contracts": [
        "contract_id",
        "account_id",
        "signed_on",
        "start_on",
        "end_on",
        "value",
        "currency",
    ],
    "currency_rates": ["currency", "valid_from", "rate"],
}


@dataclass
class Data:
    """The canonical tables as pandas frames (only the columns listed in ``COLUMNS``)."""

    t: dict[str, pd.DataFrame]
    tz: str = TZ
    fiscal_start_month: int = 1
    _cache: dict[tuple[str, date], pd.DataFrame] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.t[name]


def load(fetch: Callable[[str, list[str]], pa.Table], **kw: object) -> Data:
    """Load every table through ``fetch(table, columns) -> Arrow table``."""
    frames = {
        name: fetch(name, cols).to_pandas(date_as_object=False) for name, cols in COLUMNS.items()
    }
    return Data(frames, **kw)  # type: ignore[arg-type]


def load_store(store: object, **kw: object) -> Data:
    """Load from a salespulse ``Store`` (its Ibis connection is used for reading only)."""
    con = store.con  # type: ignore[attr-defined]
    return load(lambda name, cols: con.table(name).select(cols).to_pyarrow(), **kw)


def load_duckdb(path: str, **kw: object) -> Data:
    """Load straight from a DuckDB file (read-only)."""
    import duckdb

    con = duckdb.connect(path, read_only=True)
    try:
        return load(
            lambda name, cols: con.sql(f'SELECT {", ".join(cols)} FROM "{name}"').to_arrow_table(),
            **kw,
        )
    finally:
        con.close()


# -- time ------------------------------------------------------------------------------
def cutoff(as_of: date, tz: str = TZ) -> pd.Timestamp:
    """End of local day ``as_of`` as a naive UTC instant (exclusive)."""
    nxt = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    return pd.Timestamp(nxt).tz_convert("UTC").tz_localize(None)


def local_midnight_utc(d: date, tz: str = TZ) -> pd.Timestamp:
    return (
        pd.Timestamp(datetime.combine(d, datetime.min.time(), ZoneInfo(tz)))
        .tz_convert("UTC")
        .tz_localize(None)
    )


def to_local(s: pd.Series, tz: str = TZ) -> pd.Series:
    return s.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)


_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def period_of(local: pd.Series, grain: str, fiscal_start_month: int = 1) -> pd.Series:
    """First day of the (fiscal) period of local wall-clock times / dates."""
    fy_end = _MONTHS[(fiscal_start_month - 2) % 12]
    freq = {
        "day": "D",
        "week": "W-SUN",
        "month": "M",
        "quarter": f"Q-{fy_end}",
        "year": f"Y-{fy_end}",
    }[grain]
    out = local.dt.to_period(freq).dt.start_time
    return out.astype("datetime64[us]")


def period_start(d: date, grain: str, fiscal_start_month: int = 1) -> date:
    s = period_of(pd.Series([pd.Timestamp(d)]), grain, fiscal_start_month)
    return s.iloc[0].date()  # type: ignore[no-any-return]


def next_period_start(d: date, grain: str) -> date:
    step = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(days=7)}.get(grain)
    if step is None:
        step = pd.DateOffset(months={"month": 1, "quarter": 3, "year": 12}[grain])
    return (pd.Timestamp(d) + step).date()  # type: ignore[no-any-return]


GRAINS = ("day", "week", "month", "quarter", "year")


def _split(by: Sequence[str]) -> tuple[str | None, list[str]]:
    grain = next((b for b in by if b in GRAINS), None)
    return grain, [b for b in by if b not in GRAINS]


# -- dimensions and state ---------------------------------------------------------------
def _rates(data: Data, as_of: date) -> pd.Series:
    r = data["currency_rates"]
    r = r[r.valid_from <= pd.Timestamp(as_of)].sort_values("valid_from")
    return r.groupby("currency").rate.last()


def to_eur(data: Data, amount: pd.Series, currency: pd.Series, as_of: date) -> pd.Series:
    rate = currency.map(_rates(data, as_of)).astype("float64")
    plain = currency.isna() | (currency == REPORTING)
    return amount.astype("float64").where(plain, amount.astype("float64") * rate)


def rep_dims(data: Data) -> pd.DataFrame:
    """rep_id → team, region (the rep's own region, else the team's)."""
    r = data["reps"].merge(
        data["teams"].rename(columns={"region": "team_region"}), on="team_id", how="left"
    )
    return pd.DataFrame(
        {
            "rep_id": r.rep_id,
            "team": r.team_id,
            "region": r.region.fillna(r.team_region),
        }
    )


def _with_rep(df: pd.DataFrame, data: Data, rep_col: str) -> pd.DataFrame:
    out = df.merge(
        rep_dims(data), left_on=rep_col, right_on="rep_id", how="left", suffixes=("", "_r")
    )
    out["rep"] = out[rep_col]
    return out.drop(columns=[c for c in ("rep_id_r",) if c in out.columns])


def history(data: Data, as_of: date) -> pd.DataFrame:
    """Stage history known at as-of, ordered, with ``left_at`` (next entry) and stage flags."""
    key = ("history", as_of)
    if key not in data._cache:
        cut = cutoff(as_of, data.tz)
        h = data["deal_stage_history"]
        h = h[h.entered_at < cut].sort_values(["deal_id", "entered_at", "stage_id"])
        h = h.reset_index(drop=True)
        nxt = h.groupby("deal_id", sort=False).entered_at.shift(-1)
        h = h.assign(left_at=nxt)
        h = h.merge(data["stages"], on="stage_id", how="left")
        data._cache[key] = h
    return data._cache[key]


def deals(data: Data, as_of: date) -> pd.DataFrame:
    """Deals created by as-of, in their state then, with every deal breakdown."""
    key = ("deals", as_of)
    if key in data._cache:
        return data._cache[key]
    cut = cutoff(as_of, data.tz)
    d = data["deals"]
    d = d[d.created_at < cut].copy()
    h = history(data, as_of)
    last = h.drop_duplicates("deal_id", keep="last").set_index("deal_id")
    has_h = d.deal_id.isin(last.index)
    l_stage = d.deal_id.map(last.stage_id)
    l_closed = d.deal_id.map(last.is_closed).astype("boolean").fillna(False).astype(bool)
    l_won = d.deal_id.map(last.is_won).astype("boolean").fillna(False).astype(bool)
    l_at = d.deal_id.map(last.entered_at)
    plain_closed = d.closed_at.notna() & (d.closed_at < cut)
    d["stage"] = l_stage.where(has_h, d.stage_id)
    d["is_closed"] = np.where(has_h, l_closed, plain_closed)
    d["is_won"] = np.where(has_h, l_closed & l_won, plain_closed & (d.outcome == "won"))
    d["closed_at"] = l_at.where(has_h & l_closed, d.closed_at.where(~has_h & plain_closed))
    d["amount_eur"] = to_eur(data, d.amount, d.currency, as_of)
    d = _with_rep(d, data, "owner_rep_id")
    prod = data["products"].set_index("product_id").product_line
    d["product"] = d.product_id
    d["product_line"] = d.product_id.map(prod)
    d["pipeline"] = d.pipeline_id
    d["industry"] = d.account_id.map(data["accounts"].set_index("account_id").industry)
    ch = data["leads"].set_index("lead_id").channel
    d["channel"] = d.lead_id.map(ch).fillna("not_set")
    data._cache[key] = d
    return d


def leads(data: Data, as_of: date) -> pd.DataFrame:
    """Leads created by as-of: SQL date and owner as known then, with breakdowns."""
    key = ("leads", as_of)
    if key in data._cache:
        return data._cache[key]
    cut = cutoff(as_of, data.tz)
    lead = data["leads"]
    lead = lead[lead.created_at < cut].copy()
    lead["sql_at"] = lead.sql_at.where(lead.sql_at < cut)
    lead["disqualified_at"] = lead.disqualified_at.where(lead.disqualified_at < cut)
    assigned = lead.owner_rep_id.notna() & (lead.assigned_at.isna() | (lead.assigned_at < cut))
    lead["owner"] = lead.owner_rep_id.where(assigned)
    lead["channel"] = lead.channel.fillna("not_set")
    acc = data["accounts"].set_index("account_id").industry
    lead["industry"] = lead.account_id.map(acc).fillna(lead.industry)
    lead = _with_rep(lead, data, "owner")
    data._cache[key] = lead
    return lead


def activities(data: Data, as_of: date) -> pd.DataFrame:
    key = ("activities", as_of)
    if key not in data._cache:
        a = data["activities"]
        a = a[a.occurred_at < cutoff(as_of, data.tz)]
        data._cache[key] = _with_rep(a, data, "rep_id")
    return data._cache[key]


# -- aggregation -----------------------------------------------------------------------
def _keys(df: pd.DataFrame, at: str | None, by: Sequence[str], data: Data) -> pd.DataFrame:
    """``df`` with a ``period`` column (local period of ``at``) when ``by`` has a grain."""
    grain, _ = _split(by)
    if grain:
        col = df[at]
        if at is not None and at.endswith("_at"):
            col = to_local(col, data.tz)
        df = df.assign(period=period_of(col, grain, data.fiscal_start_month))
    return df


def _group_cols(by: Sequence[str]) -> list[str]:
    grain, dims = _split(by)
    return (["period"] if grain else []) + list(dims)


def agg_count(df: pd.DataFrame, by: Sequence[str], where: pd.Series | None = None) -> pd.DataFrame:
    """Number of rows per group (only those matching ``where``; every group is listed)."""
    n = pd.Series(1 if where is None else where.astype("int64"), index=df.index)
    cols = _group_cols(by)
    if not cols:
        return pd.DataFrame({"value": [float(n.sum())]})
    g = n.groupby([df[c] for c in cols], dropna=False).sum().astype("float64")
    return g.rename("value").reset_index()


def agg_sum(df: pd.DataFrame, by: Sequence[str], col: str) -> pd.DataFrame:
    """Sum per group; no rows at all → 0, rows that all lack the value → no value (NaN)."""
    cols = _group_cols(by)
    if not cols:
        total = 0.0 if df.empty else df[col].sum(min_count=1)
        return pd.DataFrame({"value": [float(total)]})
    g = df[col].groupby([df[c] for c in cols], dropna=False).sum(min_count=1)
    return g.astype("float64").rename("value").reset_index()


def agg_ratio(
    df: pd.DataFrame, by: Sequence[str], num: pd.Series, den: pd.Series, scale: float = 1.0
) -> pd.DataFrame:
    """``num``/``den`` are per-row contributions (0/1 flags or values, NaN = nothing)."""
    cols = _group_cols(by)
    parts = pd.DataFrame(
        {"numerator": num.astype("float64").fillna(0.0), "denominator": den.astype("float64")}
    )
    parts["denominator"] = parts.denominator.fillna(0.0)
    if cols:
        g = parts.groupby([df[c] for c in cols], dropna=False).sum().reset_index()
    else:
        g = pd.DataFrame(parts.sum()).T
    g["value"] = g.numerator / g.denominator.where(g.denominator != 0) * scale
    return g


def agg_mean(df: pd.DataFrame, by: Sequence[str], col: str) -> pd.DataFrame:
    """Mean of a column as sum / number of non-empty values."""
    return agg_ratio(df, by, df[col], df[col].notna())


def agg_quantile(df: pd.DataFrame, by: Sequence[str], col: str, q: float) -> pd.DataFrame:
    cols = _group_cols(by)
    if not cols:
        return pd.DataFrame({"value": [df[col].quantile(q)]})
    g = df[col].astype("float64").groupby([df[c] for c in cols], dropna=False).quantile(q)
    return g.rename("value").reset_index()


def _days(a: pd.Series, b: pd.Series) -> pd.Series:
    return (b - a).dt.total_seconds() / 86400.0


# -- deal KPIs --------------------------------------------------------------------------
def _won(data: Data, as_of: date, by: Sequence[str]) -> pd.DataFrame:
    d = deals(data, as_of)
    return _keys(d[d.is_won], "closed_at", by, data)


def won_revenue(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Sum of EUR amounts of the deals won in the period (by close date)."""
    return agg_sum(_won(data, as_of, by), by, "amount_eur")


def won_deals(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    return agg_count(_won(data, as_of, by), by)


def avg_deal_size(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Mean amount of the deals won in the period; deals without amount left out."""
    return agg_mean(_won(data, as_of, by), by, "amount_eur")


def avg_sales_cycle(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Mean days from creation to won, for the deals won in the period."""
    w = _won(data, as_of, by)
    w = w.assign(cycle_days=_days(w.created_at, w.closed_at))
    return agg_mean(w, by, "cycle_days")


def win_rate(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Won / closed for the deals closed in the period."""
    d = deals(data, as_of)
    c = _keys(d[d.is_closed], "closed_at", by, data)
    return agg_ratio(c, by, c.is_won, pd.Series(1, index=c.index))


def open_at(data: Data, as_of: date) -> pd.DataFrame:
    """Deals open at the end of as-of, each in its stage then."""
    d = deals(data, as_of)
    return d[~d.is_closed]


def open_deals(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    o = open_at(data, as_of)
    return agg_count(o, by)


def open_pipeline(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    return agg_sum(open_at(data, as_of), by, "amount_eur")


def _quarters(
    data: Data, start: date, end: date, as_of: date, grain: str
) -> list[tuple[date, pd.Timestamp, pd.Timestamp, date, date]]:
    """(period, start instant, end instant, first day, day after last) for each period
    overlapping [start, min(end, as_of)]; instants and last days capped at as-of."""
    end = min(end, as_of)
    cut = cutoff(as_of, data.tz)
    out = []
    p = period_start(start, grain, data.fiscal_start_month)
    while p <= end:
        n = next_period_start(p, grain)
        out.append(
            (
                p,
                min(local_midnight_utc(p, data.tz), cut),
                min(local_midnight_utc(n, data.tz), cut),
                p,
                min(n, as_of + timedelta(days=1)),
            )
        )
        p = n
    return out


LEAD_BREAKDOWNS = {"rep", "team", "region", "channel", "industry"}


def conversion_rate(
    data: Data, by: Sequence[str], as_of: date, start: date, end: date, dormant_days: int = 120
) -> pd.DataFrame:
    """S5: deals won in the period / leads and deals in the pipeline at any time in it
    × 100.

    A deal is in the pipeline from creation until closed; a lead from creation until
    disqualified or dormant (``dormant_days`` after its last activity, or its creation,
    when that is before as-of), and only while it has not become a deal by the end of the
    period (then it counts once, as the deal). Leads take part only in breakdowns a lead
    has.
    """
    grain, dims = _split(by)
    d = deals(data, as_of)
    with_leads = set(dims) <= LEAD_BREAKDOWNS
    if with_leads:
        lead = leads(data, as_of)
        first_deal = d.dropna(subset=["lead_id"]).groupby("lead_id").created_at.min()
        lead_deal = lead.lead_id.map(first_deal)
        acts = activities(data, as_of)
        last = acts.dropna(subset=["lead_id"]).groupby("lead_id").occurred_at.max()
        touched = lead.lead_id.map(last).fillna(lead.created_at)
        dormant = touched + pd.Timedelta(days=dormant_days)
        dormant = dormant.where(dormant < cutoff(as_of, data.tz))
        lead_end = lead.disqualified_at.fillna(dormant)
    frames = []
    for p, ps, pe, _, _ in _quarters(data, start, end, as_of, grain or "quarter"):
        won = d.is_won & (d.closed_at >= ps) & (d.closed_at < pe)
        inp = (d.created_at < pe) & (d.closed_at.isna() | (d.closed_at >= ps))
        frames.append(
            d[dims].assign(period=pd.Timestamp(p), _num=won.astype(int), _den=inp.astype(int))
        )
        if with_leads:
            active = (
                (lead.created_at < pe)
                & (lead_end.isna() | (lead_end >= ps))
                & (lead_deal.isna() | (lead_deal >= pe))
            )
            frames.append(
                lead[dims].assign(period=pd.Timestamp(p), _num=0, _den=active.astype(int))
            )
    allp = pd.concat(frames, ignore_index=True)
    return agg_ratio(allp, by, allp._num, allp._den, 100.0)


# -- lead KPIs -------------------------------------------------------------------------
def new_leads(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Leads created in the period."""
    return agg_count(_keys(leads(data, as_of), "created_at", by, data), by)


def _sqls(data: Data, as_of: date, by: Sequence[str]) -> pd.DataFrame:
    lead = leads(data, as_of)
    return _keys(lead[lead.sql_at.notna()], "sql_at", by, data)


def sqls(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Leads that became SQL in the period (by SQL date)."""
    return agg_count(_sqls(data, as_of, by), by)


def sql_owner_share(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    s = _sqls(data, as_of, by)
    return agg_ratio(s, by, s.owner.notna(), pd.Series(1, index=s.index))


def first_response_hours(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Mean clock hours from SQL to the owner's first outbound call/e-mail/meeting on the
    lead (before SQL counts as 0); unanswered SQLs are left out."""
    s = _sqls(data, as_of, by)
    a = activities(data, as_of)
    out = a[
        a.activity_type.isin(["call", "email", "meeting"])
        & (a.direction.isna() | (a.direction == "outbound"))
        & a.lead_id.notna()
    ]
    first = out.groupby(["lead_id", "rep_id"]).occurred_at.min().rename("first_at").reset_index()
    s = s.merge(
        first,
        left_on=["lead_id", "owner"],
        right_on=["lead_id", "rep_id"],
        how="left",
        suffixes=("", "_a"),
    )
    resp = s.first_at.where(s.first_at >= s.sql_at, s.sql_at).where(s.first_at.notna())
    s = s.assign(hours=(resp - s.sql_at).dt.total_seconds() / 3600.0)
    return agg_mean(s, by, "hours")


# -- activity KPIs ---------------------------------------------------------------------
def _acts(data: Data, as_of: date, by: Sequence[str]) -> pd.DataFrame:
    return _keys(activities(data, as_of), "occurred_at", by, data)


def calls(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    a = _acts(data, as_of, by)
    return agg_count(a, by, a.activity_type == "call")


def emails(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    a = _acts(data, as_of, by)
    return agg_count(a, by, a.activity_type == "email")


def call_email_balance(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """calls / (calls + e-mails)."""
    a = _acts(data, as_of, by)
    return agg_ratio(a, by, a.activity_type == "call", a.activity_type.isin(["call", "email"]))


def tasks_completed_share(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Of the tasks due in the period, the share completed by as-of."""
    a = activities(data, as_of)
    t = a[(a.activity_type == "task") & a.due_at.notna()]
    t = _keys(t, "due_at", by, data)
    done = t.completed_at.notna() & (t.completed_at < cutoff(as_of, data.tz))
    return agg_ratio(t, by, done, pd.Series(1, index=t.index))


# -- stage KPIs ------------------------------------------------------------------------
def _with_deal_dims(df: pd.DataFrame, data: Data, as_of: date) -> pd.DataFrame:
    d = deals(data, as_of)[
        [
            "deal_id",
            "rep",
            "team",
            "region",
            "channel",
            "product",
            "product_line",
            "pipeline",
            "industry",
        ]
    ]
    return df.merge(d, on="deal_id", how="inner")


def stage_conversion(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Of the deals that first entered an open stage in the period, the share that entered
    a later stage (higher order, won counts, lost does not) at or after that first entry."""
    h = history(data, as_of)
    lost = h.is_closed & ~h.is_won
    opens = h[~h.is_closed]
    first = opens.groupby(["deal_id", "stage_id"], as_index=False).agg(
        first_at=("entered_at", "min"), stage_order=("stage_order", "first")
    )
    later = h[~lost][["deal_id", "stage_order", "entered_at"]].rename(
        columns={"stage_order": "l_order", "entered_at": "l_at"}
    )
    j = first.merge(later, on="deal_id", how="left")
    j["adv"] = (j.l_order > j.stage_order) & (j.l_at >= j.first_at)
    adv = j.groupby(["deal_id", "stage_id"]).adv.any().rename("advanced").reset_index()
    f = first.merge(adv, on=["deal_id", "stage_id"])
    f = _with_deal_dims(f, data, as_of).rename(columns={"stage_id": "stage"})
    f = _keys(f, "first_at", by, data)
    return agg_ratio(f, by, f.advanced, pd.Series(1, index=f.index))


def _visits(data: Data, as_of: date) -> pd.DataFrame:
    """Completed visits of open stages, with days spent."""
    h = history(data, as_of)
    v = h[~h.is_closed & h.left_at.notna()]
    return v.assign(days=_days(v.entered_at, v.left_at))


def time_in_stage_median(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Median days per stage visit, for visits that ended in the period."""
    v = _with_deal_dims(_visits(data, as_of), data, as_of).rename(columns={"stage_id": "stage"})
    v = _keys(v, "left_at", by, data)
    return agg_quantile(v, by, "days", 0.5)


def stale_deals(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """Open deals longer in their current stage than STALE_FACTOR × the p90 of the completed
    visits of that stage by deals of the same product (at least 20 of them), else of the
    stage (at least 20), else 60 days."""
    v = _with_deal_dims(_visits(data, as_of), data, as_of)

    def p90s(keys: list[str]) -> pd.Series:
        g = v.groupby(keys, dropna=False).days.agg(p90=lambda x: x.quantile(0.9), n="count")
        return g.p90[g.n >= STALE_MIN_HISTORY] * STALE_FACTOR

    by_sp, by_s = p90s(["stage_id", "product"]), p90s(["stage_id"])
    cut = cutoff(as_of, data.tz)
    o = open_at(data, as_of)
    h = history(data, as_of)
    since = h.drop_duplicates("deal_id", keep="last").set_index("deal_id").entered_at
    entered = o.deal_id.map(since).fillna(o.created_at)
    days = (cut - entered).dt.total_seconds() / 86400.0
    sp = pd.Series(list(zip(o.stage, o["product"], strict=True)), index=o.index).map(by_sp)
    limit = sp.fillna(o.stage.map(by_s)).astype("float64").fillna(SLA_DEFAULT_STALE_DAYS)
    return agg_count(o, by, days > limit)


# -- team and customers ----------------------------------------------------------------
def staff_retention(
    data: Data, by: Sequence[str], as_of: date, start: date, end: date
) -> pd.DataFrame:
    """S6: (staff on the last day − hires in the period) / staff on the first day × 100.
    On staff on a day: hired on or before it (no date = always), not left before it. As the
    engine documents it: a rep hired on the first day is on staff at the start (not a hire
    of the period), and a hire who left again is not subtracted (only hires still there)."""
    grain, dims = _split(by)
    r = data["reps"].merge(rep_dims(data), on="rep_id", suffixes=("_own", ""))
    rows = []
    for p, _, _, first_day, after_last in _quarters(data, start, end, as_of, grain or "year"):
        fd, ld = pd.Timestamp(first_day), pd.Timestamp(after_last - timedelta(days=1))

        def on_staff(day: pd.Timestamp) -> pd.Series:
            return (r.hired_on.isna() | (r.hired_on <= day)) & (
                r.left_on.isna() | (r.left_on >= day)
            )

        hired = r.hired_on.notna() & (r.hired_on > fd) & (r.hired_on <= ld)
        f = r[dims].assign(
            period=pd.Timestamp(p),
            _num=on_staff(ld).astype(int) - (hired & on_staff(ld)).astype(int),
            _den=on_staff(fd).astype(int),
        )
        rows.append(f)
    allp = pd.concat(rows, ignore_index=True)
    return agg_ratio(allp, by, allp._num, allp._den, 100.0)


def contracts(data: Data, as_of: date) -> pd.DataFrame:
    c = data["contracts"]
    c = c[c.signed_on <= pd.Timestamp(as_of)].copy()
    c["value_eur"] = to_eur(data, c.value, c.currency, as_of)
    return c


def customer_retention(
    data: Data, by: Sequence[str], as_of: date, start: date, end: date
) -> pd.DataFrame:
    """S9: of the customers at the start of the period, the share still a customer at its
    end × 100. A customer on a day: an account with a contract running that day (open-ended
    ones keep running) or signed in the 365 days up to it."""
    grain, dims = _split(by)
    assert not dims, "per-dimension retention is not implemented here"
    c = contracts(data, as_of)
    window = pd.Timedelta(days=CUSTOMER_WINDOW_DAYS)

    def customers(day: pd.Timestamp) -> set[str]:
        running = (c.start_on <= day) & (c.end_on.isna() | (c.end_on >= day))
        recent = (c.signed_on <= day) & (c.signed_on > day - window)
        return set(c.account_id[running | recent])

    rows = []
    for p, _, _, fd, after_last in _quarters(data, start, end, as_of, grain or "year"):
        first, last = pd.Timestamp(fd), pd.Timestamp(after_last - timedelta(days=1))
        at_start, at_end = customers(first), customers(last)
        rows.append(
            {
                "period": pd.Timestamp(p),
                "numerator": float(len(at_start & at_end)),
                "denominator": float(len(at_start)),
            }
        )
    out = pd.DataFrame(rows)
    out["value"] = out.numerator / out.denominator.where(out.denominator != 0) * 100.0
    return out if grain else out.drop(columns="period")


def acv(data: Data, by: Sequence[str], as_of: date) -> pd.DataFrame:
    """S1: total value of the contracts signed in the period / their number (EUR)."""
    c = contracts(data, as_of)
    return agg_mean(_keys(c, "signed_on", by, data), by, "value_eur")
