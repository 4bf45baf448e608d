"""What a KPI is: its declaration (names, definition, unit, facts, measure, breakdowns)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

import ibis.expr.types as ir

from salespulse.semantic.measures import Expr, Measure
from salespulse.semantic.timecal import Grain

if TYPE_CHECKING:
    from salespulse.semantic.model import Context


class Dim(StrEnum):
    """Breakdowns. Each is a column of the facts that support it."""

    rep = "rep"
    team = "team"
    region = "region"
    channel = "channel"
    product = "product"
    product_line = "product_line"
    pipeline = "pipeline"
    industry = "industry"
    stage = "stage"
    from_stage = "from_stage"
    account = "account"
    lead_status = "lead_status"
    activity_type = "activity_type"

    @property
    def column(self) -> str:
        return DIM_COLUMNS[self]

    @property
    def label(self) -> str | None:
        """The result column holding this breakdown's display name (None: the value is
        its own name, e.g. a channel or region)."""
        return DIM_LABELS.get(self)


DIM_COLUMNS: dict[Dim, str] = {
    Dim.rep: "rep_id",
    Dim.team: "team_id",
    Dim.region: "region",
    Dim.channel: "channel",
    Dim.product: "product_id",
    Dim.product_line: "product_line",
    Dim.pipeline: "pipeline_id",
    Dim.industry: "industry",
    Dim.stage: "stage_id",
    Dim.from_stage: "from_stage_id",
    Dim.account: "account_id",
    Dim.lead_status: "lead_status",
    Dim.activity_type: "activity_type",
}

#: Breakdowns whose values are ids, and the column beside them with the name a manager reads.
DIM_LABELS: dict[Dim, str] = {
    Dim.rep: "rep_name",
    Dim.team: "team_name",
    Dim.product: "product_name",
    Dim.stage: "stage_name",
    Dim.from_stage: "from_stage_name",
    Dim.account: "account_name",
}

#: Records that can carry custom attributes: the prefix a breakdown uses, and the table and
#: id column the attribute joins on (``deal.contract_type`` joins on ``deal_id``).
ATTR_RECORDS: dict[str, tuple[str, str]] = {
    "deal": ("deals", "deal_id"),
    "lead": ("leads", "lead_id"),
    "account": ("accounts", "account_id"),
}


@dataclass(frozen=True)
class Attr:
    """A custom attribute as a breakdown or filter: ``deal.contract_type``,
    ``lead.landing_page``, ``account.segment`` (``[sources.x.attributes]`` of a mapping).

    Any KPI whose facts carry the record's id supports it (deal KPIs a deal or account
    attribute, lead KPIs a lead or account attribute, …). The value is the record's value as
    last imported, applied at every date (attributes have no history); records without it
    fall in the empty group."""

    record: str  # deal, lead or account
    name: str

    @classmethod
    def parse(cls, text: str) -> Attr | None:
        """``deal.contract_type`` as an attribute (None: not of that form)."""
        record, dot, name = text.partition(".")
        return cls(record, name) if dot and record in ATTR_RECORDS and name else None

    @property
    def value(self) -> str:
        return f"{self.record}.{self.name}"

    @property
    def column(self) -> str:
        """The facts column it is joined into (a plain identifier)."""
        safe = "".join(c if c.isalnum() else "_" for c in self.name)
        return f"attr_{self.record}_{safe}"

    @property
    def table(self) -> str:
        return ATTR_RECORDS[self.record][0]

    @property
    def key(self) -> str:
        return ATTR_RECORDS[self.record][1]

    @property
    def label(self) -> None:
        return None


#: A breakdown: one of the model's dimensions or a custom attribute.
Breakdown = Dim | Attr


#: The breakdowns every deal-based fact table carries.
DEAL_DIMS = (
    Dim.rep,
    Dim.team,
    Dim.region,
    Dim.channel,
    Dim.product,
    Dim.product_line,
    Dim.pipeline,
    Dim.industry,
    Dim.account,
)
LEAD_DIMS = (Dim.rep, Dim.team, Dim.region, Dim.channel, Dim.industry)
ACTIVITY_DIMS = (Dim.rep, Dim.team, Dim.region, Dim.activity_type)
REP_DIMS = (Dim.rep, Dim.team, Dim.region)


class Unit(StrEnum):
    count = "count"  # type: ignore[assignment]
    money = "EUR"
    ratio = "ratio"  # a fraction in [0, 1]
    percent = "%"
    days = "days"
    hours = "hours"
    business_hours = "business hours"
    score = "points"


class Kind(StrEnum):
    """How the compiler turns a KPI's facts into rows (see ``semantic/query.py``)."""

    flow = "flow"  # counted per period: events between two dates
    snapshot = "snapshot"  # a state as of a date (from history)
    period = "period"  # records × periods with flags (at start, at end, …), e.g. S5, S6, S9
    derived = "derived"  # an expression over other KPIs, over the full dimension


