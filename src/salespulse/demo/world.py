"""The slow-moving part of the demo company: teams, reps, accounts, products, stages, rates
and the installed base of service contracts from before the generated history.

Everything here is small (thousands of rows, a few hundred thousand accounts at most) and is
built once per run; the chunks of leads, deals and activities (``flow.py``) refer to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from salespulse.demo import model as m
from salespulse.demo.arrow import NA, dates, floats, ids, join, take, timestamps
from salespulse.demo.calendar import DAY, day_number, work_time_on
from salespulse.demo.patterns import PLANTED

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Rep row numbers of the planted reps (R00002, R00003, R00004).
SKIPPER, EMAIL_ONLY, SLOW = 1, 2, 3
#: Rep row number of the planted close-date slipper (R00006, a seller of team 1).
SLIPPER = 5


def _rep_number(rep_id: str) -> int:
    return int(rep_id[1:]) - 1


assert _rep_number(PLANTED.stage_skipper_rep_id) == SKIPPER
assert _rep_number(PLANTED.email_only_rep_id) == EMAIL_ONLY
assert _rep_number(PLANTED.slow_responder_rep_id) == SLOW
assert _rep_number(PLANTED.slipper_rep_id) == SLIPPER


@dataclass
class Reps:
    """One entry per rep row (index = rep number - 1)."""

    team: IntArray  # -1 = no team (director)
    region: IntArray  # -1 = none
    manager: IntArray  # -1 = none
    hired_day: IntArray
    left_day: IntArray  # NA = still employed
    selling: npt.NDArray[np.bool_]
    successor: IntArray  # -1 = none
    ramp_days: FloatArray
    win_skill: FloatArray
    adoption: FloatArray
    feature_use: FloatArray
    task_completion: FloatArray
    response_median_bh: FloatArray
    skip_prob: FloatArray
    ids: pa.Array

    @property
    def n(self) -> int:
        return int(self.team.shape[0])

    def left_at(self) -> IntArray:
        """Instant a rep's work is handed over: 22:00 UTC on ``left_on`` (local midnight)."""
        return np.where(self.left_day == NA, NA, (self.left_day + 1) * DAY - 2 * 3600)

    def ramp(self, rep: IntArray, t: IntArray) -> FloatArray:
        """Ramp-up factor (0.15-1) of each rep at each instant."""
        days = t // DAY - self.hired_day[rep]
        return np.clip(days / self.ramp_days[rep], 0.15, 1.0)


