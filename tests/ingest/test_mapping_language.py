"""The mapping language for real exports (issue #13): lookups between files, source time
zones, custom attributes, warnings and complete problem counts."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import ibis
import pandas as pd
import pytest

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.ingest import run_import
from salespulse.ingest.importer import ImportFailed
from salespulse.semantic import timecal
from salespulse.semantic.query import Query, run
from salespulse.warehouse import migrations
from salespulse.warehouse.attributes import attribute_names, attribute_tables, summary
from salespulse.warehouse.schema import SCHEMA_VERSION, SYSTEM_TABLES, TABLES
from salespulse.warehouse.store import connect
from tests.ingest.conftest import DEALS_CSV, REPO, SIMPLE_MAPPING

EXAMPLE = REPO / "examples" / "lookups" / "mapping.toml"


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    store = connect(db)
    try:
        return [tuple(r) for r in store.con.raw_sql(sql).fetchall()]
    finally:
        store.close()


@pytest.mark.slow
def test_the_lookup_example_runs_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # lookup paths resolve against the data dir, not the cwd
    db = tmp_path / "x.duckdb"
    assert main(["import", str(EXAMPLE), "--db", str(db), "-q"]) == 0
    deals = _rows(db, "SELECT deal_id, owner_rep_id, created_at, closed_at FROM deals ORDER BY 1")
    assert deals == [
        # created 2024-03-01 09:15 in São Paulo (UTC-3), taken from leads.csv
        ("N1", "Bruno Lima", datetime(2024, 3, 1, 12, 15), None),
        # 22:40 on 4 March in São Paulo is 01:40 on 5 March UTC; closed on a date: noon UTC
        ("N2", "Bruno Lima", datetime(2024, 3, 5, 1, 40), datetime(2024, 4, 12, 12)),
        ("N3", "Júlia Prado", datetime(2024, 3, 31, 12), datetime(2024, 4, 18, 12)),
    ]
    # the lookup file is in the import log too
    files = _rows(db, "SELECT source, path FROM import_files ORDER BY 1")
    assert ("deals.lookup.lead", str(EXAMPLE.parent / "leads.csv")) in files
    capsys.readouterr()
    assert main(["info", "--db", str(db), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {(a["record_table"], a["name"]) for a in info["custom_attributes"]} == {
        ("accounts", "payment_method"),
        ("accounts", "segment"),
        ("leads", "landing_page"),
        ("leads", "lead_type"),
        ("deals", "contract_type"),
    }
    assert main(["info", "--db", str(db)]) == 0
    assert "Custom attributes" in capsys.readouterr().out


def test_date_only_values_stay_on_their_day_in_any_reporting_zone(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    run_import(EXAMPLE, db)
    store = connect(db)
    deals = store.table("deals").filter(ibis._.deal_id == "N3")
    for tz in ("America/Los_Angeles", "Pacific/Honolulu", "UTC", "Europe/Amsterdam", "Asia/Tokyo"):
        day = deals.select(d=timecal.to_local(deals.closed_at, tz).date()).to_pyarrow()
        assert day.column("d").to_pylist() == [date(2024, 4, 18)], tz
    # a date field is the calendar date as written, not converted
    assert store.table("deals").order_by("deal_id").expected_close_on.to_pyarrow().to_pylist()[
        0
    ] == date(2024, 4, 30)
    store.close()


def _simple_with(simple: Path, extra: str, deals: str = DEALS_CSV) -> None:
    simple.write_text(simple.read_text() + extra)
    (simple.parent / "deals.csv").write_text(deals)


def test_times_with_an_offset_are_converted_others_read_in_the_source_zone(
    simple: Path, tmp_path: Path
) -> None:
    deals = (
        DEALS_CSV.replace("2024-01-05", "2024-01-05T10:00:00Z")
        .replace("2024-02-10", "2024-02-10 10:00:00+02:00")
        .replace("2024-01-20", "2024-07-20 10:00")
    )
    text = simple.read_text().replace(
        "[sources.deals]\n", '[sources.deals]\ntimezone = "Europe/Amsterdam"\n'
    )
    simple.write_text(text)
    (simple.parent / "deals.csv").write_text(deals)
    run_import(simple, tmp_path / "x.duckdb")
    assert _rows(tmp_path / "x.duckdb", "SELECT created_at FROM deals ORDER BY deal_id") == [
        (datetime(2024, 1, 5, 10),),  # Z: already UTC
        (datetime(2024, 2, 10, 8),),  # +02:00
        (datetime(2024, 7, 20, 8),),  # Amsterdam summer time, UTC+2
    ]


def test_an_unknown_time_zone_is_a_user_error(simple: Path, tmp_path: Path) -> None:
    simple.write_text('timezone = "Europe/Amsterdm"\n' + simple.read_text())
    with pytest.raises(UserError, match="unknown time zone 'Europe/Amsterdm'") as exc:
        run_import(simple, tmp_path / "x.duckdb")
    assert "Europe/Amsterdam" in (exc.value.hint or "")


LEADS = "lead_id,created,owner\nL1,2024-01-02 08:00,R2\nL2,2024-01-03,R1\n"


def _lookup_mapping(simple: Path, leads: str = LEADS, spec: str = "") -> None:
    (simple.parent / "leads.csv").write_text(leads)
    (simple.parent / "deals.csv").write_text(
        "id,lead,stage,amount,closed\nD1,L1,Qualify,10,\nD2,L2,Proposal,20,\nD3,L9,Qualify,30,\n"
    )
    text = SIMPLE_MAPPING
    text = text.replace('owner_rep_id = "owner"', 'owner_rep_id = "lead.owner"').replace(
        'created_at = "created"', 'created_at = { column = "lead.created", default = "2024-01-31" }'
    )
    text += (
        spec or '\n[sources.deals.lookup.lead]\nfile = "leads.csv"\nkey = "lead_id"\non = "lead"\n'
    )
    simple.write_text(text)


def test_lookup_fills_fields_from_another_file(simple: Path, tmp_path: Path) -> None:
    _lookup_mapping(simple)
    run_import(simple, tmp_path / "x.duckdb")
    rows = _rows(
        tmp_path / "x.duckdb", "SELECT deal_id, owner_rep_id, created_at FROM deals ORDER BY 1"
    )
    assert rows == [
        ("D1", "R2", datetime(2024, 1, 2, 8)),
        ("D2", "R1", datetime(2024, 1, 3, 12)),
        ("D3", None, datetime(2024, 1, 31, 12)),  # L9 is not in leads.csv: empty, so the default
    ]


def test_lookup_mistakes_name_the_file_and_column(simple: Path, tmp_path: Path) -> None:
    _lookup_mapping(simple, leads=LEADS.replace("lead_id", "leadid"))
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, tmp_path / "x.duckdb")
    [p] = exc.value.result.problems
    assert p.file.endswith("leads.csv") and p.column == "lead_id" and "leadid" in (p.hint or "")
    _lookup_mapping(simple, leads=LEADS + "L1,2024-02-02,R1\n")
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, tmp_path / "x.duckdb")
    [p] = exc.value.result.problems
    assert p.file.endswith("leads.csv") and p.row == 4
    assert "duplicate key 'L1' in lookup 'lead' (also in row 2)" in p.problem
    _lookup_mapping(
        simple,
        spec='\n[sources.deals.lookup.lead]\nfile = "nope.csv"\nkey = "lead_id"\non = "lead"\n',
    )
    with pytest.raises(UserError, match=r"\[sources.deals\].lookup.lead: file not found"):
        run_import(simple, tmp_path / "x.duckdb")
    _lookup_mapping(
        simple, spec='\n[sources.deals.lookup.lead]\nfile = "leads.csv"\nkey = "lead_id"\n'
    )
    with pytest.raises(UserError, match=r"lookup\.lead needs on"):
        run_import(simple, tmp_path / "x.duckdb")


ATTRS = """
[sources.deals.attributes]
contract_type = "contract"
payment = { column = "pay", map = { cc = "credit card" } }
"""


def test_custom_attributes_are_stored_updated_and_listed(simple: Path, tmp_path: Path) -> None:
    deals = DEALS_CSV.replace("closed\n", "closed,contract,pay\n").replace(",\n", ",,annual,cc\n")
    deals = deals.replace("2024-03-01\n", "2024-03-01,monthly,\n")
    _simple_with(simple, ATTRS, deals)
    db = tmp_path / "x.duckdb"
    r = run_import(simple, db)
    assert r.counts["custom_attributes"].inserted == 6
    store = connect(db)
    assert attribute_names(store, "deals") == ["contract_type", "payment"]
    tables = attribute_tables(store, "deals")
    got = tables["payment"].order_by("record_id").to_pyarrow().to_pylist()
    assert got == [
        {"record_id": "D1", "value": "credit card"},
        {"record_id": "D2", "value": "credit card"},
        {"record_id": "D3", "value": None},
    ]
    # a breakdown: won deals per contract type
    d = store.table("deals")
    t = tables["contract_type"]
    joined = d.left_join(t, d.deal_id == t.record_id).group_by("value").agg(n=ibis._.count())
    assert {r["value"]: r["n"] for r in joined.to_pyarrow().to_pylist()} == {
        "annual": 2,
        "monthly": 1,
    }
    assert [(a.record_table, a.name, a.records, a.filled) for a in summary(store)] == [
        ("deals", "contract_type", 3, 3),
        ("deals", "payment", 3, 2),
    ]
    store.close()
    # a newer export changes one value; the others are unchanged
    (simple.parent / "deals.csv").write_text(
        deals.replace(
            "D2,R2,Proposal,2500.5,2024-02-10,,annual", "D2,R2,Proposal,2500.5,2024-02-10,,monthly"
        )
    )
    r = run_import(simple, db)
    c = r.counts["custom_attributes"]
    assert (c.inserted, c.updated, c.unchanged) == (0, 1, 5)


def test_attributes_of_rejected_records_are_not_kept(simple: Path, tmp_path: Path) -> None:
    deals = DEALS_CSV.replace("closed\n", "closed,contract,pay\n").replace(",\n", ",,annual,cc\n")
    deals = deals.replace("2024-03-01\n", "2024-03-01,monthly,\n").replace("D2,R2", "D2,R9")
    _simple_with(simple, ATTRS, deals)
    r = run_import(simple, tmp_path / "x.duckdb", skip_bad_rows=True)
    assert r.counts["deals"].rejected == 1
    ids = _rows(
        tmp_path / "x.duckdb", "SELECT DISTINCT record_id FROM custom_attributes ORDER BY 1"
    )
    assert ids == [("D1",), ("D3",)]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ('\n[sources.deals.attributes]\namount = "amount"\n', "'amount' is a field of deals"),
        ('\n[sources.deals.attributes]\n"Contract Type" = "x"\n', "not a valid attribute name"),
        ('\n[sources.reps.attributes]\nx = "name"\n', "custom attributes are for accounts"),
    ],
)
def test_attribute_mistakes(simple: Path, tmp_path: Path, spec: str, fragment: str) -> None:
    simple.write_text(simple.read_text() + spec)
    with pytest.raises(UserError, match=fragment):
        run_import(simple, tmp_path / "x.duckdb")


def test_a_missing_attribute_column_is_a_problem(simple: Path, tmp_path: Path) -> None:
    _simple_with(simple, '\n[sources.deals.attributes]\ncontract_type = "contrakt"\n')
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, tmp_path / "x.duckdb")
    [p] = exc.value.result.problems
    assert "missing column 'contrakt'" in p.problem and p.row == 1


def test_version_3_database_gets_custom_attributes_and_subscriptions(tmp_path: Path) -> None:
    db = tmp_path / "v3.duckdb"
    con = ibis.duckdb.connect(str(db))
    con.raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT NOT NULL, description VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for t in (*TABLES, *SYSTEM_TABLES):
        if t.name != "custom_attributes":
            con.raw_sql(t.create_sql())
    con.raw_sql("ALTER TABLE contracts DROP COLUMN billing_period")  # as in v3
    con.raw_sql("ALTER TABLE contracts DROP COLUMN recurring_amount")
    con.raw_sql("INSERT INTO schema_migrations VALUES (3, 'v3', TIMESTAMP '2026-01-01 00:00:00')")
    con.disconnect()
    store = connect(db)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.counts()["custom_attributes"] == 0
    assert list(store.con.table("contracts").columns)[-2:] == ["billing_period", "recurring_amount"]
    assert migrations.ensure_schema(store.con) == []
    store.close()


def test_suspicious_rows_are_warnings_not_problems(
    simple: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deals = (
        DEALS_CSV.replace("4000,2024-01-20,2024-03-01", "0,2024-01-20,2024-01-10")  # both
        + "D4,R2,Closed Lost,10,2024-01-01,2026-11-01\n"
    )
    (simple.parent / "deals.csv").write_text(deals)
    report = tmp_path / "r.csv"
    args = [
        "import",
        str(simple),
        "--db",
        str(tmp_path / "x.duckdb"),
        "-q",
        "--report",
        str(report),
    ]
    assert main([*args, "--as-of", "2026-01-01"]) == 0
    err = capsys.readouterr().err
    assert "3 warnings" in err
    with report.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["column"], r["severity"]) for r in rows] == [
        ("4", "closed", "warning"),
        ("5", "closed", "warning"),
        ("4", "amount", "warning"),
    ]
    assert (
        "closed ('2024-01-10 12:00:00 < 2024-01-20 12:00:00') before it was created"
        in rows[0]["problem"]
    )
    assert "closed in the future" in rows[1]["problem"]
    assert "won deal with amount '0.0'" in rows[2]["problem"]
    assert _rows(tmp_path / "x.duckdb", "SELECT count(*) FROM deals") == [(4,)]


def test_every_problem_is_counted_and_reported(
    simple: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = DEALS_CSV + "".join(f"N{i},R1,Nope,1,2024-01-01,\n" for i in range(250))
    (simple.parent / "deals.csv").write_text(bad)
    report = tmp_path / "r.json"
    args = [
        "import",
        str(simple),
        "--db",
        str(tmp_path / "x.duckdb"),
        "-q",
        "--report",
        str(report),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "250 problems" in err and "… 230 more" in err
    assert len(json.loads(report.read_text())) == 250
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, tmp_path / "x.duckdb")
    assert len(exc.value.result.problems) == 250
    assert str(exc.value).startswith("250 problems in the input")


SUBSCRIPTIONS = """
[unknown_references]
accounts = "create"
[sources.contracts]
file = "contracts.csv"
[sources.contracts.columns]
contract_id = "id"
account_id = "customer"
signed_on = "signed"
start_on = "start"
end_on = "end"
billing_period = "billing"
recurring_amount = "charge"
"""


@pytest.mark.slow
def test_subscriptions_keep_their_recurring_charge_and_derive_the_total(
    simple: Path, tmp_path: Path
) -> None:
    (simple.parent / "contracts.csv").write_text(
        "id,customer,signed,start,end,billing,charge\n"
        "C1,A1,2024-01-10,2024-01-15,2025-01-14,Monthly,100\n"
        "C2,A2,2024-02-01,2024-03-01,2026-02-28,annual,1200\n"
        "C3,A1,2024-02-01,2024-04-01,2024-09-30,quarterly,300\n"
    )
    simple.write_text(simple.read_text() + SUBSCRIPTIONS)
    db = tmp_path / "x.duckdb"
    run_import(simple, db)
    rows = _rows(
        db, "SELECT contract_id, billing_period, recurring_amount, value FROM contracts ORDER BY 1"
    )
    assert rows == [
        ("C1", "month", 100.0, 1200.0),  # 12 monthly charges
        ("C2", "year", 1200.0, 2400.0),  # 2 years
        ("C3", "quarter", 300.0, 600.0),  # 2 quarters
    ]
    # open-ended: no total; stored with one year of charges (its annual value)
    (simple.parent / "contracts.csv").write_text(
        "id,customer,signed,start,end,billing,charge\nC4,A1,2024-01-10,2024-01-15,,month,100\n"
    )
    run_import(simple, db)
    assert _rows(db, "SELECT value FROM contracts WHERE contract_id = 'C4'") == [(1200.0,)]
    # without a charge no value can be derived
    (simple.parent / "contracts.csv").write_text(
        "id,customer,signed,start,end,billing,charge\nC5,A1,2024-01-10,2024-01-15,,month,\n"
    )
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, db)
    [p] = exc.value.result.problems
    assert p.row == 2 and "cannot derive contracts.value" in p.problem
    # a mapped value is kept as given
    simple.write_text(simple.read_text().replace('charge"\n', 'charge"\nvalue = { value = "0" }\n'))
    (simple.parent / "contracts.csv").write_text(
        "id,customer,signed,start,end,billing,charge\nC4,A1,2024-01-10,2024-01-15,,weekly,100\n"
    )
    with pytest.raises(ImportFailed) as exc:
        run_import(simple, db)
    assert "'weekly' is not one of: month, quarter, year" in exc.value.result.problems[0].problem


@pytest.mark.slow
def test_subscription_kpis_read_the_charge(simple: Path, tmp_path: Path) -> None:
    """ACV per year of term is a subscription's charge per year; in CLV an open-ended
    subscription is worth the charges billed up to the as-of date."""
    (simple.parent / "contracts.csv").write_text(
        "id,customer,signed,start,end,billing,charge\n"
        "C1,A1,2024-01-10,2024-01-15,2025-01-14,month,100\n"  # 12 months: 1,200
        "C2,A2,2024-02-01,2024-03-01,2025-02-28,year,1200\n"  # 1 year: 1,200
        "C3,A1,2024-02-01,2024-04-01,2024-09-30,quarter,300\n"  # 2 quarters: 600
        "C4,A2,2024-01-10,2024-01-15,,month,100\n"  # open-ended
    )
    simple.write_text(simple.read_text() + SUBSCRIPTIONS)
    db = tmp_path / "x.duckdb"
    run_import(simple, db)
    store = connect(db, create=False)
    try:
        acv = run(store, Query.make("acv_per_year", start="2024-01-01", end="2024-12-31"))
        # every one is 1,200 a year (an order of 600 over 6 months would count as 600)
        assert acv.frame["value"].tolist() == [1200.0]
        # as of 30 June C4 has begun 6 monthly periods (15 Jan … 15 Jun): 600 so far
        clv = run(store, Query.make("clv_purchase_value", as_of="2024-06-30"))
        assert clv.frame["value"].tolist() == [(1200 + 1200 + 600 + 600) / 4]
        # on 14 June only five had begun
        clv = run(store, Query.make("clv_purchase_value", as_of="2024-06-14"))
        assert clv.frame["value"].tolist() == [(1200 + 1200 + 600 + 500) / 4]
        # of the two customers at the start of 2025 only A2 is one at its end: C4 runs on
        ret = run(store, Query.make("customer_retention", by="year", as_of="2025-06-30"))
        row = ret.frame.set_index("period").loc[pd.Timestamp("2025-01-01")]
        assert (row["numerator"], row["denominator"]) == (1.0, 2.0)  # A1's contracts ended
    finally:
        store.close()
