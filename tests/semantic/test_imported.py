"""KPIs on the real Maven CRM sample (imported with examples/maven.toml): what the data
supports is computed and checked against the file; what it cannot support says so."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date

import pytest

from salespulse.cli.app import main
from salespulse.semantic.query import Query, run
from salespulse.settings import Settings
from salespulse.warehouse.store import Store, connect
from tests.datasets import MAVEN as MAVEN_DIR
from tests.datasets import REPO as ROOT

MAVEN = MAVEN_DIR / "sales_pipeline.csv"
USD = Settings(reporting_currency="USD")
AS_OF = date(2017, 12, 31)

pytestmark = pytest.mark.skipif(not MAVEN.is_file(), reason=f"{MAVEN} not present")


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    db = tmp_path_factory.mktemp("maven") / "maven.duckdb"
    args = ["import", str(ROOT / "examples" / "maven.toml"), "--db", str(db), "-q"]
    assert main([*args, "--data-dir", str(MAVEN_DIR)]) == 0
    store = connect(db, create=False)
    yield store
    store.close()


def _won_rows() -> list[dict[str, str]]:
    with MAVEN.open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["deal_stage"] == "Won"]


@pytest.mark.slow
def test_won_revenue_matches_the_file(maven: Store) -> None:
    won = _won_rows()
    f = run(maven, Query.make("won_revenue", as_of=AS_OF), USD).frame
    assert f["value"].iloc[0] == pytest.approx(sum(float(r["close_value"]) for r in won))
    f = run(maven, Query.make("won_deals", by="rep", as_of=AS_OF), USD).frame
    per_agent: dict[str, int] = {}
    for r in won:
        per_agent[r["sales_agent"]] = per_agent.get(r["sales_agent"], 0) + 1
    assert sorted(f["value"].astype(int)) == sorted(per_agent.values())


def test_win_rate_matches_the_file(maven: Store) -> None:
    with MAVEN.open(encoding="utf-8") as fh:
        stages = [r["deal_stage"] for r in csv.DictReader(fh)]
    f = run(maven, Query.make("win_rate", as_of=AS_OF), USD).frame
    assert f["numerator"].iloc[0] == stages.count("Won")
    assert f["denominator"].iloc[0] == stages.count("Won") + stages.count("Lost")


def test_money_needs_a_rate_for_the_data_currency(maven: Store) -> None:
    # the mapping stores reporting_currency = "USD"; asked in EUR there is no rate
    r = run(maven, Query.make("won_revenue", as_of=AS_OF), Settings(reporting_currency="EUR"))
    assert not r.available and "no exchange rate from USD to EUR" in (r.reason or "")


@pytest.mark.parametrize(
    ("kpi", "missing"),
    [
        ("stage_conversion", "deal stage history"),
        ("calls", "activities"),
        ("sqls", "leads"),
        ("acv", "contracts"),
        ("staff_retention", "hired on"),
        ("stale_deals", "deal stage history"),
    ],
)
def test_unsupported_kpis_say_so(maven: Store, kpi: str, missing: str) -> None:
    r = run(maven, Query.make(kpi, as_of=AS_OF), USD)
    assert not r.available
    assert r.reason is not None and r.reason.startswith("not available for this data")
    assert missing in r.reason


@pytest.mark.slow
def test_open_deals_without_amounts_have_no_pipeline_value(maven: Store) -> None:
    f = run(maven, Query.make("open_pipeline", as_of=AS_OF), USD).frame
    assert f["value"].isna().all()  # no open deal in the file has a value: unknown, not 0
    n = run(maven, Query.make("open_deals", as_of=AS_OF), USD).frame
    with MAVEN.open(encoding="utf-8") as fh:
        open_rows = [
            r for r in csv.DictReader(fh) if r["deal_stage"] in ("Prospecting", "Engaging")
        ]
    assert n["value"].iloc[0] == len(open_rows)
