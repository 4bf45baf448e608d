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
