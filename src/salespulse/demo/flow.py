"""One chunk of the demo company's sales flow: leads -> deals -> stage history -> activities
-> contracts, vectorized with numpy (no Python loop over rows).

Chunks are independent samples over the whole history (each with its own random stream), so
the 1m scale is many chunks written one after the other with bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from salespulse.demo import model as m
from salespulse.demo.arrow import NA, dates, floats, ids, join, take, timestamps
from salespulse.demo.calendar import (
    DAY,
    HOUR,
    add_business_hours,
    month_index,
    quarter_index,
    snap_to_work,
    to_utc,
    work_time_on,
)
from salespulse.demo.patterns import PLANTED
from salespulse.demo.slips import field_history, rep_optimism
from salespulse.demo.world import (
    EMAIL_ONLY,
    SERVICE_PRODUCTS,
    SKIPPER,
    SLIPPER,
    SLOW,
    Contracts,
    World,
    contracts_table,
    renewals,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHANNEL_NAMES = tuple(c[0] for c in m.CHANNELS)
WEB_FORM = CHANNEL_NAMES.index("web_form")
OUTBOUND = CHANNEL_NAMES.index("outbound")
REFERRAL = CHANNEL_NAMES.index(PLANTED.referral_channel)
TRADE_FAIR = CHANNEL_NAMES.index("trade_fair")
XL = [p.product_id for p in m.PRODUCTS].index(PLANTED.long_cycle_product_id)
ACTIVITY_TYPES = ("call", "email", "meeting", "task", "note")
CALL, EMAIL, MEETING, TASK, NOTE = range(5)
DIRECTIONS = ("outbound", "inbound")
OUTCOMES = ("connected", "no_answer", "voicemail", "replied", "held", "no_show")


@dataclass(frozen=True)
class Engagement:
    """How a deal's fate shows in its activities (docs/demo-data.md, ground truth)."""

    #: Share of deal e-mails that are customer replies (inbound), won vs other deals.
    reply_won: float = 0.30
    reply: float = 0.22
    #: Share of deal calls the customer makes (inbound), won vs other deals.
    inbound_call_won: float = 0.09
    inbound_call: float = 0.06
    #: Extra share of meetings on deals that will be lost that become no-shows.
    extra_no_show: float = 0.15
    #: Deals that will be lost go quiet after this share of their planned life ...
    quiet_after: float = 0.6
    #: ... where this share of their activities is never logged.
    quiet_drop: float = 0.5


ENGAGEMENT = Engagement()
N_COLS = 10  # path slots: 5 open stages, back, forward, close, reopen, close again


@dataclass
class Offsets:
    """Numbers already used by earlier chunks (ids continue from here)."""

    leads: int = 0
    deals: int = 0
    activities: int = 0
    contracts: int = 0


@dataclass
class Totals:
    """Aggregates over all chunks, for the targets."""

    won_eur: FloatArray  # rep x quarter
    sqls: FloatArray  # team x month
    counts: dict[str, int] = field(default_factory=dict)


def _cat(rng: np.random.Generator, cum: FloatArray) -> IntArray:
    """Categorical draws, one per row of the cumulative-probability matrix ``cum``."""
    u = rng.random(int(cum.shape[0]))
    return np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1).astype(np.int64)


def _log_uniform(rng: np.random.Generator, lo: FloatArray, hi: FloatArray) -> FloatArray:
    return lo * (hi / lo) ** rng.random(lo.shape[0])


@dataclass
class Acts:
    """Activity rows under construction (indexes into the chunk's leads/deals)."""

    t: IntArray
    rep: IntArray
    kind: IntArray
    direction: IntArray
    outcome: IntArray
    lead: IntArray
    deal: IntArray
    account: IntArray
    due: IntArray
    completed: IntArray

    @staticmethod
    def concat(parts: list[Acts]) -> Acts:
        return Acts(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Acts.__dataclass_fields__)
        )

    def select(self, keep: BoolArray | IntArray) -> Acts:
        return Acts(*(getattr(self, f)[keep] for f in Acts.__dataclass_fields__))


def _contact(
    rng: np.random.Generator,
    kind: IntArray,
    inbound: BoolArray,
) -> tuple[IntArray, IntArray]:
    """Direction and outcome for activities of ``kind`` (inbound ones where ``inbound``)."""
    n = kind.shape[0]
    contact = (kind == CALL) | (kind == EMAIL)
    inbound = inbound & contact
    direction = np.where(kind >= TASK, -1, np.where(inbound, 1, 0))
    call_out = rng.choice(3, n, p=[0.5, 0.32, 0.18])
    meet = np.where(rng.random(n) < 0.9, 4, 5)
    outcome = np.full(n, -1, np.int64)
    outcome = np.where(kind == CALL, np.where(inbound, 0, call_out), outcome)
    outcome = np.where((kind == EMAIL) & inbound, 3, outcome)
    outcome = np.where(kind == MEETING, meet, outcome)
    return direction.astype(np.int64), outcome.astype(np.int64)


