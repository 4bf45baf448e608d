"""What a page's data looks like (the JSON of ``/api/pages/…`` and the HTML page's input).

Rows are the semantic layer's result rows unchanged (breakdown columns, ``value``, and for
ratios ``numerator``/``denominator``; ``target``/``attainment`` where targets exist).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Chart = Literal["bar", "hbar", "line", "stacked", "hstacked", "grouped", "funnel", "heatmap"]


class Layer(BaseModel):
    """One KPI query's result inside a figure, card or table."""

    kpi: str
    name_en: str
    name_nl: str
    unit: str
    higher_is_better: bool | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    available: bool = True
    reason: str | None = None
    ignored_filters: list[str] = Field(
        default_factory=list, description="Global filters this KPI cannot apply."
    )
    query: dict[str, Any] = Field(
        default_factory=dict, description="The query behind the rows (KPI explorer parameters)."
    )
    style: Literal["bar", "line", "marker"] = "bar"


class Ref(BaseModel):
    """A reference line (a target, a limit from the settings)."""

    value: float
    label_en: str
    label_nl: str


class Figure(BaseModel):
    id: str
    title_en: str
    title_nl: str
    chart: Chart
    unit: str
    x: str | None = Field(default=None, description="Row column on the category/period axis.")
    series: str | None = Field(
        default=None, description="Row column that splits the rows into series."
    )
    layers: list[Layer]
    refs: list[Ref] = Field(default_factory=list)
    highlight: str | None = Field(default=None, description="Category marked on the chart.")
    note_en: str | None = None
    note_nl: str | None = None


class Card(BaseModel):
    """A headline number: the KPI over the whole page window (with target if any)."""

    id: str
    layer: Layer
    value: float | None = None
    target: float | None = None
    attainment: float | None = None


class Column(BaseModel):
    id: str
    title_en: str
    title_nl: str
    unit: str = ""
    terms: str | None = Field(
        default=None,
        description="Vocabulary of the values (channel, activity_type, stage, …): the page "
        "shows them in its language.",
    )


class Table(BaseModel):
    """A table of records or of several KPIs side by side (one row per key)."""

    id: str
    title_en: str
    title_nl: str
    key: str | None = None
    columns: list[Column]
    rows: list[dict[str, Any]]
    available: bool = True
    reason: str | None = None
    csv: dict[str, Any] | None = Field(
        default=None, description="Query whose CSV download gives this table's numbers."
    )


class PageData(BaseModel):
    page: str
    window: dict[str, str]
    filters: dict[str, Any]
    data_version: str
    currency: str = Field(default="EUR", description="Reporting currency of money values.")
    cards: list[Card] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)


class AlertData(BaseModel):
    kind: str
    kpi: str
    title_en: str
    title_nl: str
    severity: str
    count: int
    available: bool = True
    reason: str | None = None
    #: The days a look-back alert covers (empty for alerts about the state on as-of).
    start: str | None = None
    end: str | None = None
    columns: list[str] = Field(default_factory=list)
    records: list[dict[str, Any]] = Field(default_factory=list)
    table: Table | None = Field(
        default=None, description="The first records as the page shows them (names, headers)."
    )


class AlertsPage(BaseModel):
    page: str = "alerts"
    window: dict[str, str]
    filters: dict[str, Any]
    data_version: str
    alerts: list[AlertData]


class Option(BaseModel):
    value: str
    label: str


class FilterOptions(BaseModel):
    rep: list[Option] = Field(default_factory=list)
    team: list[Option]
    region: list[Option]
    product: list[Option]
    channel: list[Option]
    #: Custom attributes as breakdowns and filters: ``deal.contract_type``, …
    attributes: list[str] = Field(default_factory=list)
    data_day: str
    fiscal_year_start_month: int


class KpiInfo(BaseModel):
    """A catalogue entry (:func:`salespulse.semantic.catalogue.kpi_info`)."""

    id: str
    name_en: str
    name_nl: str
    definition: str
    unit: str
    kind: str
    source: str | None
    primary: bool
    dims: list[str]
    default_by: list[str]
    point_only: bool
    higher_is_better: bool | None
    ratio: bool
    inputs: list[str]
    drill: str | None
    has_target: bool