@dataclass
class World:
    seed: int
    scale: m.Scale
    today: date
    start_day: int
    cutoff_day: int
    reps: Reps
    n_teams: int
    # accounts, sorted by created_at
    acc_created: IntArray
    acc_region: IntArray
    acc_country: IntArray
    acc_industry: IntArray
    acc_employees: IntArray
    acc_names: pa.Array
    acc_ids: pa.Array
    # legacy customers (for referrals): account index and contract chain end (day), sorted
    ref_account: IntArray
    ref_until_day: IntArray
    # rep sampler: (region, week) -> cumulative weights
    week0_day: int
    n_weeks: int
    sampler_flat: FloatArray
    sampler_width: int
    sampler_reps: IntArray
    # monthly rates: [currency index, month since rate_month0] -> EUR per unit
    rate_month0: int
    rates: FloatArray

    @property
    def start(self) -> int:
        return self.start_day * DAY

    @property
    def cutoff(self) -> int:
        """Everything generated happens before this instant (00:00 UTC of ``today``)."""
        return self.cutoff_day * DAY

    @property
    def first_year(self) -> int:
        return self.today.year - m.YEARS_OF_HISTORY

    def sample_reps(self, region: IntArray, t: IntArray, u: FloatArray) -> IntArray:
        """A selling rep in ``region`` employed in the week of ``t``, weighted by ramp-up."""
        week = np.clip((t // DAY - self.week0_day) // 7, 0, self.n_weeks - 1)
        row = region * self.n_weeks + week
        idx = np.searchsorted(self.sampler_flat, row + u, side="right")
        col = np.minimum(idx - row * self.sampler_width, self.sampler_width - 1)
        return self.sampler_reps[region, col]

    def referrer(self, day: IntArray, u: FloatArray) -> IntArray:
        """A legacy customer whose contract is active on ``day`` (-1 if none)."""
        n = self.ref_account.shape[0]
        k = np.searchsorted(self.ref_until_day, day, side="left")
        pick = k + (u * (n - k)).astype(np.int64)
        return np.where(k < n, self.ref_account[np.minimum(pick, n - 1)], -1)

    def rate(self, currency: IntArray, t: IntArray) -> FloatArray:
        """EUR per unit of currency index (0 = EUR, 1 = USD, 2 = GBP) at instants ``t``."""
        month = t.view("datetime64[s]").astype("datetime64[M]").astype(np.int64)
        col = np.clip(month - self.rate_month0, 0, self.rates.shape[1] - 1)
        return self.rates[currency, col]


def _years_back(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _names(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
    first = take(m.FIRST_NAMES, rng.integers(0, len(m.FIRST_NAMES), n))
    last = take(m.LAST_NAMES, rng.integers(0, len(m.LAST_NAMES), n))
    return join(first, last, sep=" "), first, last


def build_world(seed: int, scale: m.Scale, today: date) -> tuple[World, dict[str, pa.Table]]:
    """The world and its reference tables (everything except leads, deals and activities)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    start_day = day_number(_years_back(today, m.YEARS_OF_HISTORY))
    cutoff_day = day_number(today)
    span = cutoff_day - start_day
    reps, teams = _reps(rng, scale, start_day, cutoff_day)
    world = World(
        seed=seed,
        scale=scale,
        today=today,
        start_day=start_day,
        cutoff_day=cutoff_day,
        reps=reps,
        n_teams=int(teams.num_rows),
        acc_created=np.zeros(0, np.int64),
        acc_region=np.zeros(0, np.int64),
        acc_country=np.zeros(0, np.int64),
        acc_industry=np.zeros(0, np.int64),
        acc_employees=np.zeros(0, np.int64),
        acc_names=pa.array([], pa.string()),
        acc_ids=pa.array([], pa.string()),
        ref_account=np.zeros(0, np.int64),
        ref_until_day=np.zeros(0, np.int64),
        week0_day=0,
        n_weeks=0,
        sampler_flat=np.zeros(0),
        sampler_width=0,
        sampler_reps=np.zeros((0, 0), np.int64),
        rate_month0=0,
        rates=np.zeros((3, 0)),
    )
    _sampler(world)
    accounts = _accounts(rng, world, span)
    legacy = _legacy_contracts(rng, world)
    rates = _rates(rng, world)
    tables = {
        "teams": teams,
        "reps": _reps_table(rng, reps),
        "products": _products_table(),
        "pipelines": pa.table(
            {"pipeline_id": [m.PIPELINE_ID], "name": [m.PIPELINE_NAME]},
        ),
        "stages": _stages_table(),
        "currency_rates": rates,
        "accounts": accounts,
        "contracts": legacy,
    }
    return world, tables


def _reps(
    rng: np.random.Generator, scale: m.Scale, start_day: int, cutoff_day: int
) -> tuple[Reps, pa.Table]:
    n_teams = 4 * scale.teams_per_region
    team_region = np.arange(n_teams) % 4
    team_names = [
        f"Team {m.REGIONS[k % 4]}" + ("" if scale.teams_per_region == 1 else f" {k // 4 + 1}")
        for k in range(n_teams)
    ]
    team: list[int] = [-1, 0, 1, 2]  # director, then the three planted reps
    role: list[str] = ["director", "seller", "seller", "seller"]
    for k in range(n_teams):
        planted_here = 1 if k < 3 else 0
        team += [k] * (1 + scale.reps_per_team - planted_here)
        role += ["manager"] + ["seller"] * (scale.reps_per_team - planted_here)
    t = np.array(team, dtype=np.int64)
    r = np.array(role)
    n0 = t.shape[0]
    manager_of_team = np.array(
        [int(np.flatnonzero((t == k) & (r == "manager"))[0]) for k in range(n_teams)]
    )
    span = cutoff_day - start_day
    hired = np.where(
        r == "director",
        start_day - 5000,
        np.where(
            r == "manager",
            start_day - rng.integers(700, 4000, n0),
            start_day - rng.integers(60, 3000, n0),
        ),
    )
    planted = np.zeros(n0, bool)
    planted[[SKIPPER, EMAIL_ONLY, SLOW]] = True
    hired = np.where(planted, start_day - rng.integers(400, 3000, n0), hired)
    # a quarter of the sellers leave during the history (never the planted reps)
    stays = planted.copy()
    stays[SLIPPER] = True  # the planted slipper stays too (slips.py)
    can_leave = np.flatnonzero((r == "seller") & ~stays)
    leaves = np.zeros(n0, bool)
    leaves[rng.choice(can_leave, round(0.25 * can_leave.shape[0]), replace=False)] = True
    left = np.where(leaves, start_day + rng.integers(60, span - 45, n0), NA)
    # successors: hired 2-6 weeks before the leaver's last day; they stay
    leavers = np.flatnonzero(leaves)
    succ_team = t[leavers]
    succ_hired = left[leavers] - rng.integers(14, 43, leavers.shape[0])
    # growth: some teams hire an extra rep during the history
    growth_teams = np.sort(rng.choice(n_teams, max(1, round(0.35 * n_teams)), replace=False))
    growth_hired = start_day + rng.integers(90, span - 60, growth_teams.shape[0])
    team_all = np.concatenate([t, succ_team, growth_teams])
    n = int(team_all.shape[0])
    successor = np.full(n, -1, np.int64)
    successor[leavers] = n0 + np.arange(leavers.shape[0])
    selling = np.concatenate([r == "seller", np.ones(n - n0, bool)])
    manager = np.where(team_all >= 0, manager_of_team[np.maximum(team_all, 0)], -1)
    manager = np.where(selling, manager, np.where(team_all >= 0, 0, -1))
    region = np.where(team_all >= 0, team_region[np.maximum(team_all, 0)], -1)
    planted_all = np.concatenate([planted, np.zeros(n - n0, bool)])
    low = rng.random(n) < 0.15
    adoption = np.where(low, rng.uniform(0.25, 0.45, n), rng.uniform(0.55, 1.2, n))
    adoption = np.where(planted_all, np.maximum(adoption, 0.8), adoption)
    response = rng.uniform(0.8, 3.0, n)
    response[SLOW] = 30.0
    skip = np.full(n, 0.006)
    skip[SKIPPER] = 0.85
    reps = Reps(
        team=team_all,
        region=region,
        manager=manager,
        hired_day=np.concatenate([hired, succ_hired, growth_hired]).astype(np.int64),
        left_day=np.concatenate([left, np.full(n - n0, NA)]).astype(np.int64),
        selling=selling,
        successor=successor,
        ramp_days=rng.uniform(90, 180, n),
        win_skill=np.clip(rng.lognormal(0.0, 0.22, n), 0.65, 1.45),
        adoption=adoption,
        feature_use=np.where(low, 0.4, 1.0) * rng.uniform(0.3, 1.0, n),
        task_completion=rng.uniform(0.6, 0.95, n),
        response_median_bh=response,
        skip_prob=skip,
        ids=ids("R", np.arange(1, n + 1), 5),
    )
    teams = pa.table(
        {
            "team_id": ids("T", np.arange(1, n_teams + 1), 2),
            "name": pa.array(team_names),
            "region": take(m.REGIONS, team_region),
            "manager_rep_id": take(reps.ids, manager_of_team),
        }
    )
    return reps, teams


def _reps_table(rng: np.random.Generator, reps: Reps) -> pa.Table:
    name, first, last = _names(rng, reps.n)
    local = pc.utf8_lower(join(first, pc.replace_substring(last, " ", ""), sep="."))
    return pa.table(
        {
            "rep_id": reps.ids,
            "name": name,
            "email": join(local, "@" + m.EMAIL_DOMAIN),
            "team_id": ids("T", np.where(reps.team >= 0, reps.team + 1, -1), 2),
            "region": take(m.REGIONS, reps.region),
            "manager_rep_id": take(reps.ids, reps.manager),
            "hired_on": dates(reps.hired_day),
            "left_on": dates(reps.left_day),
        }
    )


def _sampler(world: World) -> None:
    reps = world.reps
    week0 = world.start_day - 14
    week0 -= int((week0 + 3) % 7)  # Monday
    n_weeks = (world.cutoff_day - week0) // 7 + 2
    week_start = week0 + 7 * np.arange(n_weeks)
    active = (
        reps.selling[:, None]
        & (reps.hired_day[:, None] <= week_start[None, :])
        & ((reps.left_day[:, None] == NA) | (reps.left_day[:, None] >= week_start[None, :] + 6))
    )
    ramp = np.clip(
        (week_start[None, :] + 3 - reps.hired_day[:, None]) / reps.ramp_days[:, None], 0.15, 1.0
    )
    weight = active * ramp
    members = [np.flatnonzero(reps.selling & (reps.region == r)) for r in range(4)]
    width = max(len(x) for x in members)
    flat = np.zeros((4, n_weeks, width))
    rep_of = np.zeros((4, width), np.int64)
    for r, idx in enumerate(members):
        w = weight[idx].T  # weeks x members
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total > 0, w, 1.0)
        cum = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
        flat[r, :, : len(idx)] = cum
        flat[r, :, len(idx) :] = 1.0
        rep_of[r, : len(idx)] = idx
        rep_of[r, len(idx) :] = idx[-1]
    rows = np.arange(4 * n_weeks, dtype=np.float64).reshape(4, n_weeks, 1)
    world.week0_day = week0
    world.n_weeks = n_weeks
    world.sampler_flat = (flat + rows).ravel()
    world.sampler_width = width
    world.sampler_reps = rep_of


def _accounts(rng: np.random.Generator, world: World, span: int) -> pa.Table:
    n = world.scale.accounts
    before = rng.random(n) < 0.6
    day = np.where(
        before,
        world.start_day - rng.integers(30, 3650, n),
        world.start_day + rng.integers(0, span - 1, n),
    )
    created = np.sort(work_time_on(rng, day))
    created = np.minimum(created, world.cutoff - 3600)
    region = rng.choice(4, n, p=m.REGION_WEIGHTS)
    country = rng.choice(len(m.COUNTRIES), n, p=m.COUNTRY_WEIGHTS)
    industry = rng.integers(0, len(m.INDUSTRIES), n)
    employees = np.clip(np.round(rng.lognormal(np.log(80), 1.1, n)), 5, 8000).astype(np.int64)
    revenue = np.round(employees * rng.lognormal(np.log(180_000), 0.4, n), -3)
    names = join(
        take(m.COMPANY_PREFIXES, rng.integers(0, len(m.COMPANY_PREFIXES), n)),
        take(m.COMPANY_CORES, rng.integers(0, len(m.COMPANY_CORES), n)),
        take(m.COMPANY_SUFFIXES, rng.integers(0, len(m.COMPANY_SUFFIXES), n)),
        sep=" ",
    )
    owner = world.sample_reps(region, np.full(n, world.cutoff - DAY), rng.random(n))
    world.acc_created = created
    world.acc_region = region
    world.acc_country = country
    world.acc_industry = industry
    world.acc_employees = employees
    world.acc_names = names
    world.acc_ids = ids("C", np.arange(1, n + 1), 7)
    return pa.table(
        {
            "account_id": world.acc_ids,
            "name": names,
            "industry": take(m.INDUSTRIES, industry),
            "region": take(m.REGIONS, region),
            "country": take(m.COUNTRIES, country),
            "employees": pa.array(employees),
            "annual_revenue": floats(revenue),
            "owner_rep_id": take(world.reps.ids, owner),
            "created_at": timestamps(created),
        }
    )


@dataclass
class Contracts:
    """Contract rows as arrays (days are day numbers; deal/product are indexes, -1 = none)."""

    account: IntArray
    deal: IntArray  # global deal number, -1 = none (renewal / installed base)
    product: IntArray
    signed: IntArray
    start: IntArray
    end: IntArray
    value: FloatArray
    currency: IntArray

    @staticmethod
    def concat(parts: list[Contracts]) -> Contracts:
        return Contracts(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in Contracts.__dataclass_fields__
            )
        )

    def __len__(self) -> int:
        return int(self.account.shape[0])


def renewals(
    rng: np.random.Generator, first: Contracts, cutoff_day: int, churn: float
) -> Contracts:
    """``first`` plus its renewals: each term renews for the same length unless the customer
    churns (probability ``churn`` per renewal); renewals are signed up to 45 days before the
    previous term ends, and only those signed before ``cutoff_day`` exist."""
    parts = [first]
    cur = first
    while len(cur):
        n = len(cur)
        signed = cur.end - rng.integers(0, 46, n)
        keep = (rng.random(n) >= churn) & (signed < cutoff_day)
        term = cur.end - cur.start + 1
        start = cur.end + 1
        nxt = Contracts(
            account=cur.account[keep],
            deal=np.full(int(keep.sum()), -1, np.int64),
            product=cur.product[keep],
            signed=signed[keep],
            start=start[keep],
            end=(start + term - 1)[keep],
            value=np.round(cur.value * rng.uniform(1.0, 1.06, n), 2)[keep],
            currency=cur.currency[keep],
        )
        parts.append(nxt)
        cur = nxt
    return Contracts.concat(parts)


SERVICE_PRODUCTS = np.array(
    [i for i, p in enumerate(m.PRODUCTS) if p.line == "service"], dtype=np.int64
)


def _legacy_contracts(rng: np.random.Generator, world: World) -> pa.Table:
    """Service contracts of the installed base (customers from before the history)."""
    before = np.flatnonzero(world.acc_created < world.start)
    cust = before[rng.random(before.shape[0]) < 0.45]
    n = cust.shape[0]
    created_day = world.acc_created[cust] // DAY
    start = np.maximum(created_day + 30, world.start_day - rng.integers(0, 3 * 365, n))
    years = rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2])
    end = start + 365 * years - 1
    product = SERVICE_PRODUCTS[rng.integers(0, SERVICE_PRODUCTS.shape[0], n)]
    lo = np.array([m.PRODUCTS[p].amount_eur[0] for p in product])
    hi = np.array([m.PRODUCTS[p].amount_eur[1] for p in product])
    value = np.round(rng.uniform(lo, hi) * years, -1)
    first = Contracts(
        account=cust,
        deal=np.full(n, -1, np.int64),
        product=product,
        signed=start - rng.integers(5, 41, n),
        start=start,
        end=end,
        value=value,
        currency=np.zeros(n, np.int64),
    )
    chains = renewals(rng, first, world.cutoff_day, churn=0.14)
    # referral candidates: legacy customers and the last day their contract chain covers
    order = np.argsort(chains.account, kind="stable")
    acc_sorted = chains.account[order]
    uniq, first_idx = np.unique(acc_sorted, return_index=True)
    until = np.maximum.reduceat(chains.end[order], first_idx)
    by_until = np.argsort(until, kind="stable")
    world.ref_account = uniq[by_until]
    world.ref_until_day = until[by_until]
    return contracts_table(world, chains, 0)


def contracts_table(world: World, c: Contracts, offset: int) -> pa.Table:
    """Contract rows with ids K<offset+1>..."""
    n = len(c)
    product_ids = [p.product_id for p in m.PRODUCTS]
    return pa.table(
        {
            "contract_id": ids("K", offset + 1 + np.arange(n), 8),
            "account_id": take(world.acc_ids, c.account),
            "deal_id": ids("D", np.where(c.deal >= 0, c.deal + 1, -1), 7),
            "product_id": take(product_ids, c.product),
            "signed_on": dates(c.signed),
            "start_on": dates(c.start),
            "end_on": dates(c.end),
            "value": floats(c.value),
            "currency": take(("EUR", "USD", "GBP"), c.currency),
        }
    )


def _rates(rng: np.random.Generator, world: World) -> pa.Table:
    first = np.datetime64(date(world.first_year - 4, 1, 1), "M").astype(np.int64)
    last = np.datetime64(world.today, "M").astype(np.int64)
    months = np.arange(first, last + 1)
    k = months.shape[0]
    rates = np.ones((3, k))
    for i, (_, base) in enumerate(m.RATES, start=1):
        walk = np.cumsum(rng.normal(0, 0.012, k))
        rates[i] = np.round(base * np.exp(walk - walk.mean()), 4)
    world.rate_month0 = int(first)
    world.rates = rates
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    currencies = ["EUR"] + [c for c, _ in m.RATES]
    return pa.table(
        {
            "currency": pa.array(np.repeat(currencies, [1, k, k]).tolist()),
            "valid_from": dates(np.concatenate([days[:1], days, days])),
            "rate": floats(np.concatenate([[1.0], rates[1], rates[2]])),
        }
    )


def _products_table() -> pa.Table:
    return pa.table(
        {
            "product_id": [p.product_id for p in m.PRODUCTS],
            "name": [p.name for p in m.PRODUCTS],
            "product_line": [p.line for p in m.PRODUCTS],
            "list_price": pa.array([p.list_price for p in m.PRODUCTS], pa.float64()),
        }
    )


def _stages_table() -> pa.Table:
    cols = list(zip(*m.STAGES, strict=True))
    return pa.table(
        {
            "stage_id": list(cols[0]),
            "pipeline_id": [m.PIPELINE_ID] * len(m.STAGES),
            "name": list(cols[1]),
            "stage_order": pa.array(cols[2], pa.int64()),
            "probability": pa.array(cols[3], pa.float64()),
            "is_closed": list(cols[4]),
            "is_won": list(cols[5]),
            "is_required": list(cols[6]),
        }
    )
