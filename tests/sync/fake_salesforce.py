"""A fake Salesforce org behind ``httpx.MockTransport``, answering like the documented APIs.

Shapes follow the REST API and Bulk API 2.0 developer guides: the OAuth token response
(``access_token``, ``instance_url``, ``id``, ``token_type``, ``issued_at``, ``signature``) and
its errors (``error``, ``error_description``); ``query`` / ``queryAll`` results
(``totalSize``, ``done``, ``nextRecordsUrl``, ``records[].attributes``); REST errors as a list
of ``{"message", "errorCode"}``; ``describe`` (``fields[].name``); query jobs (``state``
UploadComplete → InProgress → JobComplete) and CSV results paged with ``Sforce-Locator``
(``null`` on the last page) and ``Sforce-NumberOfRecords``. Date-times are
``2026-03-02T09:00:00.000+0000`` in JSON and ``…Z`` in bulk CSV, as Salesforce sends them.

A small SOQL subset is understood: ``SELECT f, … | COUNT() FROM Obj [WHERE c AND …]`` with
``Field >= datetime``, ``Field = true``, ``Field = 'text'`` and ``Field IN ('a', …)``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx2 as httpx

BASE = "https://acme.my.salesforce.test"
V = "/services/data/v62.0"
CLIENT_ID = "3MVG9fakeConsumerKey"
CLIENT_SECRET = "F00DCAFE1234567890SECRET"
ACCESS = "00D5e000000FAKE!AQ8AQJvTokenThatMustNeverBePrinted"
T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, UTC


def sf_time(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+0000", v):
        return v.replace("+0000", "Z")
    return str(v)


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00").replace("+0000", "+00:00")).replace(
        tzinfo=None
    )


@dataclass
class FakeSalesforce:
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 3  # query: records per page, so that nextRecordsUrl is exercised
    bulk_page: int | None = None  # Bulk results per page (None: as maxRecords asks)
    unreadable: set[str] = field(default_factory=set)
    api_disabled: bool = False
    throttle: set[int] = field(default_factory=set)
    unavailable: set[int] = field(default_factory=set)
    drop_after: int | None = None
    calls: list[str] = field(default_factory=list)
    soql: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seq: int = 0

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put(self, obj: str, rid: str, modified: datetime, **values: Any) -> dict[str, Any]:
        rec = {
            "Id": rid,
            "IsDeleted": False,
            "SystemModstamp": sf_time(modified),
            **{
                k: (
                    sf_time(v)
                    if isinstance(v, datetime)
                    else v.isoformat()
                    if isinstance(v, date)
                    else v
                )
                for k, v in values.items()
            },
        }
        rec.setdefault("CreatedDate", sf_time(modified))
        self.records.setdefault(obj, {})[rid] = rec
        return rec

    def delete(self, obj: str, rid: str, at: datetime) -> None:
        self.records[obj][rid].update(IsDeleted=True, SystemModstamp=sf_time(at))

    # -- answering -------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        n = len(self.calls) + 1
        self.calls.append(f"{request.method} {request.url.path}")
        if self.drop_after is not None and n > self.drop_after:
            raise httpx.ConnectError("connection refused", request=request)
        if n in self.throttle:  # Salesforce answers 503 / 429 with Retry-After under load
            return httpx.Response(
                429,
                headers={"Retry-After": "2"},
                json=[{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            )
        if n in self.unavailable:
            return httpx.Response(503, text="Service Unavailable")
        path = request.url.path
        if path == "/services/oauth2/token":
            return self.token(request)
        if request.headers.get("authorization") != f"Bearer {ACCESS}":
            return httpx.Response(
                401,
                json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            )
        if self.api_disabled:
            return httpx.Response(
                403,
                json=[
                    {
                        "message": "The REST API is not enabled for this Organization.",
                        "errorCode": "API_DISABLED_FOR_ORG",
                    }
                ],
            )
        q = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        m = re.fullmatch(rf"{V}/sobjects/(\w+)/describe", path)
        if m:
            return self.describe(m.group(1))
        if path in (f"{V}/query", f"{V}/queryAll"):
            return self.query(q["q"], all_rows=path.endswith("queryAll"))
        m = re.fullmatch(rf"{V}/query/(\S+)", path)
        if m:
            return self.more(m.group(1))
        if path == f"{V}/jobs/query" and request.method == "POST":
            import json

            return self.create_job(json.loads(request.content))
        m = re.fullmatch(rf"{V}/jobs/query/(\w+)", path)
        if m:
            return self.job(m.group(1))
        m = re.fullmatch(rf"{V}/jobs/query/(\w+)/results", path)
        if m:
            return self.results(m.group(1), q)
        return httpx.Response(
            404,
            json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
        )

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return httpx.Response(
                400,
                json={"error": "invalid_client", "error_description": "invalid client credentials"},
            )
        if form.get("grant_type") == "password" and form.get("password") != "hunter2TOKEN":
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "authentication failure"}
            )
        return httpx.Response(
            200,
            json={
                "access_token": ACCESS,
                "instance_url": BASE,
                "id": "https://login.salesforce.com/id/00D5e000000FAKE/0055e000001ABCD",
                "token_type": "Bearer",
                "issued_at": "1772442000000",
                "signature": "Dh5K1J6tGQ4Y0r2v2Zp0u1p9o8VfakeSIGNATURE=",
            },
        )

    def describe(self, obj: str) -> httpx.Response:
        if obj in self.unreadable:
            return httpx.Response(
                404,
                json=[
                    {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
                ],
            )
        names = {"Id", "IsDeleted", "SystemModstamp", "CreatedDate"}
        for r in self.records.get(obj, {}).values():
            names |= set(r)
        return httpx.Response(
            200,
            json={
                "name": obj,
                "queryable": True,
                "fields": [{"name": n, "type": "string"} for n in sorted(names)],
            },
        )

    # -- SOQL ------------------------------------------------------------------------
    def select(
        self, soql: str, all_rows: bool
    ) -> tuple[list[str] | None, list[dict[str, Any]], str]:
        self.soql.append(soql)
        m = re.fullmatch(r"SELECT (.+?) FROM (\w+)(?: WHERE (.+))?", soql)
        assert m, soql
        cols = None if m.group(1) == "COUNT()" else [c.strip() for c in m.group(1).split(",")]
        obj = m.group(2)
        rows = [r for r in self.records.get(obj, {}).values() if all_rows or not r["IsDeleted"]]
        for cond in (m.group(3) or "").split(" AND ") if m.group(3) else []:
            if c := re.fullmatch(r"(\w+) >= (\S+)", cond):
                lo = parse_time(c.group(2))
                rows = [r for r in rows if r.get(c.group(1)) and parse_time(r[c.group(1)]) >= lo]
            elif c := re.fullmatch(r"(\w+) = (true|false)", cond):
                rows = [r for r in rows if r.get(c.group(1)) is (c.group(2) == "true")]
            elif c := re.fullmatch(r"(\w+) = '([^']*)'", cond):
                rows = [r for r in rows if r.get(c.group(1)) == c.group(2)]
            elif c := re.fullmatch(r"(\w+) IN \((.*)\)", cond):
                wanted = set(re.findall(r"'([^']*)'", c.group(2)))
                rows = [r for r in rows if r.get(c.group(1)) in wanted]
            else:
                raise AssertionError(f"unsupported SOQL condition {cond!r}")
        for col in cols or []:
            assert col in self.describe_names(obj), f"{obj}.{col} does not exist"
        return cols, rows, obj

    def describe_names(self, obj: str) -> set[str]:
        names = {"Id", "IsDeleted", "SystemModstamp", "CreatedDate"}
        for r in self.records.get(obj, {}).values():
            names |= set(r)
        return names

    def shape(self, obj: str, cols: list[str], r: dict[str, Any]) -> dict[str, Any]:
        return {
            "attributes": {"type": obj, "url": f"{V}/sobjects/{obj}/{r['Id']}"},
            **{c: r.get(c) for c in cols},
        }

    def query(self, soql: str, all_rows: bool) -> httpx.Response:
        cols, rows, obj = self.select(soql, all_rows)
        if cols is None:
            return httpx.Response(200, json={"totalSize": len(rows), "done": True, "records": []})
        out = [self.shape(obj, cols, r) for r in rows]
        return self.page(out, len(out))

    def page(self, out: list[dict[str, Any]], total: int) -> httpx.Response:
        head, rest = out[: self.page_size], out[self.page_size :]
        body: dict[str, Any] = {"totalSize": total, "done": not rest, "records": head}
        if rest:
            self.seq += 1
            key = f"01gRO0000016PIAYA{self.seq}-{self.page_size}"
            self.cursors[key] = rest
            body["nextRecordsUrl"] = f"{V}/query/{key}"
        return httpx.Response(200, json=body)

    def more(self, key: str) -> httpx.Response:
        rest = self.cursors.pop(key)
        return self.page(rest, len(rest))

    # -- Bulk API 2.0 ----------------------------------------------------------------
    def create_job(self, body: dict[str, Any]) -> httpx.Response:
        assert body["operation"] in ("query", "queryAll")
        cols, rows, obj = self.select(body["query"], body["operation"] == "queryAll")
        assert cols is not None
        self.seq += 1
        jid = f"750R0000000zlh{self.seq:04d}"
        self.jobs[jid] = {"cols": cols, "rows": rows, "polls": 0, "object": obj}
        return httpx.Response(200, json=self.job_info(jid, "UploadComplete"))

    def job_info(self, jid: str, state: str) -> dict[str, Any]:
        j = self.jobs[jid]
        return {
            "id": jid,
            "operation": "query",
            "object": j["object"],
            "createdById": "0055e000001ABCD",
            "createdDate": sf_time(T0),
            "systemModstamp": sf_time(T0),
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 62.0,
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
            **(
                {"numberRecordsProcessed": len(j["rows"]), "retries": 0, "totalProcessingTime": 334}
                if state == "JobComplete"
                else {}
            ),
        }

    def job(self, jid: str) -> httpx.Response:
        j = self.jobs[jid]
        j["polls"] += 1
        return httpx.Response(
            200, json=self.job_info(jid, "InProgress" if j["polls"] < 2 else "JobComplete")
        )

    def results(self, jid: str, q: dict[str, str]) -> httpx.Response:
        j = self.jobs[jid]
        if j["polls"] < 2:
            return httpx.Response(
                412, json=[{"errorCode": "JOB_NOT_COMPLETE", "message": "not done"}]
            )
        start = int(q.get("locator") or 0)
        size = min(int(q.get("maxRecords") or 10**9), self.bulk_page or 10**9)
        chunk = j["rows"][start : start + size]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
        w.writerow(j["cols"])
        for r in chunk:
            w.writerow([csv_value(r.get(c)) for c in j["cols"]])
        nxt = str(start + size) if start + size < len(j["rows"]) else "null"
        return httpx.Response(
            200,
            text=buf.getvalue(),
            headers={
                "Content-Type": "text/csv",
                "Sforce-Locator": nxt,
                "Sforce-NumberOfRecords": str(len(chunk)),
            },
        )


def org() -> FakeSalesforce:
    """Two users, two accounts, three leads (one converted), three opportunities, history,
    a call, an e-mail and a meeting."""
    sf = FakeSalesforce()
    d, h = timedelta(days=1), timedelta(hours=1)
    sf.put(
        "User",
        "0055e000001ABCD",
        T0 - 90 * d,
        Name="Integration User",
        FirstName="Integration",
        LastName="User",
        Email="int@example.com",
        ManagerId=None,
        Division=None,
        IsActive=True,
    )
    sf.put(
        "User",
        "0055e000002EFGH",
        T0 - 90 * d,
        Name="Ria de Boer",
        FirstName="Ria",
        LastName="de Boer",
        Email="ria@example.com",
        ManagerId="0055e000001ABCD",
        Division="North",
        IsActive=True,
    )
    for sid, label, order, prob, closed, won in (
        ("Prospecting", "Prospecting", 1, 10, False, False),
        ("Qualification", "Qualification", 2, 10, False, False),
        ("Proposal/Price Quote", "Proposal/Price Quote", 7, 75, False, False),
        ("Closed Won", "Closed Won", 9, 100, True, True),
        ("Closed Lost", "Closed Lost", 10, 0, True, False),
    ):
        sf.put(
            "OpportunityStage",
            f"01J5e00000{order:05d}",
            T0 - 300 * d,
            ApiName=sid,
            MasterLabel=label,
            IsActive=True,
            IsClosed=closed,
            IsWon=won,
            DefaultProbability=prob,
            SortOrder=order,
        )
    for aid, name in (("0015e00000ACME1", "Acme GmbH"), ("0015e00000GLOB2", "Globex AG")):
        sf.put(
            "Account",
            aid,
            T0 - 60 * d,
            Name=name,
            Industry="Manufacturing",
            BillingCountry="Germany",
            NumberOfEmployees=250,
            AnnualRevenue=1.5e7,
            OwnerId="0055e000002EFGH",
            CreatedDate=T0 - 60 * d,
        )
    created = T0 - 20 * d
    sf.put(
        "Lead",
        "00Q5e00000LEAD1",
        created + 6 * d,
        FirstName="Jan",
        LastName="Kowalski",
        Company="Acme GmbH",
        ConvertedAccountId="0015e00000ACME1",
        ConvertedOpportunityId="0065e00000OPP01",
        OwnerId="0055e000002EFGH",
        Title="CTO",
        Industry="Manufacturing",
        NumberOfEmployees=250,
        CreatedDate=created,
        ConvertedDate=(created + 5 * d).date(),
        LeadSource="Trade Show",
    )
    sf.put(
        "Lead",
        "00Q5e00000LEAD2",
        created + d,
        FirstName="Mia",
        LastName="Novak",
        Company="Initech",
        ConvertedAccountId=None,
        ConvertedOpportunityId=None,
        OwnerId="00G5e000000QUEUE",
        Title=None,
        Industry=None,
        NumberOfEmployees=None,
        CreatedDate=created,
        ConvertedDate=None,
        LeadSource="Web",
    )
    sf.put(
        "Lead",
        "00Q5e00000LEAD3",
        created + d,
        FirstName="Ola",
        LastName="Berg",
        Company="Hooli",
        ConvertedAccountId=None,
        ConvertedOpportunityId=None,
        OwnerId="0055e000002EFGH",
        Title=None,
        Industry=None,
        NumberOfEmployees=None,
        CreatedDate=created,
        ConvertedDate=None,
        LeadSource="Partner Referral",
    )
    opps = (
        # id, account, amount, final stage, closed, won, close date (days after created)
        ("0065e00000OPP01", "0015e00000ACME1", 20_000, "Closed Won", True, True, 12),
        ("0065e00000OPP02", "0015e00000GLOB2", 8_000, "Closed Lost", True, False, 10),
        ("0065e00000OPP03", "0015e00000ACME1", 5_000, "Qualification", False, False, 40),
    )
    ocreated = created + 5 * d
    for n, (oid, acc, amount, stage, closed, won, close) in enumerate(opps, start=1):
        sf.put(
            "Opportunity",
            oid,
            ocreated + close * d + h,
            Name=f"Opp {n}",
            AccountId=acc,
            OwnerId="0055e000002EFGH",
            StageName=stage,
            Amount=amount,
            CurrencyIsoCode="EUR",
            CreatedDate=ocreated,
            CloseDate=(ocreated + close * d).date(),
            IsClosed=closed,
            IsWon=won,
            LastModifiedDate=ocreated + close * d + h,
        )
        path = [("Prospecting", 0, amount * 0.5, 10), ("Prospecting", 2, amount, 10)]
        if stage != "Qualification":
            path.append((stage, close, amount, 100 if won else 0))
        else:
            path.append(("Qualification", 3, amount, 10))
        for k, (s, day_, amt, prob) in enumerate(path):
            at = ocreated + day_ * d
            sf.put(
                "OpportunityHistory",
                f"0085e0000H{n}{k:04d}",
                at,
                OpportunityId=oid,
                StageName=s,
                Amount=amt,
                CurrencyIsoCode="EUR",
                CloseDate=(ocreated + close * d).date(),
                Probability=prob,
                CreatedDate=at,
                CreatedById="0055e000002EFGH",
            )
    sf.put(
        "OpportunityFieldHistory",
        "0175e00000FH001",
        ocreated + 2 * d,
        OpportunityId="0065e00000OPP01",
        Field="Amount",
        NewValue="20000",
        CreatedDate=ocreated + 2 * d,
        CreatedById="0055e000002EFGH",
    )
    sql_at = datetime.combine((created + 5 * d).date(), datetime.min.time())
    sf.put(
        "Task",
        "00T5e00000TASK1",
        sql_at + 3 * h,
        OwnerId="0055e000002EFGH",
        WhoId="00Q5e00000LEAD1",
        WhatId=None,
        Subject="Call",
        TaskSubtype="Call",
        CallType="Outbound",
        Status="Completed",
        ActivityDate=(sql_at + 3 * h).date(),
        CreatedDate=sql_at + 3 * h,
        CompletedDateTime=sql_at + 3 * h,
        LastModifiedDate=sql_at + 3 * h,
    )
    sf.put(
        "Task",
        "00T5e00000TASK2",
        sql_at + 30 * h,
        OwnerId="0055e000002EFGH",
        WhoId=None,
        WhatId="0065e00000OPP01",
        Subject="Proposal",
        TaskSubtype="Email",
        CallType=None,
        Status="Completed",
        ActivityDate=None,
        CreatedDate=sql_at + 30 * h,
        CompletedDateTime=sql_at + 30 * h,
        LastModifiedDate=sql_at + 30 * h,
    )
    sf.put(
        "Event",
        "00U5e00000EVNT1",
        sql_at + 50 * h,
        OwnerId="0055e000002EFGH",
        WhoId=None,
        WhatId="0065e00000OPP01",
        Subject="Demo",
        StartDateTime=sql_at + 50 * h,
        CreatedDate=sql_at + 40 * h,
    )
    return sf