@dataclass(frozen=True)
class Facts:
    """The records a KPI aggregates, one row per record, with breakdown columns.

    Flow facts have an event time ``at`` (a naive-UTC timestamp, or a local date);
    snapshot facts have a validity interval ``valid_from`` ≤ t < ``valid_to`` (null = still
    valid) in naive UTC. ``record`` names the canonical table behind a row, ``key`` its id
    column; both serve the drill-down.
    """

    table: ir.Table
    record: str
    key: str
    at: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    #: Period facts: crosses the (filtered) records with the query's periods (a table with
    #: ``period``, ``p_start_on``/``p_end_on`` local dates and ``p_start_at``/``p_end_at``
    #: UTC instants, ends exclusive), given the dimensions the query breaks down or filters
    #: by; one row per record × period, with the flags the measure counts.
    per_period: Callable[[ir.Table, ir.Table, frozenset[Dim]], ir.Table] | None = None
    #: Period facts whose figures add up over breakdowns (rollups): the rows ``per_period``
    #: makes for a set of dimensions depend only on this function of the set (a constant:
    #: on none). None: they may depend on the dimensions in any way. The same for every
    #: context (it is read once per KPI).
    per_period_rows: Callable[[frozenset[Dim]], Hashable] | None = None
    #: Period facts: the period used when a query gives neither a grain nor dates.
    default_grain: Grain | None = None
    #: Period facts whose records roll up to ``key`` (contracts to accounts): ``table``
    #: holds only what ``per_period`` needs, which groups by key × period; this table (one
    #: row per key) holds the breakdown columns, left-joined after that grouping and only
    #: when a breakdown, filter or drill-down asks for them. None: ``table`` has them.
    dims: ir.Table | None = None
    #: Drill-down only: adds columns that explain a record but that the figure does not
    #: use (its query does not pay for them), e.g. an SQL lead's first outbound contact.
    detail: Callable[[ir.Table], ir.Table] | None = None


def same_rows(dims: frozenset[Dim]) -> None:
    """``Facts.per_period_rows`` of period facts that only cross records with periods."""
    return None


@dataclass(frozen=True)
class Input:
    """One input of a derived KPI: a column (``value``, ``target``, ``numerator`` or
    ``denominator``) of another KPI, asked with the same breakdowns and filters.

    ``window`` gives the input its own date range from the context (e.g. "the 12 months up
    to as-of"); without one it takes the query's. ``fill`` is what a row of the dimension
    with no input row gets: 0 when "nothing happened" is zero (no won deals = 0 won), None
    when it means "no value".
    """

    kpi: str
    column: str = "value"
    window: Callable[[Context], tuple[date | None, date | None]] | None = None
    fill: float | None = None


@dataclass(frozen=True)
class Derived(Measure):
    """An expression over named inputs (metricflow's ``type: derived``).

    Rows are every member of the breakdown in scope (every rep employed in the query range,
    …) plus every key an input has; ``numerator`` (and, for a ratio, ``denominator``) are
    expressions over the joined inputs, named as in ``inputs``. A ratio has no value when
    its denominator is zero or, with ``positive``, not above zero.
    """

    inputs: Mapping[str, Input]
    numerator: Expr
    denominator: Expr | None = None
    positive: bool = False

    @property
    def is_ratio(self) -> bool:  # type: ignore[override]
        return self.denominator is not None


@dataclass(frozen=True)
class Kpi:
    """One KPI, declared once. Everything else (CLI, API, pages, docs) derives from this."""

    id: str
    name_en: str
    name_nl: str
    definition: str
    unit: Unit
    #: The records the KPI aggregates (None for derived KPIs: their inputs are KPIs).
    facts: Callable[[Context], Facts] | None
    measure: Measure
    kind: Kind = Kind.flow
    dims: tuple[Dim, ...] = ()
    source: str | None = None
    higher_is_better: bool | None = True
    #: Whether the KPI depends on amounts; default: when its unit is money.
    money: bool | None = None
    #: What the data must hold for this KPI to mean anything: canonical tables with rows,
    #: or ``table.column`` with some value filled in.
    requires: tuple[str, ...] = ()
    #: The main KPI of its source id (``kpi show W1`` gives this one).
    primary: bool = False
    #: Snapshot KPIs that can only be computed at the as-of date (no period history).
    point_only: bool = False
    #: Standard breakdowns (dashboards, benchmarks).
    default_by: tuple[str, ...] = ()
    #: Multiply the value by this (100 for percentages).
    scale: float = 1.0
    #: The targets (kpi_id in the targets table) this KPI is compared with.
    target_kpi: str | None = None
    #: Drill-down of a derived KPI: the input KPI whose records explain it.
    drill: str | None = None
    #: Breakdown columns its facts read whatever the query breaks down by (the lead
    #: score's rules read a lead's industry and company size): a query's own context
    #: joins them (:attr:`~salespulse.semantic.model.Context.breakdowns`).
    uses: tuple[Dim, ...] = ()

    def __post_init__(self) -> None:
        derived = isinstance(self.measure, Derived)
        if derived != (self.kind is Kind.derived) or derived != (self.facts is None):
            raise ValueError(f"{self.id}: a derived KPI has a Derived measure and no facts")

    @property
    def uses_money(self) -> bool:
        """Whether the value depends on amounts (and so on exchange rates)."""
        return self.money if self.money is not None else self.unit is Unit.money

    @property
    def is_ratio(self) -> bool:
        return self.measure.is_ratio

    @property
    def takes_attributes(self) -> bool:
        """Whether custom attributes (:class:`Attr`) can break down or filter it: KPIs over
        records (flow and snapshot kinds), not those computed from other KPIs or per period."""
        return self.facts is not None and self.kind in (Kind.flow, Kind.snapshot)
