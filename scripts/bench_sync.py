"""Benchmark the HubSpot sync against the offline fake portal (tests/sync/fake_hubspot.py).

    .venv/bin/python scripts/bench_sync.py [--deals 5000] [--db /tmp/bench-sync.duckdb]

Builds a portal with N companies, N deals (each with stage, amount and close-date history),
4N contacts and 4N activities, then times a first sync, a second one (nothing changed) and
one after 1% of the deals changed. The fake answers in-process (``MockTransport``), so the
figures are salespulse's own work (paging, mapping, checking, writing), not network time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sync.fake_hubspot import BASE, T0, FakeHubSpot, iso, portal, record, version

from salespulse.sync import hubspot


def build(n: int) -> FakeHubSpot:
    hs = portal()
    hs.page_size = 100
    d = timedelta(days=1)
    m = "hs_lastmodifieddate"
    for i in range(n):
        at = T0 - timedelta(minutes=n - i)
        hs.put("companies", record(str(100_000 + i), {"name": f"Company {i}"}, at, at, mod=m))
    for i in range(4 * n):
        at = T0 - timedelta(minutes=4 * n - i)
        cid = str(200_000 + i)
        props = {
            "firstname": f"F{i}",
            "lastname": "L",
            "associatedcompanyid": str(100_000 + i // 4),
            "hubspot_owner_id": "101",
            "hs_lifecyclestage_salesqualifiedlead_date": iso(at),
        }
        hs.put("contacts", record(cid, props, at - 3 * d, at, mod="lastmodifieddate"))
    for i in range(n):
        at = T0 - timedelta(minutes=n - i)
        did = str(300_000 + i)
        stage = ("closedwon", "closedlost", "qualifiedtobuy")[i % 3]
        props = {
            "dealname": f"Deal {i}",
            "pipeline": "default",
            "dealstage": stage,
            "amount": 1000 + i,
            "deal_currency_code": "EUR",
            "hubspot_owner_id": "102",
            "closedate": iso(at),
        }
        hs.put("deals", record(did, props, at - 30 * d, at, mod=m))
        hs.history[did] = {
            "dealstage": [version("appointmentscheduled", at - 30 * d), version(stage, at)],
            "amount": [version(900 + i, at - 30 * d), version(1000 + i, at - 10 * d)],
            "closedate": [version(iso(at), at - 30 * d)],
        }
        hs.link("deals", "companies", did, str(100_000 + i))
        hs.link("deals", "contacts", did, str(200_000 + 4 * i))
    for i in range(4 * n):
        at = T0 - timedelta(minutes=4 * n - i)
        aid = str(400_000 + i)
        obj = ("calls", "emails", "meetings", "tasks")[i % 4]
        props = {"hs_timestamp": iso(at), "hubspot_owner_id": "101", "hs_createdate": iso(at)}
        hs.put(obj, record(aid, props, at, at, mod=m))
        hs.link(obj, "contacts", aid, str(200_000 + i))
    return hs


def timed(label: str, db: Path, hs: FakeHubSpot) -> None:
    before = len(hs.calls)
    t = time.perf_counter()
    r = hubspot.sync(
        db, token=hs.token, base_url=BASE, transport=hs.transport, sleep=lambda s: None
    )
    secs = time.perf_counter() - t
    totals = r.totals()
    print(
        f"| {label} | {secs:.1f} s | {len(hs.calls) - before:,} | {totals['inserted']:,} | "
        f"{totals['updated']:,} | {totals['unchanged']:,} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=5000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/bench-sync.duckdb"))
    a = ap.parse_args()
    a.db.unlink(missing_ok=True)
    hs = build(a.deals)
    print("| run | wall clock | API requests | inserted | updated | unchanged |")
    print("|---|---|---|---|---|---|")
    timed("first sync", a.db, hs)
    timed("again, nothing changed", a.db, hs)
    at = T0 + timedelta(hours=1)
    for i in range(0, a.deals, 100):
        rec = hs.objects["deals"][str(300_000 + i)]
        rec["properties"].update(amount="1", hs_lastmodifieddate=iso(at))
    timed("after 1% of the deals changed", a.db, hs)


if __name__ == "__main__":
    main()
