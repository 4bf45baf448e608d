"""HubSpot sync against a fake portal shaped like the documented API (tests/sync/fake_hubspot)."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from salespulse.auth import audit
from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.semantic.query import Query, run
from salespulse.sync import hubspot
from salespulse.sync.loader import SyncResult
from salespulse.warehouse.store import check_keys, connect
from tests.sync.conftest import Sleeps
from tests.sync.fake_hubspot import (
    BASE,
    T0,
    TOKEN,
    FakeHubSpot,
    bulk_companies,
    iso,
    record,
    version,
)

AS_OF = "2026-04-30"


def sync(db: Path, hs: FakeHubSpot, sleeps: Sleeps | None = None, **kw: Any) -> SyncResult:
    return hubspot.sync(
        db,
        token=hs.token if "token" not in kw else kw.pop("token"),
        base_url=BASE,
        transport=hs.transport,
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
    """Every canonical and sync table's rows, for before/after comparisons."""
    store = connect(db, create=False)
    try:
        out = {
            name: sorted(map(str, store.con.table(name).to_pyarrow().to_pylist()))
            for name in [*store.counts(), "sync_state", "import_log"]
        }
    finally:
        store.close()
    return out


@pytest.mark.slow
def test_first_sync_loads_every_canonical_table(db: Path, hs: FakeHubSpot) -> None:
    hs.page_size = 1
    r = sync(db, hs)
    assert r.written
    assert r.counts["deals"]["inserted"] == 4
    assert r.counts["reps"]["inserted"] == 3  # the archived owner stays a (former) rep
    store = connect(db, create=False)
    try:
        assert check_keys(store) == []
        counts = store.counts()
    finally:
        store.close()
    assert counts["accounts"] == 2 and counts["leads"] == 3 and counts["activities"] == 6
    assert counts["teams"] == 1 and counts["pipelines"] == 1 and counts["stages"] == 5
    # owners came in pages of one: active (2 pages) and archived (1 page)
    assert hs.calls.count("GET /crm/v3/owners") == 3

    deal = rows(
        db,
        "SELECT stage_id, outcome, closed_at, amount, account_id, lead_id, "
        "owner_rep_id, expected_close_on FROM deals WHERE deal_id = '301'",
    )[0]
    assert deal[:2] == ("closedwon", "won")
    assert deal[2] == T0 - timedelta(days=1)  # created T0-10d, closed 9 days later
    assert deal[3:7] == (10_000.0, "501", "201", "101")
    assert rows(db, "SELECT outcome, lost_reason FROM deals WHERE deal_id = '302'") == [
        ("lost", "Price")
    ]
    assert rows(db, "SELECT outcome, closed_at FROM deals WHERE deal_id = '304'") == [(None, None)]
    # stages: closed ones last, won = closed with probability 1
    assert rows(
        db, "SELECT stage_id, stage_order, is_closed, is_won FROM stages ORDER BY stage_order"
    ) == [
        ("appointmentscheduled", 1, False, False),
        ("qualifiedtobuy", 2, False, False),
        ("contractsent", 3, False, False),
        ("closedwon", 4, True, True),
        ("closedlost", 5, True, False),
    ]
    hist = rows(
        db,
        "SELECT stage_id, entered_at, changed_by_rep_id FROM deal_stage_history "
        "WHERE deal_id = '301' ORDER BY entered_at",
    )
    assert [h[0] for h in hist] == ["appointmentscheduled", "contractsent", "closedwon"]
    assert hist[0][2] == "101"  # updatedByUserId 9001 is owner 101
    field = rows(
        db,
        "SELECT changed_at, amount, currency, expected_close_on, probability, "
        "changed_by_rep_id FROM deal_field_history WHERE deal_id = '301' "
        "ORDER BY changed_at",
    )
    created = T0 - timedelta(days=10)
    assert field == [
        (created, 8000.0, "EUR", (created + timedelta(days=20)).date(), 0.2, "101"),
        (
            created + timedelta(days=2),
            10_000.0,
            "EUR",
            (created + timedelta(days=20)).date(),
            0.2,
            "102",
        ),
        (
            created + timedelta(days=4),
            10_000.0,
            "EUR",
            (created + timedelta(days=9)).date(),
            0.2,
            None,
        ),
    ]
    acts = dict(
        (a[0], a[1:])
        for a in rows(
            db,
            "SELECT activity_id, activity_type, direction, outcome, lead_id, deal_id, "
            "rep_id, completed_at IS NOT NULL FROM activities",
        )
    )
    assert acts["701"] == ("call", "outbound", "connected", "201", "301", "101", False)
    assert acts["702"] == ("call", "outbound", "no_answer", "202", None, "102", False)
    assert acts["712"][:2] == ("email", "inbound")
    assert acts["721"][:3] == ("meeting", None, "held")
    assert acts["731"][0] == "task" and acts["731"][-1] is True
    leads = dict(rows(db, "SELECT lead_id, channel FROM leads"))
    assert leads == {"201": "web_form", "202": "referral", "203": "trade_fair"}
    assert rows(db, "SELECT count(*) FROM import_log WHERE mapping_file LIKE 'sync hubspot%'") == [
        (1,)
    ]


