"""The KPI catalogue: every KPI of the product, declared once.

Modules group KPIs by what they are about (leads, deals, stages, activity, customers, team);
this package collects them into :data:`CATALOGUE`, keyed by id.
"""

from __future__ import annotations

from typing import Any

from salespulse.errors import UserError
from salespulse.semantic.kpi import Derived, Kpi


def _collect() -> dict[str, Kpi]:
    from salespulse.semantic.catalogue.activity import KPIS as ACTIVITY
    from salespulse.semantic.catalogue.customers import KPIS as CUSTOMERS
    from salespulse.semantic.catalogue.deals import KPIS as DEALS
    from salespulse.semantic.catalogue.leads import KPIS as LEADS
    from salespulse.semantic.catalogue.stages import KPIS as STAGES
    from salespulse.semantic.catalogue.team import KPIS as TEAM

    out: dict[str, Kpi] = {}
    for group in (LEADS, DEALS, STAGES, ACTIVITY, CUSTOMERS, TEAM):
        for kpi in group:
            if kpi.id in out:
                raise RuntimeError(f"KPI {kpi.id} declared twice")
            out[kpi.id] = kpi
    return out


CATALOGUE: dict[str, Kpi] = {}


def all_kpis() -> list[Kpi]:
    if not CATALOGUE:
        CATALOGUE.update(_collect())
    return list(CATALOGUE.values())


def get_kpi(kpi_id: str) -> Kpi:
    """The KPI with this id (case-insensitive); a source id (W1, S5) gives its main KPI."""
    kpis = {k.id: k for k in all_kpis()}
    key = kpi_id.strip().lower()
    if key in kpis:
        return kpis[key]
    for k in kpis.values():
        if k.source and k.source.lower() == key and k.primary:
            return k
    raise UserError(f"unknown KPI {kpi_id!r}", hint="`salespulse kpi list` shows them all")


def kpi_info(k: Kpi) -> dict[str, Any]:
    """A KPI's catalogue entry as plain data: the one form the Python API, the CLI
    (``kpi list --format json``) and the HTTP API (``/api/kpis``) give."""
    m = k.measure
    inputs = [i.kpi for i in m.inputs.values()] if isinstance(m, Derived) else []
    return {
        "id": k.id,
        "name_en": k.name_en,
        "name_nl": k.name_nl,
        "definition": k.definition,
        "unit": str(k.unit),
        "kind": str(k.kind),
        "source": k.source,
        "primary": k.primary,
        "dims": [d.value for d in k.dims],
        "default_by": list(k.default_by),
        "point_only": k.point_only,
        "higher_is_better": k.higher_is_better,
        "ratio": k.is_ratio,
        "inputs": inputs,
        "drill": k.drill,
        "has_target": k.target_kpi is not None,
    }
