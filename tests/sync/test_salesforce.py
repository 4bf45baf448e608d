"""Salesforce sync against a fake org shaped like the documented REST and Bulk 2.0 APIs."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.semantic.query import Query, run
from salespulse.sync import salesforce
from salespulse.sync.loader import SyncResult
from salespulse.sync.salesforce import Credentials
from salespulse.warehouse.store import check_keys, connect
from tests.sync.conftest import Sleeps
from tests.sync.fake_salesforce import (
    ACCESS,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    T0,
    FakeSalesforce,
    org,
    sf_time,
)

AS_OF = "2026-04-30"
CREDS = Credentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture
def sf() -> FakeSalesforce:
    return org()


def sync(db: Path, sf: FakeSalesforce, sleeps: Sleeps | None = None, **kw: Any) -> SyncResult:
    creds = kw.pop("credentials", CREDS)
    return salesforce.sync(
        db,
        credentials=creds,
        base_url=BASE,
        transport=sf.transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **kw,
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    store = connect(db, create=False)
    try:
        return list(store.con.con.execute(sql).fetchall())
    finally:
        store.close()


def snapshot(db: Path) -> dict[str, Any]:
    store = connect(db, create=False)
    try:
        return {
            name: sorted(map(str, store.con.table(name).to_pyarrow().to_pylist()))
            for name in [*store.counts(), "sync_state", "import_log"]
        }
    finally:
        store.close()


@pytest.mark.slow
def test_first_sync_loads_the_canonical_tables(db: Path, sf: FakeSalesforce) -> None:
    r = sync(db, sf)
    assert r.written and r.counts["deals"]["inserted"] == 3
    store = connect(db, create=False)
    try:
        assert check_keys(store) == []
        counts = store.counts()
    finally:
        store.close()
    assert counts["reps"] == 2 and counts["accounts"] == 2 and counts["leads"] == 3
    assert counts["stages"] == 5 and counts["activities"] == 3
    opp = rows(
        db,
        "SELECT stage_id, outcome, closed_at, amount, currency, lead_id FROM deals "
        "WHERE deal_id = '0065e00000OPP01'",
    )[0]
    closed = datetime.combine(
        (T0 - timedelta(days=15) + timedelta(days=12)).date(), datetime.min.time()
    )
    assert opp == ("Closed Won", "won", closed, 20_000.0, "EUR", "00Q5e00000LEAD1")
    # the amount-only change (same stage) is no stage entry, but a field-history row
    stages = rows(
        db,
        "SELECT stage_id FROM deal_stage_history WHERE deal_id = '0065e00000OPP01' "
        "ORDER BY entered_at",
    )
    assert stages == [("Prospecting",), ("Closed Won",)]
    field = rows(
        db,
        "SELECT amount, probability FROM deal_field_history "
        "WHERE deal_id = '0065e00000OPP01' ORDER BY changed_at",
    )
    assert field == [(10_000.0, 0.1), (20_000.0, 0.1), (20_000.0, 1.0)]
    assert rows(
        db, "SELECT stage_order, probability FROM stages WHERE stage_id = 'Closed Won'"
    ) == [(4, 1.0)]
    acts = {
        a[0]: a[1:]
        for a in rows(
            db, "SELECT activity_id, activity_type, direction, lead_id, deal_id FROM activities"
        )
    }
    assert acts["00T5e00000TASK1"] == ("call", "outbound", "00Q5e00000LEAD1", None)
    assert acts["00T5e00000TASK2"] == ("email", None, None, "0065e00000OPP01")
    assert acts["00U5e00000EVNT1"] == ("meeting", None, None, "0065e00000OPP01")
    # a lead owned by a queue (00G…) has no rep
    assert rows(
        db, "SELECT owner_rep_id, channel FROM leads WHERE lead_id = '00Q5e00000LEAD2'"
    ) == [(None, "web_form")]
    # query results came in pages (nextRecordsUrl)
    assert any(c.startswith("GET /services/data/v62.0/query/01g") for c in sf.calls)


@pytest.mark.slow
def test_kpis_work_on_synced_data(
    db: Path, sf: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    sync(db, sf)
    store = connect(db, create=False)
    try:
        won = run(store, Query.make("won_revenue", as_of=AS_OF, start="2026-01-01", end=AS_OF))
        assert won.frame["value"].iloc[0] == pytest.approx(20_000.0)
        assert run(store, Query.make("open_deals", as_of=AS_OF)).frame["value"].iloc[0] == 1
        resp = run(
            store, Query.make("first_response_hours", as_of=AS_OF, start="2026-01-01", end=AS_OF)
        )
        assert resp.frame["value"].iloc[0] == pytest.approx(3.0)  # SQL at midnight, call at 3:00
    finally:
        store.close()
    for kpi in ("won_revenue", "open_deals", "first_response_hours", "win_rate"):
        args = ["kpi", "show", kpi, "--db", str(db), "--as-of", AS_OF, "--format", "json"]
        assert main([*args, "--from", "2026-01-01", "--to", AS_OF]) == 0
        assert json.loads(capsys.readouterr().out)["available"], kpi


@pytest.mark.slow
def test_second_run_changes_nothing(db: Path, sf: FakeSalesforce) -> None:
    sync(db, sf)
    before = snapshot(db)
    again = sync(db, sf)
    assert not again.written
    assert snapshot(db) == before
    # incremental: asked from five minutes before the cursor on (late commits)
    (cursor,) = rows(db, "SELECT cursor FROM sync_state WHERE object = 'Account'")[0]
    since = (salesforce.ts(cursor) - timedelta(minutes=5)).isoformat(timespec="milliseconds")  # type: ignore[operator]
    assert f"FROM Account WHERE SystemModstamp >= {since}Z" in " | ".join(sf.soql)


@pytest.mark.slow
def test_incremental_changes_and_deletions(db: Path, sf: FakeSalesforce) -> None:
    sync(db, sf)
    at = T0 + timedelta(days=30)  # after the newest change so far (OPP03's, at T0 + 25 d)
    o = sf.records["Opportunity"]["0065e00000OPP03"]
    o.update(
        StageName="Closed Won",
        IsClosed=True,
        IsWon=True,
        SystemModstamp=sf_time(at),
        LastModifiedDate=sf_time(at),
    )
    sf.put(
        "OpportunityHistory",
        "0085e0000H39999",
        at,
        OpportunityId="0065e00000OPP03",
        StageName="Closed Won",
        Amount=5000,
        CurrencyIsoCode="EUR",
        CloseDate=at.date(),
        Probability=100,
        CreatedDate=at,
        CreatedById="0055e000002EFGH",
    )
    sf.delete("Opportunity", "0065e00000OPP02", at)
    sf.delete("Task", "00T5e00000TASK1", at)
    r = sync(db, sf)
    assert r.counts["deals"]["updated"] == 1
    assert r.deleted == {"deals": 1, "activities": 1}
    assert rows(db, "SELECT outcome FROM deals WHERE deal_id = '0065e00000OPP03'") == [("won",)]
    assert rows(db, "SELECT count(*) FROM deals WHERE deal_id = '0065e00000OPP02'") == [(0,)]
    assert rows(
        db, "SELECT count(*) FROM deal_stage_history WHERE deal_id = '0065e00000OPP02'"
    ) == [(0,)]
    assert rows(
        db,
        "SELECT stage_id FROM deal_stage_history WHERE deal_id = '0065e00000OPP03' "
        "ORDER BY entered_at",
    ) == [("Prospecting",), ("Qualification",), ("Closed Won",)]
    assert any(c == "GET /services/data/v62.0/queryAll" for c in sf.calls)
    before = snapshot(db)
    assert not sync(db, sf).written
    assert snapshot(db) == before


@pytest.mark.slow
def test_large_objects_use_bulk_api_2(db: Path, sf: FakeSalesforce) -> None:
    sf.bulk_page = 2
    for i in range(7):
        sf.put(
            "Account",
            f"0015e0000B{i:05d}",
            T0 + timedelta(minutes=i),
            Name=f"Bulk {i}",
            Industry=None,
            BillingCountry=None,
            NumberOfEmployees=None,
            AnnualRevenue=None,
            OwnerId=None,
            CreatedDate=T0,
        )
    sleeps = Sleeps()
    r = sync(db, sf, sleeps, bulk_threshold=5)
    assert r.counts["accounts"]["inserted"] == 9
    (jid,) = [j for j, job in sf.jobs.items() if job["object"] == "Account"]
    results = [c for c in sf.calls if c.endswith(f"/{jid}/results")]
    assert len(results) == 5  # 9 rows in pages of 2, followed by Sforce-Locator
    assert sleeps and sleeps[0] == 1.0  # waited for the job
    assert rows(db, "SELECT created_at FROM accounts WHERE account_id = '0015e0000B00003'") == [
        (T0,)
    ]
    assert rows(db, "SELECT cursor FROM sync_state WHERE object = 'Account'") == [
        ("2026-03-02T09:06:00.000Z",)
    ]


def test_rate_limits_and_server_errors_are_retried(db: Path, sf: FakeSalesforce) -> None:
    sf.throttle = {2}
    sf.unavailable = {4, 5}
    sleeps = Sleeps()
    assert sync(db, sf, sleeps).written
    assert sleeps == [2.0, 1.0, 2.0]


@pytest.mark.slow
def test_crash_mid_sync_then_resume(db: Path, sf: FakeSalesforce) -> None:
    sync(db, sf)
    before = snapshot(db)
    at = T0 + timedelta(days=1)
    sf.records["Account"]["0015e00000GLOB2"].update(Name="Globex SE", SystemModstamp=sf_time(at))
    sf.calls.clear()
    sf.drop_after = 15
    with pytest.raises(UserError, match="cannot reach Salesforce"):
        sync(db, sf)
    assert snapshot(db) == before
    sf.drop_after = None
    resumed = sync(db, sf)
    assert resumed.written
    assert resumed.replayed == 14  # 15 answered before the crash, less the sign-in
    assert rows(db, "SELECT name FROM accounts WHERE account_id = '0015e00000GLOB2'") == [
        ("Globex SE",)
    ]


def test_password_flow(db: Path, sf: FakeSalesforce) -> None:
    creds = Credentials(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username="int@example.com",
        password="hunter2",
        security_token="TOKEN",
    )
    assert sync(db, sf, credentials=creds).written


def test_bad_credentials_are_one_clear_line(db: Path, sf: FakeSalesforce) -> None:
    bad = Credentials(client_id=CLIENT_ID, client_secret="wrong-secret-123")
    with pytest.raises(UserError, match="Salesforce refused the credentials") as exc:
        sync(db, sf, credentials=bad)
    assert "wrong-secret-123" not in str(exc.value)
    assert "invalid_client" in str(exc.value)
    expired = Credentials(access_token="00Dexpired!token", instance_url=BASE)
    with pytest.raises(UserError, match=r"refused the credentials \(401") as exc:
        sync(db, sf, credentials=expired)
    assert "00Dexpired!token" not in str(exc.value)


def test_missing_permissions_are_named(db: Path, sf: FakeSalesforce) -> None:
    sf.api_disabled = True
    with pytest.raises(UserError, match="API Enabled"):
        sync(db, sf)
    sf.api_disabled = False
    sf.unreadable = {"OpportunityHistory"}
    with pytest.raises(UserError, match="cannot read OpportunityHistory"):
        sync(db, sf)
    assert rows(db, "SELECT count(*) FROM deals") == [(0,)]


@pytest.mark.slow
def test_cli_with_a_token_file_never_shows_secrets(
    db: Path,
    sf: FakeSalesforce,
    serve: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = serve(sf.handle)
    monkeypatch.setattr(
        "tests.sync.fake_salesforce.BASE", url
    )  # the token answer points the client at the local server
    token_file = tmp_path / "salesforce.env"
    token_file.write_text(
        f"CLIENT_ID={CLIENT_ID}\nSALESPULSE_SALESFORCE_CLIENT_SECRET={CLIENT_SECRET}\n"
    )
    code = main(
        ["sync", "salesforce", "--db", str(db), "--base-url", url, "--token-file", str(token_file)]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Synced Salesforce" in out.out
    monkeypatch.setenv("SALESPULSE_SALESFORCE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SALESPULSE_SALESFORCE_CLIENT_SECRET", "not-the-secret-42")
    assert main(["sync", "salesforce", "--db", str(db), "--base-url", url, "-q"]) == 2
    err = capsys.readouterr()
    assert "refused the credentials" in err.err and "Traceback" not in err.err
    text = out.out + out.err + err.out + err.err + caplog.text
    for secret in (CLIENT_SECRET, ACCESS, "not-the-secret-42"):
        assert secret not in text


def test_no_credentials(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for k in ("CLIENT_ID", "CLIENT_SECRET", "ACCESS_TOKEN"):
        monkeypatch.delenv(f"SALESPULSE_SALESFORCE_{k}", raising=False)
    assert main(["sync", "salesforce", "--db", str(db)]) == 2
    assert "SALESPULSE_SALESFORCE_CLIENT_ID" in capsys.readouterr().err


def test_no_network(db: Path, sf: FakeSalesforce) -> None:
    sf.drop_after = 0
    with pytest.raises(UserError, match=r"cannot reach Salesforce at acme\.my\.salesforce\.test"):
        sync(db, sf)


def test_a_bulk_job_that_fails_stops_the_sync(
    db: Path, sf: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = sf.job_info

    def failed(jid: str, state: str) -> dict[str, Any]:
        info = original(jid, "Failed" if state == "JobComplete" else state)
        info["errorMessage"] = "INVALID_FIELD: No such column 'Foo__c'"
        return info

    monkeypatch.setattr(sf, "job_info", failed)
    with pytest.raises(UserError, match="bulk query for User ended Failed: INVALID_FIELD"):
        sync(db, sf, bulk_threshold=0)
    assert rows(db, "SELECT count(*) FROM reps") == [(0,)]


@pytest.mark.slow
def test_crash_during_bulk_jobs_resumes_from_the_spool(db: Path, sf: FakeSalesforce) -> None:
    sf.bulk_page = 2
    for i in range(7):
        sf.put(
            "Account",
            f"0015e0000B{i:05d}",
            T0 + timedelta(minutes=i),
            Name=f"Bulk {i}",
            Industry=None,
            BillingCountry=None,
            NumberOfEmployees=None,
            AnnualRevenue=None,
            OwnerId=None,
            CreatedDate=T0,
        )
    sf.drop_after = 14  # inside the Account job's result pages
    with pytest.raises(UserError, match="cannot reach Salesforce"):
        sync(db, sf, bulk_threshold=5)
    assert any(c.endswith("/results") for c in sf.calls)
    sf.drop_after = None
    sf.calls.clear()
    resumed = sync(db, sf, bulk_threshold=5)
    assert resumed.replayed == 13  # all answers but the sign-in's
    assert resumed.counts["accounts"]["inserted"] == 9
    # the job was not created again: its remaining result pages were fetched live
    assert sum(c == "POST /services/data/v62.0/jobs/query" for c in sf.calls) == len(sf.jobs) - 1
