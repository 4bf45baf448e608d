"""Salesforce live sync: REST / Bulk API 2.0 records → canonical rows (as the salesforce preset).

Sign-in (OAuth 2.0 against ``--base-url``, the login or My Domain URL): the
*client-credentials* flow (connected app key and secret) or the *username-password* flow
(key, secret, user name, password + security token); or a ready access token with its
instance URL. httpx is used directly rather than ``simple-salesforce``: the same retry, rate
limit and error handling as the HubSpot sync, Bulk API 2.0 result paging, and offline tests
with ``MockTransport`` (``simple-salesforce`` is built on ``requests``).

What is read, each object incrementally on ``SystemModstamp`` ≥ the stored cursor
(history objects on ``CreatedDate``; they never change):

* User → reps; Account → accounts; Lead → leads (converted = sales-qualified, as the preset);
* OpportunityStage → stages of one pipeline ("salesforce"), closed stages last;
* Opportunity → deals (``lead_id`` from the lead converted into it);
* OpportunityHistory → deal_stage_history (a row whose stage differs from the deal's
  previous row) and deal_field_history (every row: amount, close date, probability);
* OpportunityFieldHistory → stage entries for deals without OpportunityHistory rows
  (``Field = 'StageName'``);
* Task → activities (``TaskSubtype`` call / e-mail / task), Event → meetings; ``WhoId`` /
  ``WhatId`` link them to leads (00Q…), deals (006…) and accounts (001…).

An object with more changed records than ``bulk_threshold`` is read with a Bulk API 2.0
query job (create, poll, CSV results paged with ``Sforce-Locator``); else with SOQL ``query``
and ``nextRecordsUrl``. Deleted records come from ``queryAll`` with ``IsDeleted = true``.
Only the fields the org has are asked for (``describe``), so single-currency orgs work.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from salespulse.errors import UserError
from salespulse.sync import loader, state
from salespulse.sync.http import ApiClient
from salespulse.sync.spool import Spool
from salespulse.sync.spool import path_for as spool_path
from salespulse.warehouse.store import Store, connect, utcnow

SOURCE = "salesforce"
LOGIN_URL = "https://login.salesforce.com"
API_VERSION = "62.0"
ENV_PREFIX = "SALESPULSE_SALESFORCE_"
BULK_THRESHOLD = 10_000  # changed records above which an object is read with Bulk API 2.0
BULK_PAGE = 50_000  # maxRecords per Bulk API 2.0 results request
BULK_MAX_WAIT = 3600.0  # seconds a bulk query job may take
PIPELINE_ID = "salesforce"
#: Each run re-reads this much before the cursor: a transaction that committed late can carry
#: an older ``SystemModstamp`` than records already read (upserts make the overlap harmless).
LOOKBACK = timedelta(minutes=5)

Progress = Callable[[str, int, int], None]

#: Object → (fields wanted, modification field, canonical table of deletions).
OBJECTS: dict[str, tuple[list[str], str, str | None]] = {
    "User": (
        ["Id", "Name", "FirstName", "LastName", "Email", "ManagerId", "Division", "IsActive"],
        "SystemModstamp",
        None,  # users are deactivated, not deleted
    ),
    "Account": (
        [
            "Id",
            "Name",
            "Industry",
            "BillingCountry",
            "NumberOfEmployees",
            "AnnualRevenue",
            "OwnerId",
            "CreatedDate",
        ],
        "SystemModstamp",
        "accounts",
    ),
    "Lead": (
        [
            "Id",
            "FirstName",
            "LastName",
            "Company",
            "ConvertedAccountId",
            "ConvertedOpportunityId",
            "OwnerId",
            "Title",
            "Industry",
            "NumberOfEmployees",
            "CreatedDate",
            "ConvertedDate",
            "LeadSource",
        ],
        "SystemModstamp",
        "leads",
    ),
    "OpportunityStage": (
        [
            "Id",
            "ApiName",
            "MasterLabel",
            "IsActive",
            "IsClosed",
            "IsWon",
            "DefaultProbability",
            "SortOrder",
        ],
        "SystemModstamp",
        None,
    ),
    "Opportunity": (
        [
            "Id",
            "Name",
            "AccountId",
            "OwnerId",
            "StageName",
            "Amount",
            "CurrencyIsoCode",
            "CreatedDate",
            "CloseDate",
            "IsClosed",
            "IsWon",
            "LastModifiedDate",
        ],
        "SystemModstamp",
        "deals",
    ),
    "OpportunityHistory": (
        [
            "Id",
            "OpportunityId",
            "StageName",
            "Amount",
            "CurrencyIsoCode",
            "CloseDate",
            "Probability",
            "CreatedDate",
            "CreatedById",
        ],
        "CreatedDate",
        None,
    ),
    "OpportunityFieldHistory": (
        ["Id", "OpportunityId", "Field", "NewValue", "CreatedDate", "CreatedById"],
        "CreatedDate",
        None,
    ),
    "Task": (
        [
            "Id",
            "OwnerId",
            "WhoId",
            "WhatId",
            "Subject",
            "TaskSubtype",
            "CallType",
            "Status",
            "ActivityDate",
            "CreatedDate",
            "CompletedDateTime",
            "LastModifiedDate",
        ],
        "SystemModstamp",
        "activities",
    ),
    "Event": (
        ["Id", "OwnerId", "WhoId", "WhatId", "Subject", "StartDateTime", "CreatedDate"],
        "SystemModstamp",
        "activities",
    ),
}

#: ``LeadSource`` → channel, as in the preset.
CHANNELS = {
    "Web": "web_form",
    "Phone Inquiry": "phone",
    "Partner Referral": "referral",
    "Employee Referral": "referral",
    "External Referral": "referral",
    "Purchased List": "outbound",
    "Trade Show": "trade_fair",
    "Word of mouth": "referral",
}
TASK_TYPES = {"Task": "task", "Email": "email", "ListEmail": "email", "Call": "call"}
CALL_TYPES = {"Inbound": "inbound", "Outbound": "outbound"}


def _noop(step: str, done: int, total: int) -> None:
    return None


# -- values -------------------------------------------------------------------------------
def ts(value: Any) -> datetime | None:
    """A Salesforce date-time (``2024-05-01T09:30:00.000+0000`` or ``…Z``) as naive UTC;
    a date (``2024-05-01``) as its midnight."""
    if value is None or value == "":
        return None
    s = str(value).replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise UserError(f"Salesforce sent {value!r} where a date-time was expected") from None
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d


def day(value: Any) -> date | None:
    d = ts(value)
    return d.date() if d is not None else None


def num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def soql_time(cursor: str, lookback: timedelta = timedelta(0)) -> str:
    """A cursor (minus ``lookback``) as a SOQL date-time literal (UTC, unquoted)."""
    d = ts(cursor)
    assert d is not None
    return (d - lookback).isoformat(timespec="milliseconds") + "Z"


def iso(d: datetime) -> str:
    return d.isoformat(timespec="milliseconds") + "Z"


def prefix(value: Any, key: str) -> str | None:
    """``value`` if it is an id of the object whose key prefix is ``key`` (00Q, 006, 001)."""
    s = text(value)
    return s if s is not None and s.startswith(key) else None


# -- credentials --------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """What signing in needs; read from ``SALESPULSE_SALESFORCE_*`` or a token file."""

    client_id: str = ""
    client_secret: str = ""
    username: str = ""
    password: str = ""
    security_token: str = ""
    access_token: str = ""
    instance_url: str = ""

    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s
            for s in (self.client_secret, self.password, self.security_token, self.access_token)
            if s
        )


def read_credentials(token_file: Path | None) -> Credentials:
    """Credentials from ``--token-file`` (``KEY=value`` lines) or the environment.

    Keys: CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, SECURITY_TOKEN, ACCESS_TOKEN,
    INSTANCE_URL (with or without the ``SALESPULSE_SALESFORCE_`` prefix, any case).
    """
    values: dict[str, str] = {}
    if token_file is not None:
        try:
            lines = token_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read the token file {token_file}: {exc.strerror}") from None
        for n, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise UserError(
                    f"{token_file} line {n}: expected KEY=value",
                    hint="e.g. CLIENT_ID=… and CLIENT_SECRET=… (see docs/sync.md)",
                )
            key, value = line.split("=", 1)
            key = key.strip().upper().removeprefix(ENV_PREFIX)
            values[key] = value.strip().strip('"')
    else:
        for f in fields(Credentials):
            v = os.environ.get(ENV_PREFIX + f.name.upper(), "").strip()
            if v:
                values[f.name.upper()] = v
    known = {f.name.upper() for f in fields(Credentials)}
    creds = Credentials(**{k.lower(): v for k, v in values.items() if k in known})
    if not creds.access_token and not (creds.client_id and creds.client_secret):
        where = str(token_file) if token_file is not None else "the environment"
        raise UserError(
            f"no Salesforce credentials in {where}",
            hint=f"set {ENV_PREFIX}CLIENT_ID and {ENV_PREFIX}CLIENT_SECRET (and USERNAME, "
            "PASSWORD, SECURITY_TOKEN for the password flow), or --token-file; see docs/sync.md",
        )
    return creds


def explain_403(r: httpx.Response) -> str:
    """What a Salesforce 403 is about (its ``errorCode``)."""
    try:
        body = r.json()
    except ValueError:
        body = None
    code = body[0].get("errorCode") if isinstance(body, list) and body else None
    if code == "API_DISABLED_FOR_ORG":
        return 'the "API Enabled" permission (API_DISABLED_FOR_ORG)'
    if code == "REQUEST_LIMIT_EXCEEDED":
        return "API requests: the org's daily API request limit is used up (REQUEST_LIMIT_EXCEEDED)"
    if code:
        return f"a permission ({code})"
    return "a permission"


def _api(
    base_url: str,
    secrets: tuple[str, ...],
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None] | None,
) -> ApiClient:
    kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return ApiClient(
        "Salesforce",
        base_url,
        headers={"Accept": "application/json"},
        secrets=secrets,
        transport=transport,
        explain_403=explain_403,
        **kwargs,
    )


def login(api: ApiClient, creds: Credentials) -> tuple[str, str]:
    """(access token, instance URL) via OAuth 2.0, or the given access token."""
    if creds.access_token:
        return creds.access_token, creds.instance_url or api.base_url
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    if creds.username:
        form |= {
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password + creds.security_token,
        }
    else:
        form["grant_type"] = "client_credentials"
    r = api.request("POST", "/services/oauth2/token", data=form, ok=(400, 401), spool=False)
    if r.status_code >= 300:
        try:
            body = r.json()
        except ValueError:
            body = {}
        what = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
        raise UserError(
            api.redact(f"Salesforce refused the credentials ({r.status_code} {what})".strip()),
            hint="check the connected app's key and secret (and the user's password and "
            "security token), and that --base-url is your org's login or My Domain URL",
        )
    body = r.json()
    token = str(body["access_token"])
    api.add_secret(token)
    return token, str(body.get("instance_url") or api.base_url)


# -- fetching -----------------------------------------------------------------------------
class Fetcher:
    """Reads one Salesforce org into a :class:`loader.Batch`."""

    def __init__(
        self,
        api: ApiClient,
        store: Store,
        cursors: dict[str, str],
        progress: Progress,
        *,
        deletions: bool,
        bulk_threshold: int = BULK_THRESHOLD,
        api_version: str = API_VERSION,
        poll: float = 1.0,
    ) -> None:
        self.api = api
        self.store = store
        self.cursors = cursors
        self.progress = progress
        self.deletions = deletions
        self.bulk_threshold = bulk_threshold
        self.root = f"/services/data/v{api_version}"
        self.poll = poll
        self.batch = loader.Batch(SOURCE)
        self._fields: dict[str, set[str]] = {}
        self.currency: dict[str, str | None] = {}  # deal -> its currency (for history rows)

    def fields(self, obj: str) -> set[str]:
        """The fields of ``obj`` this user can read (``describe``)."""
        if obj not in self._fields:
            r = self.api.request("GET", f"{self.root}/sobjects/{obj}/describe", ok=(404,))
            if r.status_code == 404:
                raise UserError(
                    f"the Salesforce user cannot read {obj} (describe answered 404)",
                    hint=f"give the integration user Read access to {obj} (profile or "
                    "permission set), then sync again; nothing was written",
                )
            self._fields[obj] = {str(f["name"]) for f in r.json().get("fields") or []}
        return self._fields[obj]

    def query(self, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
        """SOQL through ``query`` (or ``queryAll``), following ``nextRecordsUrl``."""
        path = f"{self.root}/{'queryAll' if all_rows else 'query'}"
        body = self.api.get_json(path, {"q": soql})
        records = list(body.get("records") or [])
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            body = self.api.get_json(str(body["nextRecordsUrl"]))
            records += body.get("records") or []
        for r in records:
            r.pop("attributes", None)
        return records

    def count(self, soql_from: str) -> int:
        body = self.api.get_json(f"{self.root}/query", {"q": f"SELECT COUNT() {soql_from}"})
        return int(body.get("totalSize") or 0)

    def bulk(self, soql: str, obj: str) -> list[dict[str, Any]]:
        """A Bulk API 2.0 query job: create, wait for JobComplete, read every CSV page."""
        job = self.api.post_json(
            f"{self.root}/jobs/query",
            {
                "operation": "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        jid = str(job["id"])
        wait, waited = self.poll, 0.0
        while job.get("state") not in ("JobComplete", "Failed", "Aborted"):
            if waited > BULK_MAX_WAIT:
                raise UserError(
                    f"the Salesforce bulk query for {obj} (job {jid}) did not finish within "
                    f"{BULK_MAX_WAIT / 60:.0f} minutes",
                    hint="nothing was written; try again later, or raise --bulk-threshold",
                )
            self.api.sleep(wait)
            waited += wait
            wait = min(wait * 2, 30.0)
            job = self.api.get_json(f"{self.root}/jobs/query/{jid}")
        if job["state"] != "JobComplete":
            raise UserError(
                f"the Salesforce bulk query for {obj} ended {job['state']}: "
                f"{job.get('errorMessage') or 'no reason given'}",
                hint="nothing was written; try again later",
            )
        records: list[dict[str, Any]] = []
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": BULK_PAGE}
            if locator:
                params["locator"] = locator
            r = self.api.request("GET", f"{self.root}/jobs/query/{jid}/results", params=params)
            reader = csv.DictReader(io.StringIO(r.text))
            records += [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
            self.progress(
                f"salesforce {obj} (bulk)",
                len(records),
                max(int(job.get("numberRecordsProcessed") or 0), len(records)),
            )
            locator = r.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return records

    def fetch(self, obj: str, where: str = "") -> list[dict[str, Any]]:
        """Records of ``obj`` changed since its cursor; moves the cursor to the newest seen."""
        wanted, mod, _ = OBJECTS[obj]
        have = self.fields(obj)
        cols = [f for f in wanted if f in have]
        if mod not in cols and mod in have:
            cols.append(mod)
        conds = [where] if where else []
        if obj in self.cursors:
            conds.append(f"{mod} >= {soql_time(self.cursors[obj], LOOKBACK)}")
        frm = f"FROM {obj}" + (f" WHERE {' AND '.join(conds)}" if conds else "")
        soql = f"SELECT {', '.join(cols)} {frm}"
        n = self.count(frm)
        records = self.bulk(soql, obj) if n > self.bulk_threshold else self.query(soql)
        self.progress(f"salesforce {obj}", len(records), max(n, len(records)))
        stamps = [d for d in (ts(r.get(mod)) for r in records) if d is not None]
        if stamps:
            self.batch.cursors[obj] = iso(max(stamps))
        elif obj in self.cursors:
            self.batch.cursors[obj] = self.cursors[obj]
        return records

    def deleted(self, obj: str) -> list[str]:
        """Ids of records of ``obj`` deleted since its cursor (``queryAll``, ``IsDeleted``)."""
        if not self.deletions or obj not in self.cursors:
            return []
        soql = (
            f"SELECT Id FROM {obj} WHERE IsDeleted = true AND "
            f"SystemModstamp >= {soql_time(self.cursors[obj], LOOKBACK)}"
        )
        return [str(r["Id"]) for r in self.query(soql, all_rows=True)]

    # -- objects -----------------------------------------------------------------------
    def users(self) -> None:
        rows = []
        for u in self.fetch("User"):
            name = text(u.get("Name")) or " ".join(
                x for x in (text(u.get("FirstName")), text(u.get("LastName"))) if x
            )
            rows.append(
                {
                    "rep_id": str(u["Id"]),
                    "name": name or str(u["Id"]),
                    "email": text(u.get("Email")),
                    "manager_rep_id": text(u.get("ManagerId")),
                    "region": text(u.get("Division")),
                }
            )
        self.batch.add("reps", rows)

    def accounts(self) -> None:
        rows = [
            {
                "account_id": str(a["Id"]),
                "name": text(a.get("Name")) or str(a["Id"]),
                "industry": text(a.get("Industry")),
                "country": text(a.get("BillingCountry")),
                "employees": int(n) if (n := num(a.get("NumberOfEmployees"))) is not None else None,
                "annual_revenue": num(a.get("AnnualRevenue")),
                "owner_rep_id": text(a.get("OwnerId")),
                "created_at": ts(a.get("CreatedDate")),
            }
            for a in self.fetch("Account")
        ]
        self.batch.add("accounts", rows)
        self.batch.delete("accounts", self.deleted("Account"))

    def leads(self) -> None:
        rows = []
        for ld in self.fetch("Lead"):
            name = " ".join(x for x in (text(ld.get("FirstName")), text(ld.get("LastName"))) if x)
            rows.append(
                {
                    "lead_id": str(ld["Id"]),
                    "name": name or None,
                    "company": text(ld.get("Company")),
                    "account_id": text(ld.get("ConvertedAccountId")),
                    "channel": CHANNELS.get(str(ld.get("LeadSource") or "")),
                    "owner_rep_id": prefix(ld.get("OwnerId"), "005"),  # a queue is no rep
                    "job_title": text(ld.get("Title")),
                    "industry": text(ld.get("Industry")),
                    "employees": int(n) if (n := num(ld.get("NumberOfEmployees"))) else None,
                    "created_at": ts(ld.get("CreatedDate")),
                    "sql_at": ts(ld.get("ConvertedDate")),
                }
            )
        self.batch.add("leads", rows)
        self.batch.delete("leads", self.deleted("Lead"))

    def stages(self) -> None:
        found = self.fetch("OpportunityStage")
        if not found:
            return
        self.batch.add("pipelines", [{"pipeline_id": PIPELINE_ID, "name": "Opportunities"}])
        ordered = sorted(
            found, key=lambda s: (flag(s.get("IsClosed")), num(s.get("SortOrder")) or 0)
        )
        rows = []
        for i, s in enumerate(ordered, start=1):
            prob = num(s.get("DefaultProbability"))
            rows.append(
                {
                    "stage_id": str(s.get("ApiName") or s.get("MasterLabel")),
                    "pipeline_id": PIPELINE_ID,
                    "name": str(s.get("MasterLabel") or s.get("ApiName")),
                    "stage_order": i,
                    "probability": prob / 100 if prob is not None else None,
                    "is_closed": flag(s.get("IsClosed")),
                    "is_won": flag(s.get("IsWon")),
                }
            )
        self.batch.add("stages", rows)

    def opportunities(self) -> None:
        found = self.fetch("Opportunity")
        ids = [str(o["Id"]) for o in found]
        converted: dict[str, str] = {}
        for i in range(0, len(ids), 200):
            chunk = ", ".join(f"'{x}'" for x in ids[i : i + 200])
            soql = (
                "SELECT Id, ConvertedOpportunityId FROM Lead "
                f"WHERE ConvertedOpportunityId IN ({chunk})"
            )
            for ld in self.query(soql):
                converted[str(ld["ConvertedOpportunityId"])] = str(ld["Id"])
        rows = []
        for o in found:
            closed = flag(o.get("IsClosed"))
            close = ts(o.get("CloseDate"))
            rows.append(
                {
                    "deal_id": str(o["Id"]),
                    "name": text(o.get("Name")),
                    "account_id": text(o.get("AccountId")),
                    "lead_id": converted.get(str(o["Id"])),
                    "owner_rep_id": text(o.get("OwnerId")),
                    "pipeline_id": PIPELINE_ID,
                    "stage_id": text(o.get("StageName")),
                    "amount": num(o.get("Amount")),
                    "currency": text(o.get("CurrencyIsoCode")),
                    "created_at": ts(o.get("CreatedDate")),
                    "expected_close_on": close.date() if close else None,
                    "closed_at": close if closed else None,
                    "outcome": ("won" if flag(o.get("IsWon")) else "lost") if closed else None,
                    "updated_at": ts(o.get("LastModifiedDate")),
                }
            )
        self.batch.add("deals", rows)
        self.batch.delete("deals", self.deleted("Opportunity"))
        self.currency = {str(r["deal_id"]): text(r["currency"]) for r in rows}

    def history(self) -> None:
        found = self.fetch("OpportunityHistory")
        by_deal: dict[str, list[dict[str, Any]]] = {}
        for h in found:
            by_deal.setdefault(str(h["OpportunityId"]), []).append(h)
        last = self._stored_stages(list(by_deal))
        stage_rows, field_rows = [], []
        for deal, rows in by_deal.items():
            rows.sort(key=lambda h: (ts(h.get("CreatedDate")) or datetime.min, str(h["Id"])))
            first = ts(rows[0].get("CreatedDate"))
            prev = next(
                (s for at, s in reversed(last.get(deal, [])) if first is None or at < first), None
            )
            for h in rows:
                at = ts(h.get("CreatedDate"))
                stage = text(h.get("StageName"))
                if at is None:
                    continue
                if stage and stage != prev:
                    stage_rows.append(
                        {
                            "deal_id": deal,
                            "stage_id": stage,
                            "entered_at": at,
                            "changed_by_rep_id": text(h.get("CreatedById")),
                        }
                    )
                prev = stage or prev
                prob = num(h.get("Probability"))
                amount = num(h.get("Amount"))
                field_rows.append(
                    {
                        "deal_id": deal,
                        "changed_at": at,
                        "amount": amount,
                        "currency": (text(h.get("CurrencyIsoCode")) or self.currency.get(deal))
                        if amount is not None
                        else None,
                        "expected_close_on": day(h.get("CloseDate")),
                        "probability": prob / 100 if prob is not None else None,
                        "changed_by_rep_id": text(h.get("CreatedById")),
                    }
                )
        # deals whose stage path is only in field history tracking
        covered = set(by_deal) | set(last)
        for f in self.fetch("OpportunityFieldHistory", "Field = 'StageName'"):
            deal = str(f["OpportunityId"])
            at = ts(f.get("CreatedDate"))
            if deal in covered or at is None or not text(f.get("NewValue")):
                continue
            stage_rows.append(
                {
                    "deal_id": deal,
                    "stage_id": str(f["NewValue"]),
                    "entered_at": at,
                    "changed_by_rep_id": text(f.get("CreatedById")),
                }
            )
        self.batch.add("deal_stage_history", stage_rows)
        self.batch.add("deal_field_history", field_rows)

    def _stored_stages(self, deals: list[str]) -> dict[str, list[tuple[datetime, str]]]:
        """Stored stage entries of ``deals``, oldest first (to spot real stage changes)."""
        if not deals:
            return {}
        t = self.store.con.table("deal_stage_history")
        rows = (
            t.filter(t.deal_id.isin(deals))
            .select("deal_id", "entered_at", "stage_id")
            .order_by("entered_at")
            .to_pyarrow()
            .to_pylist()
        )
        out: dict[str, list[tuple[datetime, str]]] = {}
        for r in rows:
            out.setdefault(r["deal_id"], []).append((r["entered_at"], r["stage_id"]))
        return out

    def activities(self) -> None:
        rows = []
        for t in self.fetch("Task"):
            done = str(t.get("Status") or "") == "Completed"
            direction = CALL_TYPES.get(str(t.get("CallType") or ""))
            rows.append(
                {
                    "activity_id": str(t["Id"]),
                    "activity_type": TASK_TYPES.get(str(t.get("TaskSubtype") or ""), "task"),
                    "direction": direction,
                    "rep_id": prefix(t.get("OwnerId"), "005"),
                    "lead_id": prefix(t.get("WhoId"), "00Q"),
                    "deal_id": prefix(t.get("WhatId"), "006"),
                    "account_id": prefix(t.get("WhatId"), "001"),
                    "occurred_at": ts(t.get("CreatedDate")),
                    "due_at": ts(t.get("ActivityDate")),
                    "completed_at": (
                        ts(t.get("CompletedDateTime")) or ts(t.get("LastModifiedDate"))
                    )
                    if done
                    else None,
                    "subject": text(t.get("Subject")),
                }
            )
        for e in self.fetch("Event"):
            rows.append(
                {
                    "activity_id": str(e["Id"]),
                    "activity_type": "meeting",
                    "rep_id": prefix(e.get("OwnerId"), "005"),
                    "lead_id": prefix(e.get("WhoId"), "00Q"),
                    "deal_id": prefix(e.get("WhatId"), "006"),
                    "account_id": prefix(e.get("WhatId"), "001"),
                    "occurred_at": ts(e.get("StartDateTime")) or ts(e.get("CreatedDate")),
                    "subject": text(e.get("Subject")),
                }
            )
        self.batch.add("activities", rows)
        self.batch.delete("activities", [*self.deleted("Task"), *self.deleted("Event")])

    def run(self) -> loader.Batch:
        self.users()
        self.accounts()
        self.leads()
        self.stages()
        self.opportunities()
        self.history()
        self.activities()
        return self.batch


def sync(
    db: str | Path | None = None,
    *,
    credentials: Credentials,
    base_url: str = LOGIN_URL,
    full: bool = False,
    bulk_threshold: int = BULK_THRESHOLD,
    api_version: str = API_VERSION,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    progress: Progress | None = None,
) -> loader.SyncResult:
    """Bring the database up to date with a Salesforce org (see the module docstring)."""
    progress = progress or _noop
    started = utcnow()
    store = connect(db)
    auth = _api(base_url, credentials.secrets(), transport, sleep)
    api: ApiClient | None = None
    try:
        token, instance = login(auth, credentials)
        api = _api(instance, (*credentials.secrets(), token), transport, sleep)
        api.set_header("Authorization", f"Bearer {token}")
        stored = state.read(store, SOURCE)
        cursors = {} if full else stored
        spooled = Spool(
            spool_path(SOURCE, store.location),
            {
                "base_url": instance,
                "cursors": cursors,
                "version": api_version,
                "bulk_threshold": bulk_threshold,
            },
        )
        api.spool = spooled
        fetcher = Fetcher(
            api,
            store,
            cursors,
            progress,
            deletions=bool(stored),
            bulk_threshold=bulk_threshold,
            api_version=api_version,
        )
        batch = fetcher.run()
        result = loader.commit(
            store,
            batch,
            label=f"sync salesforce {httpx.URL(instance).netloc.decode()}",
            started=started,
            progress=progress,
        )
        result.requests = auth.requests + api.requests
        result.replayed = spooled.replayed
        spooled.remove()
        api.spool = None
        return result
    finally:
        auth.close()
        if api is not None:
            api.close()
            if api.spool is not None:
                api.spool.close()
        store.close()
