"""Source formats: Dutch CSV in Windows-1252, BOM, Excel .xlsx, Parquet, HubSpot preset."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salespulse.ingest import run_import
from salespulse.warehouse.store import connect
from tests.ingest.conftest import DEALS_CSV, REPS_CSV, SIMPLE_MAPPING

DUTCH_MAPPING = """
currency = "EUR"
[format]
locale = "nl"
[pipeline]
id = "verkoop"
stages = [
    { name = "Offerte", probability = 0.5 },
    { name = "Gewonnen", outcome = "won" },
    { name = "Verloren", outcome = "lost" },
]
[sources.accounts]
file = "klanten.csv"
[sources.accounts.columns]
account_id = "Klantnummer"
name = "Naam"
annual_revenue = "Omzet"
[sources.deals]
file = "kansen.csv"
[sources.deals.columns]
deal_id = "Kans"
name = "Omschrijving"
account_id = "Klantnummer"
stage_id = "Fase"
amount = "Bedrag"
created_at = "Aangemaakt"
closed_at = { column = "Gesloten", when_closed = true }
"""


def test_dutch_csv_semicolons_decimal_commas_dates_windows_1252(tmp_path: Path) -> None:
    (tmp_path / "klanten.csv").write_bytes(
        "Klantnummer;Naam;Omzet\nK1;Café Ré;€ 1.234.567,89\nK2;Bakkerij Één;12,5\n".encode("cp1252")
    )
    (tmp_path / "kansen.csv").write_bytes(
        (
            "Kans;Omschrijving;Klantnummer;Fase;Bedrag;Aangemaakt;Gesloten\n"
            'O1;"Machine; groot";K1;Offerte;1.250,50;31-01-2024;\n'
            "O2;Onderdelen à €;K2;Gewonnen;€ 99,95;01-02-2024;15-03-2024\n"
        ).encode("cp1252")
    )
    (tmp_path / "map.toml").write_text(DUTCH_MAPPING, encoding="utf-8")
    db = tmp_path / "nl.duckdb"
    result = run_import(tmp_path / "map.toml", db)
    assert result.totals()["inserted"] == 2 + 2 + 1 + 3
    store = connect(db)
    acc = store.table("accounts").order_by("account_id").execute()
    assert acc["name"].tolist() == ["Café Ré", "Bakkerij Één"]
    assert acc["annual_revenue"].tolist() == pytest.approx([1234567.89, 12.5])
    deals = store.table("deals").order_by("deal_id").execute()
    assert deals["name"].tolist() == ["Machine; groot", "Onderdelen à €"]
    assert deals["amount"].tolist() == pytest.approx([1250.50, 99.95])
    assert str(deals["created_at"].iloc[0])[:10] == "2024-01-31"
    assert str(deals["closed_at"].iloc[1])[:10] == "2024-03-15"
    assert deals["outcome"].tolist()[1] == "won"
    store.close()


def test_utf8_with_bom_and_tab_separated(tmp_path: Path) -> None:
    d = tmp_path
    (d / "reps.csv").write_bytes(b"\xef\xbb\xbf" + REPS_CSV.replace(",", "\t").encode())
    (d / "deals.csv").write_text(DEALS_CSV, encoding="utf-8-sig")
    (d / "m.toml").write_text(SIMPLE_MAPPING)
    result = run_import(d / "m.toml", d / "x.duckdb")
    assert result.counts["reps"].inserted == 2 and result.counts["deals"].inserted == 3


@pytest.mark.slow
def test_xlsx_round_trip(tmp_path: Path) -> None:
    """Deals written to an .xlsx workbook (typed cells) import like the CSV."""
    import datetime as dt

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Reps"
    ws.append(["id", "name"])
    ws.append(["R1", "Anna"])
    ws.append(["R2", "Bram"])
    ws2 = wb.create_sheet("Deals")
    ws2.append(["id", "owner", "stage", "amount", "created", "closed"])
    ws2.append(["D1", "R1", "Qualify", 1000, dt.datetime(2024, 1, 5), None])
    ws2.append(["D2", "R2", "Proposal", 2500.5, dt.date(2024, 2, 10), None])
    ws2.append(["D3", "R1", "Closed Won", 4000.0, "2024-01-20", dt.datetime(2024, 3, 1, 9, 30)])
    wb.save(tmp_path / "crm.xlsx")
    mapping = SIMPLE_MAPPING.replace(
        'file = "reps.csv"', 'file = "crm.xlsx"\nformat = { sheet = "Reps" }'
    ).replace('file = "deals.csv"', 'file = "crm.xlsx"\nformat = { sheet = "Deals" }')
    (tmp_path / "m.toml").write_text(mapping)
    run_import(tmp_path / "m.toml", tmp_path / "x.duckdb")
    store = connect(tmp_path / "x.duckdb")
    deals = store.table("deals").order_by("deal_id").execute()
    assert deals["amount"].tolist() == pytest.approx([1000, 2500.5, 4000])
    assert str(deals["created_at"].iloc[1]) == "2024-02-10 12:00:00"  # date-only: noon UTC
    assert str(deals["closed_at"].iloc[2]) == "2024-03-01 09:30:00"
    assert store.table("deals").order_by("deal_id").outcome.to_pyarrow().to_pylist() == [
        None,
        None,
        "won",
    ]
    # the same data as CSV gives the same rows
    d = tmp_path / "csv"
    d.mkdir()
    (d / "reps.csv").write_text(REPS_CSV)
    (d / "deals.csv").write_text(DEALS_CSV)
    (d / "m.toml").write_text(SIMPLE_MAPPING)
    run_import(d / "m.toml", tmp_path / "y.duckdb")
    other = connect(tmp_path / "y.duckdb")
    a = store.table("deals").drop("closed_at").order_by("deal_id").to_pyarrow()
    b = other.table("deals").drop("closed_at").order_by("deal_id").to_pyarrow()
    assert a.equals(b)
    store.close()
    other.close()


def test_parquet_source(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": ["R1", "R2"], "name": ["Anna", "Bram"]}), tmp_path / "r.parquet")
    pq.write_table(
        pa.table(
            {
                "id": ["D1"],
                "owner": ["R1"],
                "stage": ["Qualify"],
                "amount": [12.5],
                "created": pa.array([pa.scalar(1704067200000000, pa.timestamp("us")).as_py()]),
                "closed": pa.array([None], pa.timestamp("us")),
            }
        ),
        tmp_path / "d.parquet",
    )
    mapping = SIMPLE_MAPPING.replace("reps.csv", "r.parquet").replace("deals.csv", "d.parquet")
    (tmp_path / "m.toml").write_text(mapping)
    run_import(tmp_path / "m.toml", tmp_path / "x.duckdb")
    store = connect(tmp_path / "x.duckdb")
    deals = store.table("deals").execute()
    assert deals["amount"].tolist() == [12.5]
    assert str(deals["created_at"].iloc[0]) == "2024-01-01 00:00:00"
    store.close()


def test_hubspot_preset_builds_history_from_date_entered_columns(tmp_path: Path) -> None:
    (tmp_path / "deals.csv").write_text(
        "Record ID,Deal Name,Deal Stage,Amount,Deal owner,Create Date,Close Date,"
        '"Date entered ""Appointment Scheduled (Sales Pipeline)""",'
        '"Date entered ""Closed Won (Sales Pipeline)""",'
        '"Date entered ""Stage X (Other Pipeline)"""\n'
        "101,Big press,Closed Won,50000,Anna de Vries,2024-01-02 09:00,2024-04-01,"
        "2024-01-02 09:00,2024-04-01 10:00,\n"
        "102,Small part,Appointment Scheduled,500,Bram Bos,2024-02-01 10:00,2024-06-30,"
        "2024-02-01 10:00,,2024-02-03 10:00\n"
    )
    (tmp_path / "owners.csv").write_text("First Name,Last Name,Email\nAnna,de Vries,a@x.nl\n")
    (tmp_path / "m.toml").write_text('preset = "hubspot"\ncurrency = "EUR"\n')
    result = run_import(tmp_path / "m.toml", tmp_path / "h.duckdb")
    assert result.skipped_sources  # companies, contacts, calls, … not exported: skipped
    store = connect(tmp_path / "h.duckdb")
    hist = store.table("deal_stage_history").order_by(["deal_id", "entered_at"]).execute()
    assert list(zip(hist["deal_id"], hist["stage_id"], strict=True)) == [
        ("101", "appointment_scheduled"),
        ("101", "closed_won"),
        ("102", "appointment_scheduled"),
    ]
    reps = store.table("reps").order_by("rep_id").execute()
    assert reps["rep_id"].tolist() == ["Anna de Vries", "Bram Bos"]  # Bram: created
    assert reps["email"].tolist()[0] == "a@x.nl"
    deals = store.table("deals").order_by("deal_id").execute()
    assert store.table("deals").order_by("deal_id").outcome.to_pyarrow().to_pylist() == [
        "won",
        None,
    ]
    assert str(deals["closed_at"].iloc[0])[:10] == "2024-04-01"
    store.close()
