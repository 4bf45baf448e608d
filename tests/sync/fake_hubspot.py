"""A fake HubSpot portal behind ``httpx.MockTransport``, answering like the documented API.

Response shapes follow HubSpot's API reference (CRM v3 objects, search, batch read with
``propertiesWithHistory``, v4 associations batch read, owners, pipelines, errors): the field
names and nesting below are the documented ones (``results``, ``paging.next.after``,
``properties``, ``propertiesWithHistory[prop][].value/timestamp/sourceType/updatedByUserId``,
``from.id`` / ``to[].toObjectId`` / ``associationTypes``, ``category: MISSING_SCOPES``).

Faults are injected per request number: ``throttle`` (429 with ``Retry-After``),
``unavailable`` (503), ``drop_after`` (the connection fails from that request on: a crash).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx2 as httpx

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
BASE = "https://api.hubapi.test"


def iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


@functools.cache
def ms(value: str) -> int:
    if value.isdigit():
        return int(value)
    d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(d.timestamp() * 1000)


def record(
    rid: str, props: dict[str, Any], created: datetime, modified: datetime, *, mod: str
) -> dict[str, Any]:
    """A CRM object as the v3 API returns it (``SimplePublicObject``)."""
    p = {k: (None if v is None else str(v)) for k, v in props.items()}
    p.setdefault("hs_object_id", rid)
    p.setdefault("createdate", iso(created))
    p[mod] = iso(modified)
    return {
        "id": rid,
        "properties": p,
        "createdAt": iso(created),
        "updatedAt": iso(modified),
        "archived": False,
    }


def version(value: Any, at: datetime, user: int | None = None) -> dict[str, Any]:
    """One entry of ``propertiesWithHistory[prop]`` (newest first in the API's answer)."""
    v: dict[str, Any] = {"value": str(value), "timestamp": iso(at), "sourceType": "CRM_UI"}
    if user is not None:
        v["sourceId"] = f"userId:{user}"
        v["updatedByUserId"] = user
    return v


@dataclass
class FakeHubSpot:
    token: str = TOKEN
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    archived_objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    history: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    assoc: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    owners: list[dict[str, Any]] = field(default_factory=list)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    dispositions: list[dict[str, str]] = field(default_factory=list)
    page_size: int = 2  # list endpoints: small pages so that paging is exercised
    search_cap: int = 10_000
    throttle: set[int] = field(default_factory=set)
    retry_after: str = "3"
    unavailable: set[int] = field(default_factory=set)
    drop_after: int | None = None
    forbidden: dict[str, str] = field(default_factory=dict)  # path part -> scope
    calls: list[str] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    _matches: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- building --------------------------------------------------------------------
    def put(self, obj: str, rec: dict[str, Any]) -> None:
        self.objects.setdefault(obj, {})[rec["id"]] = rec

    def archive(self, obj: str, rid: str, at: datetime) -> None:
        rec = self.objects[obj].pop(rid)
        rec = {**rec, "archived": True, "archivedAt": iso(at)}
        self.archived_objects.setdefault(obj, {})[rid] = rec

    def link(self, src: str, dst: str, a: str, b: str) -> None:
        self.assoc.setdefault((src, dst), {}).setdefault(a, []).append(b)
        self.assoc.setdefault((dst, src), {}).setdefault(b, []).append(a)

    # -- answering -------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        n = len(self.calls) + 1
        self.calls.append(f"{request.method} {request.url.path}")
        self.headers_seen.append(dict(request.headers))
        if self.drop_after is not None and n > self.drop_after:
            raise httpx.ConnectError("connection reset by peer", request=request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        for part, scope in self.forbidden.items():
            if part in request.url.path:
                body = {
                    "status": "error",
                    "message": "This app hasn't been granted all required scopes to make "
                    "this call. Read more about required scopes here: "
                    "https://developers.hubspot.com/scopes.",
                    "correlationId": "a43683b0-5717-4ceb-80b4-104d02915d8c",
                    "errors": [
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": [scope]},
                        }
                    ],
                    "links": {"scopes": "https://developers.hubspot.com/scopes"},
                    "category": "MISSING_SCOPES",
                }
                return httpx.Response(403, json=body)
        if n in self.throttle:
            return httpx.Response(
                429,
                headers={"Retry-After": self.retry_after},
                json={
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
                    "policyName": "SECONDLY",
                },
            )
        if n in self.unavailable:
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        return self.route(request)

    def error(self, status: int, category: str, message: str) -> httpx.Response:
        return httpx.Response(
            status,
            json={
                "status": "error",
                "message": message,
                "correlationId": "0e0cb5b1-3b1c-4f2d-9c3b-9a5bd2f1e1aa",
                "category": category,
            },
        )

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        q = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        body = json.loads(request.content) if request.content else {}
        parts = path.strip("/").split("/")
        if path == "/crm/v3/owners":
            archived = q.get("archived") == "true"
            rows = [o for o in self.owners if o["archived"] == archived]
            return self.page(rows, q)
        if path == "/crm/v3/pipelines/deals":
            return httpx.Response(200, json={"results": self.pipelines})
        if path == "/calling/v1/dispositions":
            return httpx.Response(200, json=self.dispositions)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4:
            obj = parts[3]
            src = self.archived_objects if q.get("archived") == "true" else self.objects
            rows = sorted(src.get(obj, {}).values(), key=lambda r: int(r["id"]))
            return self.page(rows, q)
        if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["search"]:
            return self.search(parts[3], body)
        if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["batch", "read"]:
            return self.batch_read(parts[3], body)
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self.associations(parts[3], parts[4], body)
        return self.error(404, "OBJECT_NOT_FOUND", f"no route for {path}")

    def page(self, rows: list[dict[str, Any]], q: dict[str, str]) -> httpx.Response:
        start = int(q.get("after") or 0)
        size = min(int(q.get("limit") or 100), self.page_size)
        out: dict[str, Any] = {"results": rows[start : start + size]}
        if start + size < len(rows):
            nxt = str(start + size)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return httpx.Response(200, json=out)

    def search(self, obj: str, body: dict[str, Any]) -> httpx.Response:
        self.searches.append({"object": obj, **body})
        after = int(body.get("after") or 0)
        limit = int(body.get("limit") or 10)
        if after + limit > self.search_cap:
            return self.error(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request. after + limit must be <= {self.search_cap}",
            )
        key = json.dumps([obj, body.get("filterGroups"), body.get("sorts")])
        if after and key in self._matches:  # the next page of the same query
            return self.search_page(self._matches[key], body, after, limit)
        rows = list(self.objects.get(obj, {}).values())
        for group in body.get("filterGroups") or []:
            for f in group["filters"]:
                assert f["operator"] == "GTE"
                lo = int(f["value"])
                rows = [r for r in rows if ms(r["properties"][f["propertyName"]]) >= lo]
        for s in body.get("sorts") or []:
            rows.sort(
                key=lambda r, s=s: (ms(r["properties"][s["propertyName"]]), int(r["id"])),
                reverse=s["direction"] == "DESCENDING",
            )
        self._matches[key] = rows
        return self.search_page(rows, body, after, limit)

    def search_page(
        self, rows: list[dict[str, Any]], body: dict[str, Any], after: int, limit: int
    ) -> httpx.Response:
        wanted = body.get("properties") or []
        page = [
            {**r, "properties": {k: r["properties"].get(k) for k in {*wanted, "hs_object_id"}}}
            for r in rows[after : after + limit]
        ]
        out: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": None}}
        return httpx.Response(200, json=out)

    def batch_read(self, obj: str, body: dict[str, Any]) -> httpx.Response:
        now = iso(datetime.now(UTC))
        results = []
        for i in body["inputs"]:
            rec = self.objects.get(obj, {}).get(i["id"])
            if rec is None:
                continue
            props = body.get("properties") or []
            r = {**rec, "properties": {k: rec["properties"].get(k) for k in props}}
            hist = self.history.get(i["id"], {})
            r["propertiesWithHistory"] = {
                p: list(reversed(hist.get(p, []))) for p in body.get("propertiesWithHistory") or []
            }
            results.append(r)
        return httpx.Response(
            200,
            json={"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now},
        )

    def associations(self, src: str, dst: str, body: dict[str, Any]) -> httpx.Response:
        now = iso(datetime.now(UTC))
        links = self.assoc.get((src, dst), {})
        results = []
        for i in body["inputs"]:
            to = links.get(i["id"])
            if not to:
                continue
            results.append(
                {
                    "from": {"id": i["id"]},
                    "to": [
                        {
                            "toObjectId": int(t),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}
                            ],
                        }
                        for t in to
                    ],
                }
            )
        return httpx.Response(
            200,
            json={"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now},
        )


# -- a small portal -----------------------------------------------------------------------
T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, UTC


def owner(oid: str, uid: int, first: str, last: str, *, archived: bool = False) -> dict[str, Any]:
    return {
        "id": oid,
        "email": f"{first.lower()}@example.com",
        "type": "PERSON",
        "firstName": first,
        "lastName": last,
        "userId": uid,
        "userIdIncludingInactive": uid,
        "createdAt": iso(T0 - timedelta(days=400)),
        "updatedAt": iso(T0 - timedelta(days=10)),
        "archived": archived,
        "teams": [{"id": "4545", "name": "Benelux", "primary": True}],
    }


def stage(sid: str, label: str, order: int, prob: float, closed: bool) -> dict[str, Any]:
    return {
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": "true" if closed else "false", "probability": str(prob)},
        "id": sid,
        "createdAt": iso(T0 - timedelta(days=500)),
        "updatedAt": iso(T0 - timedelta(days=500)),
        "archived": False,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def portal() -> FakeHubSpot:
    """Two reps (one archived), two companies, three contacts, four deals, activities."""
    hs = FakeHubSpot()
    hs.owners = [
        owner("101", 9001, "Anna", "Jansen"),
        owner("102", 9002, "Bram", "de Vries"),
        owner("103", 9003, "Cees", "Bakker", archived=True),
    ]
    hs.pipelines = [
        {
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "id": "default",
            "stages": [
                stage("closedwon", "Closed Won", 5, 1.0, True),
                stage("appointmentscheduled", "Appointment Scheduled", 0, 0.2, False),
                stage("qualifiedtobuy", "Qualified To Buy", 1, 0.4, False),
                stage("contractsent", "Contract Sent", 4, 0.9, False),
                stage("closedlost", "Closed Lost", 6, 0.0, True),
            ],
            "createdAt": iso(T0 - timedelta(days=500)),
            "updatedAt": iso(T0 - timedelta(days=500)),
            "archived": False,
        }
    ]
    hs.dispositions = [
        {"id": "f240bbac-87c9-4f6e-bf70-924b57d47db7", "label": "Connected"},
        {"id": "73a0d17f-1163-4015-bdd5-ec830791da20", "label": "No answer"},
    ]
    h = timedelta(hours=1)
    d = timedelta(days=1)
    m = "hs_lastmodifieddate"
    for cid, name, mod in (("501", "Acme BV", T0), ("502", "Globex NV", T0 + h)):
        hs.put(
            "companies",
            record(
                cid,
                {
                    "name": name,
                    "industry": "MACHINERY",
                    "country": "Netherlands",
                    "numberofemployees": "120",
                    "hubspot_owner_id": "101",
                },
                T0 - 60 * d,
                mod,
                mod=m,
            ),
        )
    contacts = (
        ("201", "Dirk", "Smit", "501", "101", "ORGANIC_SEARCH", T0 - 20 * d),
        ("202", "Eva", "Mulder", "502", "102", "REFERRALS", T0 - 15 * d),
        ("203", "Fleur", "Visser", "501", "103", "OFFLINE", T0 - 12 * d),
    )
    for cid, first, last, comp, own, src, created in contacts:
        hs.put(
            "contacts",
            record(
                cid,
                {
                    "firstname": first,
                    "lastname": last,
                    "associatedcompanyid": comp,
                    "hubspot_owner_id": own,
                    "hs_analytics_source": src,
                    "jobtitle": "Buyer",
                    "hs_lifecyclestage_salesqualifiedlead_date": iso(created + 2 * d),
                },
                created,
                created + 3 * d,
                mod="lastmodifieddate",
            ),
        )
        hs.link("contacts", "companies", cid, comp)
    deals = (
        # id, contact, company, owner, amount, stage path [(stage, day)], close day
        (
            "301",
            "201",
            "501",
            "101",
            10_000,
            [("appointmentscheduled", 0), ("contractsent", 5), ("closedwon", 9)],
            9,
        ),
        ("302", "202", "502", "102", 4_000, [("appointmentscheduled", 0), ("closedlost", 6)], 6),
        (
            "303",
            "203",
            "501",
            "101",
            2_500,
            [("appointmentscheduled", 0), ("qualifiedtobuy", 3), ("closedwon", 8)],
            8,
        ),
        (
            "304",
            "201",
            "501",
            "102",
            7_000,
            [("appointmentscheduled", 0), ("qualifiedtobuy", 2)],
            30,
        ),
    )
    for did, contact, comp, own, amount, path, close in deals:
        created = T0 - 10 * d
        last_stage = path[-1][0]
        closedate = created + close * d
        hs.put(
            "deals",
            record(
                did,
                {
                    "dealname": f"Deal {did}",
                    "pipeline": "default",
                    "dealstage": last_stage,
                    "amount": amount,
                    "deal_currency_code": "EUR",
                    "hubspot_owner_id": own,
                    "closedate": iso(closedate),
                    "closed_lost_reason": "Price" if last_stage == "closedlost" else None,
                },
                created,
                created + (path[-1][1]) * d + h,
                mod=m,
            ),
        )
        hs.history[did] = {
            "dealstage": [
                version(s, created + k * d, 9001 if own == "101" else 9002) for s, k in path
            ],
            "amount": [
                version(amount * 0.8, created, 9001),
                version(amount, created + 2 * d, 9002),
            ],
            "closedate": [
                version(iso(created + 20 * d), created),
                version(iso(closedate), created + 4 * d),
            ],
            "hs_deal_stage_probability": [version(0.2, created)],
        }
        hs.link("deals", "contacts", did, contact)
        hs.link("deals", "companies", did, comp)
    acts = (
        # obj, id, props, contact, deal
        (
            "calls",
            "701",
            {
                "hs_call_title": "Intro",
                "hs_call_direction": "OUTBOUND",
                "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
            },
            "201",
            "301",
            2 * d + 5 * h,
        ),
        (
            "calls",
            "702",
            {
                "hs_call_title": "Try",
                "hs_call_direction": "OUTBOUND",
                "hs_call_disposition": "73a0d17f-1163-4015-bdd5-ec830791da20",
            },
            "202",
            None,
            2 * d + 26 * h,
        ),
        (
            "emails",
            "711",
            {"hs_email_subject": "Offer", "hs_email_direction": "EMAIL"},
            "203",
            "303",
            2 * d + 2 * h,
        ),
        (
            "emails",
            "712",
            {"hs_email_subject": "Re: Offer", "hs_email_direction": "INCOMING_EMAIL"},
            "203",
            "303",
            3 * d,
        ),
        (
            "meetings",
            "721",
            {"hs_meeting_title": "Demo", "hs_meeting_outcome": "COMPLETED"},
            "201",
            "301",
            4 * d,
        ),
        (
            "tasks",
            "731",
            {"hs_task_subject": "Send contract", "hs_task_status": "COMPLETED"},
            "201",
            "301",
            5 * d,
        ),
    )
    owner_of = {c[0]: c[4] for c in contacts}
    created_of = {c[0]: c[6] for c in contacts}
    for obj, aid, props, contact, deal, offset in acts:
        at = created_of[contact] + offset
        p = {
            **props,
            "hs_timestamp": iso(at),
            "hubspot_owner_id": owner_of[contact],
            "hs_createdate": iso(at),
        }
        if obj == "meetings":
            p["hs_meeting_start_time"] = iso(at)
        if obj == "tasks":
            p["hs_task_completion_date"] = iso(at + 2 * h)
        hs.put(obj, record(aid, p, at, at + h, mod=m))
        hs.link(obj, "contacts", aid, contact)
        if deal:
            hs.link(obj, "deals", aid, deal)
    return hs


def bulk_companies(hs: FakeHubSpot, n: int, start: datetime, step: timedelta) -> Iterable[str]:
    """``n`` more companies, modified one ``step`` apart (for the search-cap tests)."""
    ids = []
    for i in range(n):
        rid = str(10_000 + i)
        at = start + i * step
        hs.put(
            "companies",
            record(rid, {"name": f"Company {i}"}, at, at, mod="hs_lastmodifieddate"),
        )
        ids.append(rid)
    return ids
