"""The shipped examples import the real third-party samples with known row counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.ingest import run_import
from salespulse.warehouse.store import connect
from tests.ingest.conftest import MAVEN, REPO, SALESFORCE, needs_maven, needs_salesforce


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _maven_expected() -> dict[str, int]:
    pipeline = _rows(MAVEN / "sales_pipeline.csv")
    teams = _rows(MAVEN / "sales_teams.csv")
    return {
        "deals": len(pipeline),
        "reps": len({r["sales_agent"] for r in teams}),
        "teams": len({r["manager"] for r in teams}),
        "accounts": len(_rows(MAVEN / "accounts.csv")),
        "products": len(_rows(MAVEN / "products.csv")),
        "pipelines": 1,
        "stages": len({r["deal_stage"] for r in pipeline}),
        "deal_stage_history": 0,  # Maven has no history; none is invented
        "activities": 0,
    }


@needs_maven
@pytest.mark.slow
def test_maven_example_imports_with_known_counts(tmp_path: Path) -> None:
    db = tmp_path / "maven.duckdb"
    result = run_import(REPO / "examples" / "maven.toml", db, data_dir=MAVEN)
    assert not result.problems
    store = connect(db)
    counts = store.counts()
    for table, n in _maven_expected().items():
        assert counts[table] == n, table
    pipeline = _rows(MAVEN / "sales_pipeline.csv")
    deals = store.table("deals").execute().set_index("deal_id")
    won = [r for r in pipeline if r["deal_stage"] == "Won"]
    assert (deals["outcome"] == "won").sum() == len(won)
    assert deals["amount"].sum() == pytest.approx(sum(float(r["close_value"]) for r in won))
    # quirks: GTXPro mapped to the product list, open deals without account stay empty,
    # lost deals' value 0 means "not recorded", open deals are not closed
    assert "GTXPro" not in set(deals["product_id"])
    no_account = sum(1 for r in pipeline if not r["account"])
    assert deals["account_id"].isna().sum() == no_account
    assert deals.loc[deals["outcome"] == "lost", "amount"].isna().all()
    assert deals.loc[deals["outcome"].isna(), "closed_at"].isna().all()
    # the mapping's [settings] are stored with the data: money KPIs work without a
    # settings file, in dollars
    from salespulse.semantic.query import Query, run
    from salespulse.settings import load_settings

    assert load_settings(store=store).reporting_currency == "USD"
    won = run(store, Query.make("won_revenue", as_of="2017-12-31"))
    assert won.available and won.unit == "USD"
    assert won.frame.value.sum() == pytest.approx(deals["amount"].sum())
    store.close()


@needs_maven
@pytest.mark.slow
def test_reimporting_the_same_files_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "maven.duckdb"
    first = run_import(REPO / "examples" / "maven.toml", db, data_dir=MAVEN)
    store = connect(db)
    before = store.table("deals").order_by("deal_id").to_pyarrow()
    store.close()
    second = run_import(REPO / "examples" / "maven.toml", db, data_dir=MAVEN)
    assert second.totals()["inserted"] == 0 and second.totals()["updated"] == 0
    assert second.totals()["unchanged"] == first.totals()["inserted"]
    store = connect(db)
    assert store.table("deals").order_by("deal_id").to_pyarrow().equals(before)
    assert store.counts()["deal_stage_history"] == 0
    assert store.con.table("import_log").count().execute() == 2
    store.close()


@needs_salesforce
@pytest.mark.slow
def test_salesforce_example_imports_with_known_counts(tmp_path: Path) -> None:
    db = tmp_path / "sf.duckdb"
    result = run_import(REPO / "examples" / "salesforce.toml", db, data_dir=SALESFORCE)
    assert not result.problems
    opps = _rows(SALESFORCE / "opportunity.csv")
    hist = _rows(SALESFORCE / "OpportunityHistory.csv")
    accounts = _rows(SALESFORCE / "account.csv")
    leads = _rows(SALESFORCE / "lead.csv")
    owners = {r["OwnerId"] for r in opps + accounts + leads} | {r["CreatedById"] for r in hist}
    store = connect(db)
    counts = store.counts()
    assert counts["deals"] == len(opps)
    assert counts["accounts"] == len(accounts)
    assert counts["leads"] == len(leads)
    assert counts["deal_stage_history"] == len(
        {(r["OpportunityId"], r["CreatedDate"], r["StageName"]) for r in hist}
    )
    assert counts["reps"] == len(owners)  # placeholders: the sample has no User export
    assert counts["stages"] == 10
    deals = store.table("deals").execute()
    assert (deals["outcome"] == "won").sum() == sum(r["IsWon"] == "1" for r in opps)
    assert deals["closed_at"].notna().sum() == sum(r["IsClosed"] == "1" for r in opps)
    assert deals["expected_close_on"].notna().all()
    # Salesforce's empty id 000000000000000AAA is no reference
    assert store.table("leads").account_id.notnull().sum().execute() == 0
    # OpportunityHistory's amount / close date / probability: one row per opportunity and
    # change time; of two rows with the same time the later one in the file counts
    fh = store.table("deal_field_history").order_by(["deal_id", "changed_at"]).execute()
    last = {(r["OpportunityId"], r["CreatedDate"]): r for r in hist}  # later rows overwrite
    assert len(fh) == len(last)
    for row in fh.itertuples():
        src = last[(row.deal_id, row.changed_at.strftime("%Y-%m-%d %H:%M:%S"))]
        assert row.amount == float(src["Amount"])
        assert str(row.expected_close_on)[:10] == src["CloseDate"][:10]
        assert row.probability == pytest.approx(float(src["Probability"]) / 100)
        assert 0 <= row.probability <= 1
    store.close()


@needs_maven
@pytest.mark.slow
def test_cli_import_and_info_show_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "m.duckdb")
    assert (
        main(
            [
                "import",
                str(REPO / "examples" / "maven.toml"),
                "--db",
                db,
                "-q",
                "--data-dir",
                str(MAVEN),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "8,800" in out
    assert main(["info", "--db", db, "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    log = info["imports"]
    assert len(log) == 1 and log[0]["inserted"] > 8800
    paths = {Path(f["path"]).name: f["sha256"] for f in log[0]["files"]}
    assert "sales_pipeline.csv" in paths and len(paths["sales_pipeline.csv"]) == 64
    assert main(["info", "--db", db]) == 0
    assert "Imports" in capsys.readouterr().out


@needs_maven
@pytest.mark.slow
def test_data_dir_option_overrides_the_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        (REPO / "examples" / "maven.toml").read_text().replace("data_dir =", "# data_dir =")
    )
    assert main(["import", str(mapping), "--db", str(tmp_path / "x.duckdb"), "-q"]) == 2
    code = main(
        ["import", str(mapping), "--db", str(tmp_path / "x.duckdb"), "-q", "--data-dir", str(MAVEN)]
    )
    assert code == 0


@pytest.mark.postgres
@needs_maven
@pytest.mark.slow
def test_maven_import_on_postgres(pg_url: str) -> None:
    first = run_import(REPO / "examples" / "maven.toml", pg_url, data_dir=MAVEN)
    assert first.totals()["inserted"] == sum(_maven_expected().values())
    again = run_import(REPO / "examples" / "maven.toml", pg_url, data_dir=MAVEN)
    assert again.totals()["inserted"] == 0 and again.totals()["updated"] == 0
    store = connect(pg_url)
    assert store.counts()["deals"] == 8800
    assert store.con.table("import_log").count().execute() == 2
    store.close()
