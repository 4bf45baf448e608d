"""What a KPI is: its declaration (names, definition, unit, facts, measure, breakdowns)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import ibis.expr.types as ir

from salespulse.semantic.measures import Count, Measure, Ratio

if TYPE_CHECKING:
    import pandas as pd

    from salespulse.semantic.model import Context
    from salespulse.semantic.query import Plan, Query


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


def computed(ctx: Context) -> Facts:
    """The ``facts`` of a KPI with its own ``compute``: it has none of its own."""
    raise TypeError("a computed KPI has no facts of its own; see its compute function")


#: The ``measure`` of a computed ratio KPI: marks it as a ratio (numerator, denominator,
#: value); its ``compute`` function does the work.
COMPUTED_RATIO = Ratio(Count(), Count())


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
    flow = "flow"  # counted per period: events between two dates
    snapshot = "snapshot"  # a state as of a date (from history)


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


@dataclass(frozen=True)
class Kpi:
    """One KPI, declared once. Everything else (CLI, API, pages, docs) derives from this."""

    id: str
    name_en: str
    name_nl: str
    definition: str
    unit: Unit
    facts: Callable[[Context], Facts]
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
    #: For KPIs that are not one aggregation of one fact table (e.g. retention formulas):
    #: computes the result frame (in the engine, via Ibis) from the context and plan.
    compute: Callable[[Context, Plan, Query], pd.DataFrame] | None = None
    #: Drill-down of a computed KPI: another KPI's id whose records explain it, or a
    #: function giving the records (with ``in_numerator``).
    drill: str | Callable[[Context, Plan, Query], ir.Table] | None = None

    @property
    def uses_money(self) -> bool:
        """Whether the value depends on amounts (and so on exchange rates)."""
        return self.money if self.money is not None else self.unit is Unit.money

    @property
    def is_ratio(self) -> bool:
        return self.measure.is_ratio
