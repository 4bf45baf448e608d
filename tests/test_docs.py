"""Docs derived from code must be up to date (run `make docs` to regenerate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts.gen_docs import GENERATED

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_doc_is_current(name: str) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == GENERATED[name](), (
        f"docs/{name} is out of date: run `make docs`"
    )


def test_every_column_is_documented() -> None:
    from salespulse.warehouse.schema import iter_columns

    for t, c in iter_columns():
        assert c.description.strip().endswith((".", ")")), (t.name, c.name)


def test_every_kpi_is_documented() -> None:
    """A KPI without names, a definition in sentences or a unit fails the build."""
    from salespulse.semantic.catalogue import all_kpis

    kpis = all_kpis()
    assert len(kpis) >= 50
    for k in kpis:
        assert k.name_en and k.name_nl and k.name_en != k.id, k.id
        assert len(k.definition) > 40 and k.definition.rstrip().endswith("."), k.id
        assert k.dims or k.compute is not None or k.id in {"staff_retention"}, k.id
    sources = {k.source for k in kpis}
    expected = {f"W{i}" for i in range(1, 11)} | {f"S{i}" for i in range(1, 10)}
    assert expected - {"W9"} <= sources  # W9 (lead score) lives in analytics/scoring


def test_every_source_id_has_a_primary_kpi() -> None:
    from salespulse.semantic.catalogue import all_kpis, get_kpi

    for ref in {k.source for k in all_kpis() if k.source}:
        assert get_kpi(ref).source == ref, ref
