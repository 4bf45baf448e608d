"""Render ``docs/kpis.md`` from the catalogue (the KPI docs never drift from the code)."""

from __future__ import annotations

from salespulse.semantic.catalogue import all_kpis
from salespulse.semantic.kpi import Derived, Kind

KIND_TEXT = {
    Kind.flow: "flow per period",
    Kind.snapshot: "snapshot as of a date",
    Kind.period: "per period, from its start and end",
    Kind.derived: "derived from other KPIs",
}

SOURCES = {
    "W": "“10 KPI's voor Sales Managers” (seed 000): KPI {n}",
    "S": "“9 sales-KPI's die elk salesteam zou moeten meten” (seed 002): KPI {n}",
}


def _source(ref: str | None) -> str:
    if not ref:
        return "dashboard measure (D1–D6)"
    return f"{ref} — " + SOURCES[ref[0]].format(n=ref[1:])


def render_kpis() -> str:
    kpis = all_kpis()
    lines = [
        "# KPIs",
        "",
        "<!-- Generated from src/salespulse/semantic/catalogue/ by `make docs`; "
        "tests/test_docs.py fails when it is out of date. Do not edit by hand. -->",
        "",
        f"salespulse computes {len(kpis)} KPIs, each defined once in the catalogue and used "
        "by the CLI (`salespulse kpi show ID`), the Python API, the HTTP API, the web pages "
        "and the report.",
        "",
        "**How to read them.** *Flow* KPIs count what happened in a period (by the local "
        "date of the event, time zone Europe/Amsterdam unless set otherwise). *Snapshot* KPIs "
        "describe the state **as of** the end of a day, rebuilt from stage history and the "
        "activity log — so last quarter's figure can be reproduced today. Ratios show "
        "numerator and denominator; a zero denominator gives *no value*, never 0. KPIs the "
        "data cannot support (e.g. no stage history) say so instead of showing numbers. "
        "Quarters and years are fiscal (setting `fiscal_year_start_month`). *Period* KPIs "
        "compare the start and the end of each period (retention, churn, conversion). "
        "*Derived* KPIs combine other KPIs (their inputs are listed) over every rep or "
        "team in scope: a rep with a quota and nothing won shows 0 %, not nothing.",
        "",
        "**Targets.** Any KPI can have targets: rows in the `targets` table with its id "
        "(per month, quarter or year; per rep, team or the whole company). Results then "
        "carry `target` and `attainment` = value / target. A target belongs to its own "
        "period: per quarter, the quarter targets count; a year target counts per year "
        "and is spread evenly over quarters or months only where no finer target exists; "
        "finer targets add up to coarser periods. Only periods that have started by the "
        "as-of date count. A team filter uses that team's targets (else the sum of its "
        "reps'), not the company's.",
        "",
        "**Empty values.** A lead without a channel, and a deal without a lead, have "
        "channel `not_set` — kept apart from a source's own `unknown`. A lead leaves the "
        "pipeline (S5) when disqualified or dormant: no activity for `lead_dormant_days`.",
        "",
        "**Closed, won, open.** A deal is closed when its last known stage is a closed "
        "stage (or, without stage history, when `closed_at` has passed); won when that stage "
        "is the won stage. Amounts are converted to EUR with the latest rate valid on the "
        "as-of date.",
        "",
        "| id | KPI | unit | kind | source |",
        "|---|---|---|---|---|",
    ]
    for k in kpis:
        lines.append(
            f"| [`{k.id}`](#{k.id}) | {k.name_en} | {k.unit} | {k.kind} | {k.source or '—'} |"
        )
    for k in kpis:
        better = {True: "higher is better", False: "lower is better", None: "neither"}[
            k.higher_is_better
        ]
        lines += [
            "",
            f"## {k.id}",
            "",
            f"**{k.name_en}** — *{k.name_nl}*",
            "",
            k.definition,
            "",
            f"- Unit: {k.unit} ({better}); "
            + KIND_TEXT[k.kind]
            + (", computed at the as-of date only" if k.point_only else ""),
            f"- Source: {_source(k.source)}",
            "- Breakdowns: "
            + (", ".join(d.value for d in k.dims) or "none")
            + ("" if k.point_only else "; periods: day, week, month, quarter, year"),
        ]
        if k.requires:
            lines.append("- Needs data in: " + ", ".join(f"`{r}`" for r in k.requires))
        if isinstance(k.measure, Derived):
            ins = [f"`{n}` = {i.column} of `{i.kpi}`" for n, i in k.measure.inputs.items()]
            lines.append("- Inputs: " + "; ".join(ins))
        if k.target_kpi and k.target_kpi != k.id:
            lines.append(f"- Compared with the targets of `{k.target_kpi}`")
        example = ",".join(k.default_by)
        lines.append(
            f"- Example: `salespulse kpi show {k.id}"
            + (f" --by {example}" if example else "")
            + "`"
        )
    return "\n".join(lines) + "\n"