@pytest.mark.slow
def test_every_kpi_family_works_on_synced_data(
    db: Path, hs: FakeHubSpot, capsys: pytest.CaptureFixture[str]
) -> None:
    sync(db, hs)
    store = connect(db, create=False)
    try:
        won = run(store, Query.make("won_revenue", as_of=AS_OF, start="2026-01-01", end=AS_OF))
        assert won.frame["value"].iloc[0] == pytest.approx(12_500.0)
        open_ = run(store, Query.make("open_deals", as_of=AS_OF))
        assert open_.frame["value"].iloc[0] == 1
        # SQL at created + 2 days; first outbound 5 h, 26 h and 2 h later
        resp = run(
            store, Query.make("first_response_hours", as_of=AS_OF, start="2026-01-01", end=AS_OF)
        )
        assert resp.frame["value"].iloc[0] == pytest.approx((5 + 26 + 2) / 3)
        rate = run(store, Query.make("win_rate", as_of=AS_OF, start="2026-01-01", end=AS_OF))
        assert rate.frame["numerator"].iloc[0] == 2 and rate.frame["denominator"].iloc[0] == 3
    finally:
        store.close()
    for kpi in ("won_revenue", "open_deals", "first_response_hours", "win_rate"):
        args = ["kpi", "show", kpi, "--db", str(db), "--as-of", AS_OF, "--format", "json"]
        assert main([*args, "--from", "2026-01-01", "--to", AS_OF]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["available"], (kpi, out)


@pytest.mark.slow
def test_second_run_changes_nothing(db: Path, hs: FakeHubSpot) -> None:
    sync(db, hs)
    before = snapshot(db)
    again = sync(db, hs)
    assert not again.written
    assert sum(c["inserted"] + c["updated"] for c in again.counts.values()) == 0
    assert snapshot(db) == before


@pytest.mark.slow
def test_incremental_run_asks_only_for_changes(db: Path, hs: FakeHubSpot) -> None:
    sync(db, hs)
    cursor = dict(rows(db, "SELECT object, cursor FROM sync_state WHERE source = 'hubspot'"))
    assert cursor["deals"] == iso(T0 + timedelta(days=-10 + 9, hours=1))  # deal 301's change
    # deal 304 is won a day after the first sync
    at = T0 + timedelta(days=1)
    rec = hs.objects["deals"]["304"]
    rec["properties"].update(dealstage="closedwon", closedate=iso(at), hs_lastmodifieddate=iso(at))
    hs.history["304"]["dealstage"].append(version("closedwon", at, 9002))
    hs.calls.clear()
    r = sync(db, hs)
    assert r.counts["deals"] == {"inserted": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    # the search asked from the stored cursor on, and found 301 (at the cursor) and 304
    assert r.counts["deal_stage_history"]["inserted"] == 1
    assert rows(db, "SELECT outcome, closed_at FROM deals WHERE deal_id = '304'") == [("won", at)]
    assert rows(db, "SELECT cursor FROM sync_state WHERE object = 'deals'") == [(iso(at),)]
    assert rows(db, "SELECT count(*) FROM import_log") == [(2,)]


@pytest.mark.slow
def test_late_indexed_records_are_not_missed(db: Path, hs: FakeHubSpot) -> None:
    """A record saved just before a run can reach the search index after it, with a
    modification time before the cursor: the next run looks five minutes back."""
    sync(db, hs)
    (cursor,) = rows(db, "SELECT cursor FROM sync_state WHERE object = 'companies'")[0]
    late = hubspot.ts(cursor) - timedelta(minutes=2)  # type: ignore[operator]
    hs.put("companies", record("599", {"name": "Late BV"}, late, late, mod="hs_lastmodifieddate"))
    hs.searches.clear()
    r = sync(db, hs)
    assert r.counts["accounts"]["inserted"] == 1
    lower = next(s for s in hs.searches if s["object"] == "companies")
    value = lower["filterGroups"][0]["filters"][0]["value"]
    assert int(value) == hubspot.millis(cursor) - 5 * 60 * 1000
    assert rows(db, "SELECT cursor FROM sync_state WHERE object = 'companies'") == [(cursor,)]


@pytest.mark.slow
def test_archived_records_are_removed_with_their_history(db: Path, hs: FakeHubSpot) -> None:
    sync(db, hs)
    hs.archive("deals", "302", T0 + timedelta(days=2))
    hs.archive("contacts", "202", T0 + timedelta(days=2))
    hs.archive("calls", "701", T0 + timedelta(days=2))
    r = sync(db, hs)
    assert r.deleted == {"leads": 1, "deals": 1, "activities": 1}
    assert rows(db, "SELECT count(*) FROM deals WHERE deal_id = '302'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM deal_stage_history WHERE deal_id = '302'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM deal_field_history WHERE deal_id = '302'") == [(0,)]
    assert rows(db, "SELECT lead_id FROM activities WHERE activity_id = '702'") == [(None,)]
    assert rows(db, "SELECT count(*) FROM activities WHERE activity_id = '701'") == [(0,)]
    store = connect(db, create=False)
    try:
        assert check_keys(store) == []
    finally:
        store.close()
    before = snapshot(db)
    assert not sync(db, hs).written  # deleting again changes nothing
    assert snapshot(db) == before


@pytest.mark.slow
def test_a_rejected_request_discards_the_spool(db: Path, hs: FakeHubSpot) -> None:
    """A 4xx (say, a paging token that expired) means the spooled answers may be stale."""
    hs.drop_after = 6
    with pytest.raises(UserError):
        sync(db, hs)
    hs.drop_after = None
    hs.forbidden = {}
    hs.search_cap = 0  # every search now answers 400
    with pytest.raises(UserError, match="answered 400"):
        sync(db, hs)
    hs.search_cap = 10_000
    assert sync(db, hs).replayed == 0


def test_rate_limit_waits_as_retry_after_says(db: Path, hs: FakeHubSpot) -> None:
    hs.throttle = {3, 4}
    sleeps = Sleeps()
    r = sync(db, hs, sleeps)
    assert sleeps == [3.0, 3.0]
    assert r.counts["deals"]["inserted"] == 4
    assert hs.calls[2] == hs.calls[3] == hs.calls[4]  # the same request, sent again


@pytest.mark.slow
def test_retry_after_as_http_date(db: Path, hs: FakeHubSpot) -> None:
    hs.throttle = {1}
    hs.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: retry at once
    sleeps = Sleeps()
    sync(db, hs, sleeps)
    assert sleeps == [0.0]


def test_server_errors_back_off_and_retry(db: Path, hs: FakeHubSpot) -> None:
    hs.unavailable = {2, 3, 4}
    sleeps = Sleeps()
    r = sync(db, hs, sleeps)
    assert sleeps == [1.0, 2.0, 4.0]
    assert r.written


def test_server_errors_that_last_stop_the_sync_cleanly(db: Path, hs: FakeHubSpot) -> None:
    hs.unavailable = set(range(1, 100))
    with pytest.raises(UserError, match="HubSpot answered 503"):
        sync(db, hs)
    assert rows(db, "SELECT count(*) FROM deals") == [(0,)]


@pytest.mark.slow
def test_crash_mid_sync_writes_nothing_and_the_next_run_resumes(
    db: Path, hs: FakeHubSpot, tmp_path: Path
) -> None:
    sync(db, hs)
    before = snapshot(db)
    # more changes in HubSpot, then the connection dies halfway through the next sync
    at = T0 + timedelta(days=1)
    hs.objects["deals"]["304"]["properties"].update(amount="9000", hs_lastmodifieddate=iso(at))
    hs.history["304"]["amount"].append(version(9000, at, 9002))
    hs.archive("contacts", "203", at)
    hs.calls.clear()
    hs.drop_after = 12
    with pytest.raises(UserError, match="cannot reach HubSpot"):
        sync(db, hs)
    assert snapshot(db) == before  # neither data nor cursors moved
    (spool,) = (Path(os.environ["SALESPULSE_HOME"]) / "sync").glob("hubspot-*.sqlite")
    total = len(hs.calls)  # 12 answered, the 13th failed (and its retries)
    hs.drop_after = None
    hs.calls.clear()
    resumed = sync(db, hs)
    assert resumed.written and resumed.deleted == {"leads": 1}
    # the 12 answers of the crashed run were replayed; only the rest went to HubSpot
    assert resumed.replayed == 12 and total > 12
    assert not spool.exists()  # committed: the spool is gone
    assert rows(db, "SELECT amount FROM deals WHERE deal_id = '304'") == [(9000.0,)]
    # the resumed database equals one synced without a crash
    clean = tmp_path / "clean.duckdb"
    hs2 = FakeHubSpot(**{**hs.__dict__, "calls": [], "headers_seen": []})
    sync(clean, hs2)
    a, b = snapshot(db), snapshot(clean)
    for name in a:
        if name not in ("sync_state", "import_log"):
            assert a[name] == b[name], name


def test_crash_during_the_first_sync_leaves_an_empty_database(db: Path, hs: FakeHubSpot) -> None:
    hs.drop_after = 8
    with pytest.raises(UserError):
        sync(db, hs)
    assert rows(db, "SELECT count(*) FROM sync_state") == [(0,)]
    assert rows(db, "SELECT count(*) FROM reps") == [(0,)]


@pytest.mark.slow
def test_search_cap_narrows_the_window(
    db: Path, hs: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 1_000)
    hs.search_cap = 1_000
    ids = bulk_companies(hs, 2_350, T0 + timedelta(days=1), timedelta(seconds=1))
    r = sync(db, hs)
    assert r.counts["accounts"]["inserted"] == 2 + len(list(ids))
    searches = [c for c in hs.calls if c == "POST /crm/v3/objects/companies/search"]
    assert len(searches) == 5 + 5 + 2  # three windows: 1,000 + 999 (one overlap) + 353
    assert rows(db, "SELECT cursor FROM sync_state WHERE object = 'companies'") == [
        (iso(T0 + timedelta(days=1, seconds=2_349)),)
    ]


@pytest.mark.slow
def test_search_cap_of_ten_thousand(db: Path, hs: FakeHubSpot) -> None:
    bulk_companies(hs, 10_450, T0 + timedelta(days=1), timedelta(seconds=1))
    r = sync(db, hs)
    assert r.counts["accounts"]["inserted"] == 10_452


def test_more_records_at_one_instant_than_the_cap_is_a_clear_error(
    db: Path, hs: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 400)
    hs.search_cap = 400
    bulk_companies(hs, 500, T0 + timedelta(days=1), timedelta(0))
    with pytest.raises(UserError, match="more than 400 HubSpot companies were modified at"):
        sync(db, hs)


def test_bad_token_is_one_clear_line(db: Path, hs: FakeHubSpot) -> None:
    with pytest.raises(UserError, match=r"HubSpot refused the credentials \(401") as exc:
        sync(db, hs, token="pat-na1-wrong")
    assert "pat-na1-wrong" not in str(exc.value)


def test_missing_scope_is_named(db: Path, hs: FakeHubSpot) -> None:
    hs.forbidden = {"/objects/emails": "sales-email-read"}
    with pytest.raises(UserError, match="lack the sales-email-read scope"):
        sync(db, hs)
    assert rows(db, "SELECT count(*) FROM deals") == [(0,)]


def test_no_network(db: Path, hs: FakeHubSpot) -> None:
    hs.drop_after = 0
    with pytest.raises(UserError, match=r"cannot reach HubSpot at api\.hubapi\.test"):
        sync(db, hs)


@pytest.mark.slow
def test_cli_against_a_local_server_never_shows_the_token(
    db: Path,
    hs: FakeHubSpot,
    serve: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = serve(hs.handle)
    monkeypatch.setenv("SALESPULSE_HUBSPOT_TOKEN", TOKEN)
    assert main(["sync", "hubspot", "--db", str(db), "--base-url", url]) == 0
    out = capsys.readouterr()
    assert "Synced HubSpot" in out.out and "deals" in out.out
    # again: nothing to do
    assert main(["sync", "hubspot", "--db", str(db), "--base-url", url, "-q"]) == 0
    assert "already up to date" in capsys.readouterr().out
    store = connect(db, create=False)
    try:  # both runs are in the audit log, and the token is in neither
        synced = audit.entries(store, 10, event="sync")
    finally:
        store.close()
    assert [e["event"] for e in synced] == ["sync", "sync"]
    assert all('"source": "hubspot"' in e["detail"] and TOKEN not in e["detail"] for e in synced)
    # a wrong token from a file: one line, exit 2
    bad = db.parent / "token.txt"
    bad.write_text("pat-na1-not-the-right-one\n")
    code = main(["sync", "hubspot", "--db", str(db), "--base-url", url, "--token-file", str(bad)])
    err = capsys.readouterr()
    assert code == 2
    assert "401" in err.err and "Traceback" not in err.err
    text = err.out + err.err + out.out + out.err + caplog.text
    assert TOKEN not in text and "pat-na1-not-the-right-one" not in text
    assert all(h.get("authorization") for h in hs.headers_seen)


def test_cli_without_a_token(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SALESPULSE_HUBSPOT_TOKEN", raising=False)
    assert main(["sync", "hubspot", "--db", str(db)]) == 2
    assert "SALESPULSE_HUBSPOT_TOKEN" in capsys.readouterr().err


def test_unreachable_server_from_the_cli(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALESPULSE_HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setattr(hubspot, "client", _fast_client)
    assert main(["sync", "hubspot", "--db", str(db), "--base-url", "http://127.0.0.1:9", "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach HubSpot at 127.0.0.1" in err and TOKEN not in err


def _fast_client(token: str, base_url: str, **kw: Any) -> Any:
    from salespulse.sync.http import ApiClient

    return ApiClient(
        "HubSpot",
        base_url,
        headers={"Authorization": f"Bearer {token}"},
        secrets=(token,),
        sleep=lambda s: None,
        retries=1,
    )


def test_changed_at_is_utc_naive(db: Path, hs: FakeHubSpot) -> None:
    sync(db, hs)
    (at,) = rows(db, "SELECT max(entered_at) FROM deal_stage_history")[0]
    assert isinstance(at, datetime) and at.tzinfo is None


@pytest.mark.slow
def test_the_whole_catalogue_runs_on_synced_data(db: Path, hs: FakeHubSpot) -> None:
    """Every KPI computes on a synced portal; the only ones without data are those that
    need what a CRM sync does not bring (contracts, hiring dates) — as with the file preset."""
    from salespulse.semantic.catalogue import all_kpis

    sync(db, hs)
    store = connect(db, create=False)
    try:
        missing = {}
        for k in all_kpis():
            r = run(store, Query.make(k.id, as_of=AS_OF, start="2026-01-01", end=AS_OF))
            if not r.available:
                missing[k.id] = r.reason
    finally:
        store.close()
    assert missing, "contracts are not synced, so some KPIs must say so"
    for kpi, reason in missing.items():
        assert "no contracts" in reason or "no hired on" in reason, (kpi, reason)
    assert len(all_kpis()) - len(missing) >= 60
