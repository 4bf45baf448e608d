"""Helpers for the import tests: write mapping files and exports into tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasets import DATASETS, MAVEN, REPO, SALESFORCE  # noqa: F401  (re-exported)

needs_maven = pytest.mark.skipif(not MAVEN.is_dir(), reason="../shared/datasets not present")
needs_salesforce = pytest.mark.skipif(
    not SALESFORCE.is_dir(), reason="../shared/datasets not present"
)

#: A small mapping used by many tests: reps and deals from two CSV files.
SIMPLE_MAPPING = """
currency = "EUR"
[pipeline]
id = "sales"
stages = [
    { name = "Qualify", probability = 0.2 },
    { name = "Proposal", probability = 0.6 },
    { name = "Closed Won", outcome = "won" },
    { name = "Closed Lost", outcome = "lost" },
]
[sources.reps]
file = "reps.csv"
[sources.reps.columns]
rep_id = "id"
name = "name"
[sources.deals]
file = "deals.csv"
[sources.deals.columns]
deal_id = "id"
owner_rep_id = "owner"
stage_id = "stage"
amount = "amount"
created_at = "created"
closed_at = { column = "closed", when_closed = true }
"""

REPS_CSV = "id,name\nR1,Anna\nR2,Bram\n"
DEALS_CSV = (
    "id,owner,stage,amount,created,closed\n"
    "D1,R1,Qualify,1000,2024-01-05,\n"
    "D2,R2,Proposal,2500.5,2024-02-10,\n"
    "D3,R1,Closed Won,4000,2024-01-20,2024-03-01\n"
)


@pytest.fixture
def simple(tmp_path: Path) -> Path:
    """A folder with reps.csv, deals.csv and mapping.toml; returns the mapping path."""
    d = tmp_path / "export"
    d.mkdir()
    (d / "reps.csv").write_text(REPS_CSV, encoding="utf-8")
    (d / "deals.csv").write_text(DEALS_CSV, encoding="utf-8")
    (d / "mapping.toml").write_text(SIMPLE_MAPPING, encoding="utf-8")
    return d / "mapping.toml"
