"""The HubSpot preset on a synthetic export shaped like HubSpot's: activities linked to
contacts and deals through the association columns, so that first-response and e-mail-only
KPIs work from an export."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from salespulse.ingest import run_import
from salespulse.semantic.query import Query, run
from salespulse.warehouse.store import connect

DATE_ENTERED = '"Date entered ""{} (Sales Pipeline)"""'

FILES = {
    "owners.csv": "First Name,Last Name,Email\nAnna,de Vries,anna@example.com\n",
    "contacts.csv": (
        "Record ID,First Name,Last Name,Company Name,Contact owner,Create Date,"
        "Became a Sales Qualified Lead Date,Original Source\n"
        "201,Eva,Jansen,Acme,Anna de Vries,2024-03-04 08:00,2024-03-04 09:30,Organic Search\n"
        "202,Finn,Bakker,Beta,Anna de Vries,2024-03-05 09:00,2024-03-05 10:00,Referrals\n"
    ),
    "deals.csv": (
        "Record ID,Deal Name,Deal Stage,Amount,Deal owner,Create Date,Close Date,"
        "Associated Contact IDs,"
        + DATE_ENTERED.format("Appointment Scheduled")
        + ","
        + DATE_ENTERED.format("Contract Sent")
        + "\n"
        "101,Press,Contract Sent,5000,Anna de Vries,2024-03-06 10:00,2024-04-30,201,"
        "2024-03-06 10:00,2024-03-07 09:00\n"
        "102,Parts,Contract Sent,800,Anna de Vries,2024-03-06 11:00,2024-04-30,202;201,"
        "2024-03-06 11:00,2024-03-08 09:00\n"
    ),
    "calls.csv": (
        "Record ID,Activity date,Activity assigned to,Call Title,Call direction,Call outcome,"
        "Associated Contact IDs,Associated Deal IDs,Associated Company IDs\n"
        "301,2024-03-04 10:00,Anna de Vries,Intro,Outbound,Connected,201,,\n"
    ),
    "emails.csv": (
        "Record ID,Activity date,Activity assigned to,Email subject,Email direction,"
        "Associated Contact IDs,Associated Deal IDs\n"
        "401,2024-03-07 10:00,Anna de Vries,Proposal,Email,201,101\n"
        "402,2024-03-12 10:00,Anna de Vries,Hello,Email,202,102;999\n"
        "403,2024-03-13 10:00,Anna de Vries,Re: Hello,Incoming email,202;203,\n"
    ),
    "meetings.csv": (
        "Record ID,Activity date,Activity assigned to,Meeting name,Meeting outcome,"
        "Associated Contact IDs,Associated Deal IDs\n"
        "501,2024-03-09 10:00,Anna de Vries,Walkthrough,Completed,202,102\n"
    ),
}


@pytest.fixture
def hubspot_db(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "m.toml").write_text('preset = "hubspot"\ncurrency = "EUR"\n')
    db = tmp_path / "h.duckdb"
    result = run_import(tmp_path / "m.toml", db)
    assert result.counts["activities"].inserted == 5
    return db


def test_activities_and_deals_are_linked_through_association_columns(hubspot_db: Path) -> None:
    store = connect(hubspot_db)
    acts = store.table("activities").order_by("activity_id").to_pyarrow().to_pylist()
    links = [(a["activity_id"], a["activity_type"], a["lead_id"], a["deal_id"]) for a in acts]
    assert links == [
        ("301", "call", "201", None),
        ("401", "email", "201", "101"),
        ("402", "email", "202", "102"),  # the first of "102;999"
        ("403", "email", "202", None),
        ("501", "meeting", "202", "102"),
    ]
    assert [a["direction"] for a in acts] == [
        "outbound",
        "outbound",
        "outbound",
        "inbound",
        None,
    ]
    deals = store.table("deals").order_by("deal_id").lead_id.to_pyarrow().to_pylist()
    assert deals == ["201", "202"]
    store.close()


@pytest.mark.slow
def test_first_response_and_email_only_kpis_work_from_the_export(hubspot_db: Path) -> None:
    store = connect(hubspot_db)
    as_of = date(2024, 3, 31)
    # 201: SQL Monday 09:30 UTC, called 30 minutes later; 202: first outbound a week later
    r = run(store, Query.make("first_response_sla_share", as_of=as_of))
    assert r.available, r.reason
    assert r.frame["value"].iloc[0] == pytest.approx(0.5)
    # 101 reached Contract Sent and was worked by e-mail only; 102 had a meeting there
    r = run(store, Query.make("email_only_late_deals", as_of=as_of))
    assert r.available, r.reason
    assert r.frame["value"].sum() == 1
    store.close()