def _acts(
    rng: np.random.Generator,
    t: IntArray,
    rep: IntArray,
    kind: IntArray,
    inbound: BoolArray,
    lead: IntArray,
    deal: IntArray,
    account: IntArray,
) -> Acts:
    n = t.shape[0]
    direction, outcome = _contact(rng, kind, inbound)
    na = np.full(n, NA, np.int64)
    return Acts(t, rep, kind, direction, outcome, lead, deal, account, na, na.copy())


class Chunk:
    """Generates one chunk; :meth:`run` returns its tables."""

    def __init__(self, world: World, index: int, n_leads: int, backlog: int, stale: int) -> None:
        self.w = world
        self.rng = np.random.default_rng(np.random.SeedSequence(world.seed, spawn_key=(1, index)))
        self.n_leads = n_leads
        self.index = index
        self.backlog = backlog
        self.stale = stale
        self.cutoff = world.cutoff
        self.left_at = world.reps.left_at()

    # -- leads ---------------------------------------------------------------------------
    def _lead_days(self, channel: IntArray) -> IntArray:
        w, rng = self.w, self.rng
        days = np.arange(w.start_day, w.cutoff_day, dtype=np.int64)
        month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
        dow = (days + 3) % 7
        growth = 1 + 0.12 * (days - w.start_day) / 365
        season = np.where(np.isin(month, [7, 8]), 0.7, np.where(month == 12, 0.75, 1.0))
        weekday = np.where(dow >= 5, 0.05, 1.0)
        web = np.where(dow >= 5, 0.6, 1.0)
        fair = np.zeros(days.shape[0])
        for year in range(w.first_year, w.today.year + 1):
            for mon, day in m.TRADE_FAIRS:
                d0 = int(np.datetime64(f"{year:04d}-{mon:02d}-{day:02d}").astype(np.int64))
                after = days - d0
                fair += np.where((after >= 0) & (after < 21), np.exp(-after / 7.0), 0.0)
        out = np.zeros(channel.shape[0], np.int64)
        for c in range(len(m.CHANNELS)):
            idx = np.flatnonzero(channel == c)
            if c == TRADE_FAIR:
                intensity = fair * growth * weekday + 1e-9
            elif c == WEB_FORM:
                intensity = growth * season * web
            else:
                intensity = growth * season * weekday
            cum = np.cumsum(intensity)
            out[idx] = days[np.searchsorted(cum, rng.random(idx.shape[0]) * cum[-1])]
        return out

    def leads(self) -> None:
        w, rng, reps = self.w, self.rng, self.w.reps
        n = self.n_leads
        channel = rng.choice(len(m.CHANNELS), n, p=[c[1] for c in m.CHANNELS])
        day = self._lead_days(channel)
        any_time = to_utc(day * DAY + rng.integers(0, DAY, n))
        created = np.where(
            (channel == WEB_FORM) & (rng.random(n) < 0.35), any_time, work_time_on(rng, day)
        )
        backlog = np.zeros(n, bool)
        if self.backlog:
            b = self.backlog
            ch = rng.choice(
                [WEB_FORM, CHANNEL_NAMES.index("email"), CHANNEL_NAMES.index("phone")], b
            )
            bday = w.cutoff_day - rng.integers(1, PLANTED.backlog_days, b)
            channel = np.concatenate([channel, ch])
            bt = work_time_on(rng, bday)
            bt = np.where(bt >= self.cutoff - HOUR, bt - 7 * DAY, bt)  # weekend -> Monday
            created = np.concatenate([created, bt])
            backlog = np.concatenate([backlog, np.ones(b, bool)])
        keep = created < self.cutoff - HOUR
        channel, created, backlog = channel[keep], created[keep], backlog[keep]
        order = np.argsort(created, kind="stable")
        channel, created, backlog = channel[order], created[order], backlog[order]
        n = int(created.shape[0])
        # account: one that existed when the lead came in
        avail = np.searchsorted(w.acc_created, created, side="right")
        account = (rng.random(n) * avail).astype(np.int64)
        referrer = np.where(
            channel == REFERRAL, w.referrer(created // DAY, rng.random(n)), -1
        ).astype(np.int64)
        clash = (referrer >= 0) & (referrer == account)
        account = np.where(clash, (account + 1) % np.maximum(avail, 1), account)
        region = w.acc_region[account]
        # assignment, owner, lifecycle
        delay = np.minimum(rng.lognormal(np.log(1.5), 1.0, n), 30.0)
        assigned = np.where(channel == OUTBOUND, created, add_business_hours(created, delay))
        owner = w.sample_reps(region, assigned, rng.random(n))
        p_mql = np.array([c[2] for c in m.CHANNELS])[channel]
        p_sql = np.array([c[3] for c in m.CHANNELS])[channel]
        is_mql = (rng.random(n) < p_mql) & ~backlog
        is_sql = is_mql & (rng.random(n) < p_sql / p_mql)
        mql = add_business_hours(assigned, rng.exponential(10.0, n))
        sql = add_business_hours(mql, rng.uniform(4, 150, n))
        is_dq = ~is_sql & ~backlog & (rng.random(n) < 0.8)
        dq = add_business_hours(np.where(is_mql, mql, assigned), rng.uniform(8, 400, n))
        # hand-over: a rep who leaves passes open leads to the successor
        lead_end = np.where(is_sql, sql, np.where(is_dq, dq, self.cutoff))
        left = self.left_at[owner]
        handover = (left != NA) & (left < lead_end) & ~backlog
        successor = reps.successor[owner]
        self.lead_owner0 = owner
        self.lead_successor = np.where(handover, successor, owner)
        self.lead_handover = np.where(handover, left, NA)
        ok_assigned = ~backlog & (assigned < self.cutoff)
        ok_mql = ok_assigned & is_mql & (mql < self.cutoff)
        ok_sql = ok_mql & is_sql & (sql < self.cutoff)
        ok_dq = ok_assigned & is_dq & (dq < self.cutoff)
        backlog_mql = backlog & (rng.random(n) < 0.5)
        mql_bl = created + rng.integers(HOUR, 2 * DAY, n)
        self.n = n
        self.channel, self.created, self.account, self.region = channel, created, account, region
        self.referrer, self.assigned, self.is_sql, self.is_dq = referrer, assigned, is_sql, is_dq
        self.sql, self.dq, self.ok_sql, self.ok_assigned = sql, dq, ok_sql, ok_assigned
        reason_p = np.where(channel == WEB_FORM, 1, 0)
        reasons = np.where(
            reason_p == 1,
            rng.choice(len(m.DISQUALIFIED_REASONS), n, p=[0.1, 0.25, 0.35, 0.1, 0.1, 0.1]),
            rng.choice(len(m.DISQUALIFIED_REASONS), n, p=[0.3, 0.35, 0.02, 0.08, 0.25, 0.0]),
        )
        final_owner = np.where(ok_assigned, self.lead_successor, -1)
        assigned_out = np.where(ok_assigned, np.where(handover, self.lead_handover, assigned), NA)
        name, _, _ = _person_names(rng, n)
        industry = np.where(rng.random(n) < 0.1, -1, w.acc_industry[account])
        employees = w.acc_employees[account]
        no_size = rng.random(n) < 0.2
        self.lead_ids = ids("L", self.offsets.leads + 1 + np.arange(n), 8)
        self.tables["leads"] = pa.table(
            {
                "lead_id": self.lead_ids,
                "name": name,
                "company": w.acc_names.take(pa.array(account)),
                "account_id": w.acc_ids.take(pa.array(account)),
                "channel": take(CHANNEL_NAMES, channel),
                "referring_account_id": take(w.acc_ids, referrer),
                "owner_rep_id": take(reps.ids, final_owner),
                "job_title": take(m.JOB_TITLES, rng.integers(0, len(m.JOB_TITLES), n)),
                "industry": take(m.INDUSTRIES, industry),
                "employees": pa.array(employees, mask=no_size),
                "created_at": timestamps(created),
                "assigned_at": timestamps(assigned_out),
                "mql_at": timestamps(
                    np.where(
                        ok_mql, mql, np.where(backlog_mql & (mql_bl < self.cutoff), mql_bl, NA)
                    )
                ),
                "sql_at": timestamps(np.where(ok_sql, sql, NA)),
                "disqualified_at": timestamps(np.where(ok_dq, dq, NA)),
                "disqualified_reason": take(m.DISQUALIFIED_REASONS, np.where(ok_dq, reasons, -1)),
            }
        )
        # SQL counts per team and month (for the targets)
        sq = np.flatnonzero(ok_sql)
        team = reps.team[final_owner[sq]]
        mon = month_index(sql[sq], w.first_year)
        np.add.at(self.totals.sqls, (team, np.clip(mon, 0, self.totals.sqls.shape[1] - 1)), 1)

    def lead_owner_at(self, lead: IntArray, t: IntArray) -> IntArray:
        ho = self.lead_handover[lead]
        return np.where((ho != NA) & (t >= ho), self.lead_successor[lead], self.lead_owner0[lead])

    # -- deals ---------------------------------------------------------------------------
    def deals(self) -> None:
        w, rng, reps = self.w, self.rng, self.w.reps
        sq = np.flatnonzero(self.ok_sql)
        responder = self.lead_owner_at(sq, self.sql[sq])
        med = reps.response_median_bh[responder]
        delay = rng.lognormal(np.log(med), 0.6)
        first = add_business_hours(self.sql[sq], delay)
        # a rep who is about to leave still answers before the last day
        left = self.left_at[responder]
        first = np.where(
            (left != NA) & (first >= left), np.maximum(self.sql[sq] + 60, left - 8 * HOUR), first
        )
        self.response = (sq[first < self.cutoff], first[first < self.cutoff])
        created = add_business_hours(first, rng.uniform(1, 24, sq.shape[0]))
        has = created < self.cutoff
        lead, created, first = sq[has], created[has], first[has]
        n = int(lead.shape[0])
        self.n_deals = n
        owner0 = self.lead_owner_at(lead, created)
        gone = (self.left_at[owner0] != NA) & (self.left_at[owner0] <= created)
        owner0 = np.where(gone, reps.successor[owner0], owner0)
        channel = self.channel[lead]
        account = self.account[lead]
        # product
        normal = np.array([p.share for p in m.PRODUCTS])
        fair = np.array([p.share_trade_fair for p in m.PRODUCTS])
        product = np.where(
            channel == TRADE_FAIR,
            rng.choice(len(m.PRODUCTS), n, p=fair / fair.sum()),
            rng.choice(len(m.PRODUCTS), n, p=normal / normal.sum()),
        )
        base_win = np.array([p.base_win for p in m.PRODUCTS])[product]
        ch_win = np.array([c[4] for c in m.CHANNELS])[channel]
        ramp = reps.ramp(owner0, created)
        p_win = base_win * reps.win_skill[owner0] * ch_win * (0.6 + 0.4 * ramp)
        email_only = owner0 == EMAIL_ONLY
        p_win = np.clip(np.where(email_only, p_win * 0.55, p_win), 0.03, 0.9)
        won = rng.random(n) < p_win
        # path through the pipeline
        skipper = owner0 == SKIPPER
        start_late = rng.random(n) < np.where(skipper, 0.85, reps.skip_prob[owner0] * 0.4)
        f = np.where(start_late, np.where(skipper, rng.choice([1, 2], n, p=[0.4, 0.6]), 1), 0)
        exit_cum = np.where(
            email_only[:, None],
            np.cumsum(m.LOST_EXIT_EMAIL_ONLY)[None, :],
            np.cumsum(m.LOST_EXIT)[None, :],
        )
        k = _cat(rng, exit_cum)
        last_open = np.where(won, np.where(rng.random(n) < 0.6, 4, 3), np.maximum(k, f))
        cols = np.arange(N_COLS)
        present = (cols[None, :] >= f[:, None]) & (cols[None, :] <= last_open[:, None])
        present[:, m.N_OPEN :] = False
        inner_p = np.where(skipper, 0.5, reps.skip_prob[owner0] * 0.6)
        inner = (rng.random(n) < inner_p) & (f + 1 < last_open) & (f + 1 <= 3)
        present[np.flatnonzero(inner), (f + 1)[inner]] = False
        stage = np.tile(np.minimum(cols, m.N_OPEN - 1), (n, 1))
        # re-entry: back one stage from the last open stage, then forward again
        prev_open = np.full(n, -1)
        for j in range(m.N_OPEN):
            prev_open = np.where(present[:, j] & (j < last_open), j, prev_open)
        n_open = present[:, : m.N_OPEN].sum(axis=1)
        reentry = (n_open >= 3) & (rng.random(n) < 0.04)
        present[:, 5] = reentry
        present[:, 6] = reentry
        stage[:, 5] = prev_open
        stage[:, 6] = last_open
        present[:, 7] = True
        stage[:, 7] = np.where(won, m.WON, m.LOST)
        reopen = ~won & (rng.random(n) < 0.025)
        present[:, 8] = reopen
        present[:, 9] = reopen
        stage[:, 8] = last_open  # reopened where it was lost; won only from a late stage
        stage[:, 9] = np.where((rng.random(n) < 0.45) & (last_open >= 3), m.WON, m.LOST)
        # durations (seconds)
        lo = np.array([p.cycle_days[0] for p in m.PRODUCTS], float)[product]
        hi = np.array([p.cycle_days[1] for p in m.PRODUCTS], float)[product]
        cycle = rng.uniform(lo, hi) * rng.uniform(0.92, 1.08, n)
        sw = np.array(m.STAGE_WEIGHTS)
        frac = np.cumsum(sw)[last_open] * rng.uniform(0.7, 1.2, n)
        full_cycle_days = cycle.copy()
        cycle = np.where(won, cycle, cycle * np.minimum(frac, 1.0))
        weight = sw[None, :] * rng.gamma(3.0, 1 / 3.0, (n, m.N_OPEN)) * present[:, : m.N_OPEN]
        dur = np.zeros((n, N_COLS))
        dur[:, : m.N_OPEN] = cycle[:, None] * weight / weight.sum(axis=1, keepdims=True)
        dur[:, 5] = rng.uniform(5, 25, n)
        dur[:, 6] = rng.uniform(5, 25, n)
        dur[:, 7] = np.where(reopen, rng.uniform(10, 60, n), 0.0)
        dur[:, 8] = rng.uniform(20, 90, n)
        dur_s = (dur * DAY).astype(np.int64)
        entry = np.zeros((n, N_COLS), np.int64)
        t = created.copy()
        for j in range(N_COLS):
            entry[:, j] = t
            t = t + np.where(present[:, j], dur_s[:, j], 0)
        planned_close = entry[:, 7].copy()
        entry = snap_to_work(rng, entry.ravel()).reshape(n, N_COLS)
        prev = np.full(n, NA)
        for j in range(N_COLS):
            e = np.where(j == f, created, np.maximum(entry[:, j], prev + 60))
            entry[:, j] = np.where(present[:, j], e, entry[:, j])
            prev = np.where(present[:, j], entry[:, j], prev)
        planned = present.copy()
        present &= entry < self.cutoff
        rows = np.arange(n)

        def last_col() -> IntArray:
            return (N_COLS - 1 - np.argmax(present[:, ::-1], axis=1)).astype(np.int64)

        # keep open deals moving: unless planted, nobody sits in a stage longer than half
        # the shortest cycle of the deal's product (at most 58 days)
        last = last_col()
        is_open = stage[rows, last] < m.WON
        caps = np.array([PLANTED.stage_cap_days(p.line) for p in m.PRODUCTS])
        cap = caps[product]
        too_old = is_open & (self.cutoff - entry[rows, last] > (cap * DAY).astype(np.int64))
        age = rng.uniform(4, cap - 2)
        fresh = snap_to_work(rng, self.cutoff - (age * DAY).astype(np.int64))
        nxt = np.full(n, N_COLS - 1)
        for j in range(N_COLS - 1, -1, -1):
            nxt = np.where(planned[:, j] & (j > last), j, nxt)
        promote = too_old & (last == f)
        move = too_old & (last != f)
        present[rows[promote], nxt[promote]] = True
        entry[rows[promote], nxt[promote]] = fresh[promote]
        entry[rows[move], last[move]] = fresh[move]
        # planted: a handful of stale open deals
        last = last_col()
        is_open = stage[rows, last] < m.WON
        if self.stale:
            # 3-4 × the product line's cap: far beyond what is normal for that product
            lo_m, hi_m = PLANTED.stale_cap_multiple
            prev_col = np.full(n, -1)
            for j in range(N_COLS):
                prev_col = np.where(present[:, j] & (j < last), j, prev_col)
            cand = np.flatnonzero(
                is_open
                & (prev_col >= 0)
                & (product != XL)
                & ~np.isin(owner0, [SKIPPER, EMAIL_ONLY, SLOW])
                & (created < self.cutoff - ((lo_m * cap + 10) * DAY).astype(np.int64))
            )
            pick = np.sort(rng.choice(cand, min(self.stale, cand.shape[0]), replace=False))
            room = (self.cutoff - created[pick]) / DAY - 5
            age = rng.uniform(lo_m * cap[pick], np.minimum(hi_m * cap[pick], room))
            new_last = snap_to_work(rng, self.cutoff - (age * DAY).astype(np.int64))
            # earlier stages keep their order, squeezed between creation and the new entry
            c0 = created[pick]
            old_last = entry[pick, last[pick]]
            scale = (new_last - c0 - DAY) / np.maximum(old_last - c0, 1)
            for j in range(N_COLS):
                earlier = present[pick, j] & (j < last[pick]) & (entry[pick, j] > c0)
                squeezed = c0 + ((entry[pick, j] - c0) * np.minimum(scale, 1.0)).astype(np.int64)
                entry[pick, j] = np.where(earlier, squeezed, entry[pick, j])
            entry[pick, last[pick]] = new_last
        closing = stage[rows, last]
        closed = closing >= m.WON
        closed_at = np.where(closed, entry[rows, last], NA)
        end_t = np.where(closed, closed_at, self.cutoff)
        left = self.left_at[owner0]
        handover = (left != NA) & (left < end_t)
        owner = np.where(handover, reps.successor[owner0], owner0)
        self.d_owner0, self.d_owner, self.d_handover = owner0, owner, np.where(handover, left, NA)
        # stage history (row-major: per deal, in time order)
        hd, hc = np.nonzero(present)
        h_t = entry[hd, hc]
        h_stage = stage[hd, hc]
        self.hist = (hd, h_t, h_stage)
        # amounts and currency
        alo = np.array([p.amount_eur[0] for p in m.PRODUCTS])[product]
        ahi = np.array([p.amount_eur[1] for p in m.PRODUCTS])[product]
        per_year = np.array([p.per_year for p in m.PRODUCTS])[product]
        years = np.where(per_year, rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]), 0)
        eur = np.round(_log_uniform(rng, alo, ahi) * np.maximum(years, 1), -1)
        country = w.acc_country[account]
        currency = np.where(country == 4, 1, np.where(country == 3, 2, 0))
        amount = np.round(eur / w.rate(currency, created), 0)
        no_amount = ~closed & (rng.random(n) < 0.04)
        # the rep plans the whole cycle: a deal that will be lost is expected to close when a
        # won one would (it is lost earlier), so its close date does not give its fate away
        planned_day = np.where(
            won, planned_close // DAY, (created + (full_cycle_days * DAY).astype(np.int64)) // DAY
        )
        exp_day = planned_day + np.where(closed, rng.integers(-10, 25, n), 0)
        sloppy = ~closed & (rng.random(n) < 0.06)
        exp_day = np.where(sloppy, w.cutoff_day - rng.integers(3, 60, n), exp_day)
        outcome = np.where(closed, np.where(closing == m.WON, 0, 1), -1)
        lost_p = np.where(
            email_only[:, None],
            np.cumsum([0.1, 0.2, 0.05, 0.1, 0.15, 0.4])[None, :],
            np.cumsum([0.3, 0.25, 0.15, 0.15, 0.1, 0.05])[None, :],
        )
        reason = np.where(outcome == 1, _cat(rng, lost_p), -1)
        self.deal_lead, self.deal_created, self.deal_end = lead, created, end_t
        # the deal's fate (won or not, decided at creation) and its planned close, also for
        # deals still open at the export: the engagement signal follows them (see _engagement)
        self.deal_fate, self.deal_planned_end = won, planned_close
        self.deal_account, self.deal_product, self.deal_closed_at = account, product, closed_at
        self.deal_won = closed & (closing == m.WON)
        self.deal_amount, self.deal_currency, self.deal_years = amount, currency, years
        self.deal_eur = eur
        self.deal_exp_day, self.deal_no_amount = exp_day, no_amount
        self.deal_ids = ids("D", self.offsets.deals + 1 + np.arange(n), 7)
        self.deal_cols = {
            "deal_id": self.deal_ids,
            "name": join(
                w.acc_names.take(pa.array(account)),
                take([p.name for p in m.PRODUCTS], product),
                sep=" - ",
            ),
            "account_id": w.acc_ids.take(pa.array(account)),
            "lead_id": self.lead_ids.take(pa.array(lead)),
            "owner_rep_id": reps.ids.take(pa.array(owner)),
            "pipeline_id": pa.array([m.PIPELINE_ID] * n),
            "stage_id": take([s[0] for s in m.STAGES], closing),
            "product_id": take([p.product_id for p in m.PRODUCTS], product),
            "amount": floats(amount, mask=no_amount),
            "currency": take(("EUR", "USD", "GBP"), currency),
            "created_at": timestamps(created),
            "expected_close_on": dates(exp_day),
            "closed_at": timestamps(closed_at),
            "outcome": take(("won", "lost"), outcome),
            "lost_reason": take(m.LOST_REASONS, reason),
        }
        changed_by = np.where(handover[hd] & (h_t >= left[hd]), owner[hd], owner0[hd])
        self.tables["deal_stage_history"] = pa.table(
            {
                "deal_id": self.deal_ids.take(pa.array(hd)),
                "stage_id": take([s[0] for s in m.STAGES], h_stage),
                "entered_at": timestamps(h_t),
                "changed_by_rep_id": reps.ids.take(pa.array(changed_by)),
            }
        )
        # won revenue per owner and quarter (for the targets)
        wq = np.flatnonzero(self.deal_won)
        q = quarter_index(closed_at[wq], w.first_year)
        np.add.at(
            self.totals.won_eur,
            (owner[wq], np.clip(q, 0, self.totals.won_eur.shape[1] - 1)),
            eur[wq],
        )

    def deal_owner_at(self, deal: IntArray, t: IntArray) -> IntArray:
        ho = self.d_handover[deal]
        return np.where((ho != NA) & (t >= ho), self.d_owner[deal], self.d_owner0[deal])

    def field_history(self) -> None:
        """Close-date and amount changes of the chunk's deals (see :mod:`slips`)."""
        w = self.w
        self.tables["deal_field_history"] = field_history(
            w.seed,
            self.index,
            deal_ids=self.deal_ids,
            created=self.deal_created,
            end=self.deal_end,
            final_close_day=self.deal_exp_day,
            amount=self.deal_amount,
            no_amount=self.deal_no_amount,
            currency=self.deal_cols["currency"],
            owner=self.d_owner0,
            rep_ids=w.reps.ids,
            optimism=rep_optimism(w.seed, w.reps.n, SLIPPER),
            slipper=SLIPPER,
            owner_at=self.deal_owner_at,
            fate_won=self.deal_fate,
        )

    # -- activities ----------------------------------------------------------------------
    def activities(self) -> None:
        w, rng, reps = self.w, self.rng, self.w.reps
        parts: list[Acts] = []
        # (a) first response to each SQL, by the lead's owner
        lead, t = self.response
        kind = rng.choice([CALL, EMAIL, MEETING], lead.shape[0], p=[0.55, 0.4, 0.05])
        parts.append(
            _acts(
                rng,
                t,
                self.lead_owner_at(lead, t),
                kind,
                np.zeros(lead.shape[0], bool),
                lead,
                np.full(lead.shape[0], -1),
                self.account[lead],
            )
        )
        # (b) inbound contact before the SQL moment (replies, calls in)
        sql_leads = np.flatnonzero(self.is_sql & self.ok_assigned)
        cnt = rng.poisson(0.6, sql_leads.shape[0])
        lead = np.repeat(sql_leads, cnt)
        span = np.maximum(self.sql[lead] - self.assigned[lead], 60)
        t = snap_to_work(
            rng, self.assigned[lead] + (rng.random(lead.shape[0]) * span).astype(np.int64)
        )
        kind = np.where(rng.random(lead.shape[0]) < 0.7, EMAIL, CALL)
        parts.append(
            _acts(
                rng,
                t,
                self.lead_owner_at(lead, t),
                kind,
                np.ones(lead.shape[0], bool),
                lead,
                np.full(lead.shape[0], -1),
                self.account[lead],
            )
        )
        # (c) attempts on leads that never become SQL
        other = np.flatnonzero(~self.is_sql & self.ok_assigned)
        o = self.lead_owner0[other]
        rate = 1.8 * reps.adoption[o] * reps.ramp(o, self.assigned[other])
        cnt = rng.poisson(rate)
        lead = np.repeat(other, cnt)
        stop = np.where(self.is_dq[lead], self.dq[lead], self.assigned[lead] + 45 * DAY)
        stop = np.minimum(stop, self.assigned[lead] + 45 * DAY)
        span = np.maximum(stop - self.assigned[lead], 60)
        t = snap_to_work(
            rng, self.assigned[lead] + (rng.random(lead.shape[0]) * span).astype(np.int64)
        )
        k = lead.shape[0]
        inbound = rng.random(k) < 0.15
        kind = np.where(inbound, EMAIL, np.where(rng.random(k) < 0.6, CALL, EMAIL))
        parts.append(
            _acts(
                rng,
                t,
                self.lead_owner_at(lead, t),
                kind,
                inbound,
                lead,
                np.full(k, -1),
                self.account[lead],
            )
        )
        # (d) deal work: spread over the deal's life, by the owner at the time
        n = self.n_deals
        product = self.deal_product
        life_days = (self.deal_end - self.deal_created) / DAY
        per_day = np.array([p.activities_per_day for p in m.PRODUCTS])[product]
        o0 = self.d_owner0
        rate = per_day * life_days * reps.adoption[o0] * reps.ramp(o0, self.deal_created)
        cnt = rng.poisson(rate * w.scale.activity_factor)
        deal = np.repeat(np.arange(n), cnt)
        k = deal.shape[0]
        t = self.deal_created[deal] + (
            rng.random(k) * (self.deal_end[deal] - self.deal_created[deal])
        ).astype(np.int64)
        t = snap_to_work(rng, t)
        rep = self.deal_owner_at(deal, t)
        fu = reps.feature_use
        probs = np.stack(
            [
                np.full(reps.n, 0.34),
                np.full(reps.n, 0.34),
                np.full(reps.n, 0.10),
                0.13 * fu,
                0.09 * fu,
            ],
            axis=1,
        )
        cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        kind = _cat(rng, cum[rep])
        # one meeting early in negotiation for every deal that gets there
        hd, h_t, h_stage = self.hist
        neg = np.flatnonzero(h_stage == 3)
        mt = snap_to_work(
            rng, h_t[neg] + (rng.uniform(0.3, 6.0, neg.shape[0]) * DAY).astype(np.int64)
        )
        deal = np.concatenate([deal, hd[neg]])
        t = np.concatenate([t, mt])
        rep = np.concatenate([rep, self.deal_owner_at(hd[neg], mt)])
        kind = np.concatenate([kind, np.full(neg.shape[0], MEETING)])
        k = deal.shape[0]
        # the stage each activity falls in
        base = self.w.start - 400 * DAY
        hkey = hd.astype(np.int64) * (1 << 32) + (h_t - base)
        akey = deal.astype(np.int64) * (1 << 32) + (t - base)
        pos = np.searchsorted(hkey, akey, side="right") - 1
        in_stage = h_stage[np.maximum(pos, 0)]
        late = (in_stage == 3) | (in_stage == 4)
        mail_only = late & (rep == EMAIL_ONLY)
        kind = np.where(mail_only & ((kind == CALL) | (kind == MEETING)), EMAIL, kind)
        fate = self.deal_fate[deal]
        inbound = np.where(
            kind == CALL,
            rng.random(k) < np.where(fate, ENGAGEMENT.inbound_call_won, ENGAGEMENT.inbound_call),
            rng.random(k) < np.where(fate, ENGAGEMENT.reply_won, ENGAGEMENT.reply),
        )
        lead = self.deal_lead[deal]
        acts = _acts(rng, t, rep, kind, inbound, lead, deal, self.deal_account[deal])
        task = kind == TASK
        due = t + rng.integers(1, 11, k) * DAY
        done = rng.random(k) < reps.task_completion[rep]
        completed = t + (rng.uniform(0.1, 1.4, k) * (due - t)).astype(np.int64)
        acts.due = np.where(task, due, NA)
        acts.completed = np.where(task & done & (completed < self.cutoff), completed, NA)
        parts.append(self._engagement(acts, negotiation_meeting=np.arange(k) >= k - neg.shape[0]))
        allacts = Acts.concat(parts)
        allacts = allacts.select(np.flatnonzero(allacts.t < self.cutoff))
        # deals: updated_at = last stage change or activity
        upd = np.full(n, NA)
        np.maximum.at(upd, hd, h_t)
        on_deal = np.flatnonzero(allacts.deal >= 0)
        np.maximum.at(upd, allacts.deal[on_deal], allacts.t[on_deal])
        self.deal_cols["updated_at"] = timestamps(upd)
        self.tables["deals"] = pa.table(self.deal_cols)
        a = allacts
        na = a.t.shape[0]
        subjects = np.array([len(m.SUBJECTS[x]) for x in ACTIVITY_TYPES])
        flat_subjects = [s for x in ACTIVITY_TYPES for s in m.SUBJECTS[x]]
        subject_base = np.concatenate([[0], np.cumsum(subjects)[:-1]])
        subject = subject_base[a.kind] + (rng.random(na) * subjects[a.kind]).astype(np.int64)
        deal_global = np.where(a.deal >= 0, self.offsets.deals + 1 + a.deal, -1)
        lead_global = np.where(a.lead >= 0, self.offsets.leads + 1 + a.lead, -1)
        self.tables["activities"] = pa.table(
            {
                "activity_id": ids("ACT", self.offsets.activities + 1 + np.arange(na), 9),
                "activity_type": take(ACTIVITY_TYPES, a.kind),
                "direction": take(DIRECTIONS, a.direction),
                "outcome": take(OUTCOMES, a.outcome),
                "rep_id": take(reps.ids, a.rep),
                "lead_id": ids("L", lead_global, 8),
                "deal_id": ids("D", deal_global, 7),
                "account_id": take(w.acc_ids, a.account),
                "occurred_at": timestamps(a.t),
                "due_at": timestamps(a.due),
                "completed_at": timestamps(a.completed),
                "subject": take(flat_subjects, subject),
            }
        )

    def _engagement(self, acts: Acts, negotiation_meeting: BoolArray) -> Acts:
        """The honest signal of deal work (ground truth in docs/demo-data.md): meetings on
        deals that will be lost are more often no-shows, and deals that will be lost go
        quiet — most of their activities late in their (planned) life are never logged.
        Own random stream (``spawn_key`` 5), so the rest of the data does not change."""
        sig = np.random.default_rng(np.random.SeedSequence(self.w.seed, spawn_key=(5, self.index)))
        k = acts.t.shape[0]
        lost = ~self.deal_fate[acts.deal]
        u = sig.random(k)
        no_show = (acts.kind == MEETING) & lost & (u < ENGAGEMENT.extra_no_show)
        acts.outcome = np.where(no_show, OUTCOMES.index("no_show"), acts.outcome)
        start = self.deal_created[acts.deal]
        life = self.deal_planned_end[acts.deal] - start
        late = acts.t > start + ENGAGEMENT.quiet_after * life
        dark = lost & late & ~negotiation_meeting & (sig.random(k) < ENGAGEMENT.quiet_drop)
        return acts.select(np.flatnonzero(~dark))

    # -- contracts -----------------------------------------------------------------------
    def contracts(self) -> None:
        rng = self.rng
        won = np.flatnonzero(self.deal_won)
        product = self.deal_product[won]
        signed = self.deal_closed_at[won] // DAY
        service = np.isin(product, SERVICE_PRODUCTS)
        start = np.where(service, signed + rng.integers(0, 31, won.shape[0]), signed)
        years = np.maximum(self.deal_years[won], 1)
        end = np.where(service, start + 365 * years - 1, start)
        first = Contracts(
            account=self.deal_account[won],
            deal=self.offsets.deals + won,
            product=product,
            signed=signed,
            start=start,
            end=end,
            value=self.deal_amount[won],
            currency=self.deal_currency[won],
        )
        orders = first_select(first, ~service)
        services = renewals(rng, first_select(first, service), self.w.cutoff_day, churn=0.2)
        c = Contracts.concat([orders, services])
        self.tables["contracts"] = contracts_table(self.w, c, self.offsets.contracts)

    def run(self, offsets: Offsets, totals: Totals) -> dict[str, pa.Table]:
        self.offsets, self.totals = offsets, totals
        self.tables: dict[str, pa.Table] = {}
        self.leads()
        self.deals()
        self.field_history()
        self.activities()
        self.contracts()
        offsets.leads += self.tables["leads"].num_rows
        offsets.deals += self.tables["deals"].num_rows
        offsets.activities += self.tables["activities"].num_rows
        offsets.contracts += self.tables["contracts"].num_rows
        return self.tables


def first_select(c: Contracts, keep: BoolArray) -> Contracts:
    return Contracts(*(getattr(c, f)[keep] for f in Contracts.__dataclass_fields__))


def _person_names(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    first = take(m.FIRST_NAMES, rng.integers(0, len(m.FIRST_NAMES), n))
    last = take(m.LAST_NAMES, rng.integers(0, len(m.LAST_NAMES), n))
    return join(first, last, sep=" "), first, last
