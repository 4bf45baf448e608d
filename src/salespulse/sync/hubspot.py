"""HubSpot live sync: CRM v3 records → canonical rows (the same mapping as the hubspot preset).

What is read (private-app token, ``Authorization: Bearer``):

* owners (``/crm/v3/owners``, active and archived) → reps, their teams → teams;
* deal pipelines and stages (``/crm/v3/pipelines/deals``) → pipelines, stages;
* companies → accounts, contacts → leads, deals → deals, calls / e-mails / meetings / tasks →
  activities, each through the search endpoint (``POST /crm/v3/objects/{type}/search``)
  filtered on the last-modified property ≥ the stored cursor and sorted ascending;
* for changed deals, ``batch/read`` with ``propertiesWithHistory`` (dealstage, amount,
  closedate, hs_deal_stage_probability) → deal_stage_history and deal_field_history;
* associations (``/crm/v4/associations/{from}/{to}/batch/read``): deals → companies and
  contacts, activities → contacts, deals and companies (of several, the lowest id);
* archived records (``?archived=true``) → removed (see :mod:`salespulse.sync.loader`).

The search endpoint returns at most 10,000 results per query. When a window reaches that
cap, the lower bound moves to the last modification time seen and paging starts again;
records seen twice at the boundary are kept once.

Ids are HubSpot's record ids (owners: owner ids). Timestamps are UTC. A deal is closed when
its stage is a closed stage of its pipeline (``metadata.isClosed``); it is won when that
stage's probability is 1. ``closedate`` is the expected close date while open and the
close time once closed, as in the file preset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

from salespulse.errors import UserError
from salespulse.sync import loader, state
from salespulse.sync.http import ApiClient
from salespulse.sync.spool import Spool
from salespulse.sync.spool import path_for as spool_path
from salespulse.warehouse.store import Store, connect, utcnow

SOURCE = "hubspot"
BASE_URL = "https://api.hubapi.com"
TOKEN_ENV = "SALESPULSE_HUBSPOT_TOKEN"
SEARCH_CAP = 10_000  # results one search query can page through
SEARCH_PAGE = 200  # the search endpoint's maximum page size
HISTORY_PAGE = 50  # batch/read with propertiesWithHistory
ASSOC_PAGE = 100
#: Each run re-reads this much before the cursor: a record saved just before the last run
#: may reach the search index after it, with an older modification time (upserts make the
#: overlap harmless).
LOOKBACK_MS = 5 * 60 * 1000

#: Object type → the property that holds its last modification time.
MODIFIED = {"contacts": "lastmodifieddate"}
ACTIVITY_TYPES = {"calls": "call", "emails": "email", "meetings": "meeting", "tasks": "task"}

PROPERTIES: dict[str, list[str]] = {
    "companies": [
        "name",
        "domain",
        "industry",
        "country",
        "numberofemployees",
        "annualrevenue",
        "hubspot_owner_id",
        "createdate",
        "hs_lastmodifieddate",
    ],
    "contacts": [
        "firstname",
        "lastname",
        "company",
        "associatedcompanyid",
        "hubspot_owner_id",
        "hubspot_owner_assigneddate",
        "jobtitle",
        "industry",
        "createdate",
        "lastmodifieddate",
        "hs_analytics_source",
        "hs_lifecyclestage_marketingqualifiedlead_date",
        "hs_lifecyclestage_salesqualifiedlead_date",
    ],
    "deals": [
        "dealname",
        "pipeline",
        "dealstage",
        "amount",
        "deal_currency_code",
        "createdate",
        "closedate",
        "closed_lost_reason",
        "hubspot_owner_id",
        "hs_lastmodifieddate",
    ],
    "calls": ["hs_call_title", "hs_call_direction", "hs_call_disposition"],
    "emails": ["hs_email_subject", "hs_email_direction"],
    "meetings": ["hs_meeting_title", "hs_meeting_outcome", "hs_meeting_start_time"],
    "tasks": ["hs_task_subject", "hs_task_status", "hs_task_completion_date"],
}
ACTIVITY_COMMON = ["hs_timestamp", "hubspot_owner_id", "hs_createdate", "hs_lastmodifieddate"]
HISTORY = ["dealstage", "amount", "closedate", "hs_deal_stage_probability"]

#: ``hs_analytics_source`` → channel (the preset maps the same sources by their labels).
CHANNELS = {
    "ORGANIC_SEARCH": "web_form",
    "DIRECT_TRAFFIC": "web_form",
    "PAID_SEARCH": "web_form",
    "SOCIAL_MEDIA": "web_form",
    "PAID_SOCIAL": "web_form",
    "EMAIL_MARKETING": "email",
    "REFERRALS": "referral",
    "OFFLINE": "trade_fair",
    "OTHER_CAMPAIGNS": "outbound",
}
#: Call outcome labels (``/calling/v1/dispositions``) → outcome, as in the preset.
CALL_OUTCOMES = {
    "connected": "connected",
    "no answer": "no_answer",
    "left voicemail": "voicemail",
    "left live message": "voicemail",
    "busy": "no_answer",
}
#: HubSpot's default call dispositions (used when the portal's list cannot be read).
DEFAULT_DISPOSITIONS = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message",
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
}
EMAIL_DIRECTIONS = {"EMAIL": "outbound", "INCOMING_EMAIL": "inbound", "FORWARDED_EMAIL": "outbound"}
MEETING_OUTCOMES = {"COMPLETED": "held", "NO_SHOW": "no_show"}

#: The scope a request needs, by the first path segment after the API version.
SCOPES = {
    "owners": "crm.objects.owners.read",
    "pipelines": "crm.objects.deals.read",
    "deals": "crm.objects.deals.read",
    "companies": "crm.objects.companies.read",
    "contacts": "crm.objects.contacts.read",
    "calls": "crm.objects.contacts.read",
    "meetings": "crm.objects.contacts.read",
    "tasks": "crm.objects.contacts.read",
    "emails": "sales-email-read",
}

Progress = Callable[[str, int, int], None]


def _noop(step: str, done: int, total: int) -> None:
    return None


# -- values -------------------------------------------------------------------------------
def ts(value: Any) -> datetime | None:
    """A HubSpot date-time (ISO 8601 or epoch milliseconds) as naive UTC."""
    if value is None or value == "":
        return None
    s = str(value)
    if s.isdigit():
        return datetime.fromtimestamp(int(s) / 1000, UTC).replace(tzinfo=None)
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"HubSpot sent {s!r} where a date-time was expected") from None
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
    except ValueError:
        return None


def integer(value: Any) -> int | None:
    n = num(value)
    return int(n) if n is not None else None


def text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def iso(d: datetime) -> str:
    return d.isoformat(timespec="milliseconds") + "Z"


def millis(cursor: str) -> int:
    d = ts(cursor)
    assert d is not None
    return int(d.replace(tzinfo=UTC).timestamp() * 1000)


def explain_403(r: httpx.Response) -> str:
    """The scope a 403 names (``requiredGranularScopes`` / ``missingScopes``), else by path."""
    scopes: list[str] = []
    try:
        body = r.json()
    except ValueError:
        body = {}
    if isinstance(body, dict):
        contexts = [body.get("context") or {}]
        contexts += [
            e.get("context") or {} for e in body.get("errors") or [] if isinstance(e, dict)
        ]
        for c in contexts:
            if isinstance(c, dict):
                for key in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
                    scopes += [str(s) for s in c.get(key) or []]
    if not scopes:
        parts = [p for p in r.request.url.path.split("/") if p]
        for p in parts:
            if p in SCOPES:
                scopes = [SCOPES[p]]
                break
    if not scopes:
        return "a permission"
    return f"the {' / '.join(dict.fromkeys(scopes))} scope"


# -- the client ---------------------------------------------------------------------------
def read_token(token_file: Path | None) -> str:
    """The private-app token: ``--token-file`` if given, else ``$SALESPULSE_HUBSPOT_TOKEN``."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"cannot read the token file {token_file}: {exc.strerror}") from None
        if not token:
            raise UserError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UserError(
            "no HubSpot token",
            hint=f"set {TOKEN_ENV} or pass --token-file FILE (see docs/sync.md)",
        )
    return token


def client(
    token: str,
    base_url: str = BASE_URL,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ApiClient:
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return ApiClient(
        "HubSpot",
        base_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        secrets=(token,),
        transport=transport,
        explain_403=explain_403,
        **kwargs,
    )


class Fetcher:
    """Reads one HubSpot portal into a :class:`loader.Batch`."""

    def __init__(
        self, api: ApiClient, cursors: dict[str, str], progress: Progress, *, deletions: bool
    ) -> None:
        self.api = api
        self.cursors = cursors
        self.deletions = deletions  # False on the first sync: nothing stored to delete yet
        self.progress = progress
        self.batch = loader.Batch(SOURCE)
        self.user_to_owner: dict[str, str] = {}
        self.stages: dict[str, dict[str, Any]] = {}

    # -- paging helpers --------------------------------------------------------------
    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """GET list endpoint results, following ``paging.next.after``."""
        after: str | None = None
        while True:
            p = dict(params)
            if after is not None:
                p["after"] = after
            body = self.api.get_json(path, p)
            yield from body.get("results") or []
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def search(self, obj: str, properties: list[str]) -> list[dict[str, Any]]:
        """Records of ``obj`` modified at or after the cursor, oldest first (10,000 cap)."""
        prop = MODIFIED.get(obj, "hs_lastmodifieddate")
        lower = max(millis(self.cursors[obj]) - LOOKBACK_MS, 0) if obj in self.cursors else 0
        seen: dict[str, dict[str, Any]] = {}
        last: str | None = self.cursors.get(obj)
        after = 0
        while True:
            body = self.api.post_json(
                f"/crm/v3/objects/{obj}/search",
                {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": prop, "operator": "GTE", "value": str(lower)}
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                    "properties": properties,
                    "limit": SEARCH_PAGE,
                    "after": after,
                },
            )
            for r in body.get("results") or []:
                seen[str(r["id"])] = r
                mod = (r.get("properties") or {}).get(prop) or r.get("updatedAt")
                if mod:
                    last = iso(ts(mod))  # type: ignore[arg-type]
            self.progress(f"hubspot {obj}", len(seen), max(int(body.get("total") or 0), len(seen)))
            nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                break
            after = int(nxt)
            if after + SEARCH_PAGE > SEARCH_CAP:  # the next page is past the cap: narrow
                assert last is not None
                new_lower = millis(last)
                if new_lower <= lower:
                    raise UserError(
                        f"more than {SEARCH_CAP:,} HubSpot {obj} were modified at {last}; "
                        "the search endpoint cannot page through them"
                    )
                lower, after = new_lower, 0
        if last is not None:
            self.batch.cursors[obj] = last
        return list(seen.values())

    def archived(self, obj: str) -> list[str]:
        """Ids of archived (deleted) records of ``obj`` (only after a first sync)."""
        if not self.deletions:
            return []
        params = {"archived": "true", "limit": 100}
        return [str(r["id"]) for r in self.pages(f"/crm/v3/objects/{obj}", params)]

    def associations(self, src: str, dst: str, ids: list[str]) -> dict[str, str]:
        """The first associated ``dst`` id per ``src`` id (lowest id, for a stable choice)."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), ASSOC_PAGE):
            inputs = [{"id": x} for x in ids[i : i + ASSOC_PAGE]]
            while inputs:
                body = self.api.post_json(
                    f"/crm/v4/associations/{src}/{dst}/batch/read", {"inputs": inputs}
                )
                more = []
                for r in body.get("results") or []:
                    frm = str((r.get("from") or {}).get("id"))
                    to = sorted(
                        (str(t["toObjectId"]) for t in r.get("to") or []),
                        key=lambda v: (len(v), v),
                    )
                    if to:
                        best = (
                            min([to[0], out[frm]], key=lambda v: (len(v), v))
                            if frm in out
                            else to[0]
                        )
                        out[frm] = best
                    nxt = ((r.get("paging") or {}).get("next") or {}).get("after")
                    if nxt:
                        more.append({"id": frm, "after": nxt})
                inputs = more
        return out

    # -- objects -----------------------------------------------------------------------
    def owners(self) -> None:
        reps: list[dict[str, Any]] = []
        teams: dict[str, dict[str, Any]] = {}
        for archived in ("false", "true"):
            for o in self.pages("/crm/v3/owners", {"limit": 100, "archived": archived}):
                oid = str(o["id"])
                if o.get("userId") is not None:
                    self.user_to_owner[str(o["userId"])] = oid
                name = " ".join(x for x in (o.get("firstName"), o.get("lastName")) if x)
                team = next((t for t in o.get("teams") or [] if t.get("primary")), None)
                team = team or next(iter(o.get("teams") or []), None)
                if team:
                    teams[str(team["id"])] = {
                        "team_id": str(team["id"]),
                        "name": team.get("name") or str(team["id"]),
                    }
                reps.append(
                    {
                        "rep_id": oid,
                        "name": name or o.get("email") or oid,
                        "email": text(o.get("email")),
                        "team_id": str(team["id"]) if team else None,
                    }
                )
        self.progress("hubspot owners", len(reps), len(reps))
        self.batch.add("teams", teams.values())
        self.batch.add("reps", reps)

    def pipelines(self) -> None:
        body = self.api.get_json("/crm/v3/pipelines/deals")
        pipelines, stages = [], []
        for p in body.get("results") or []:
            pipelines.append({"pipeline_id": str(p["id"]), "name": p.get("label") or str(p["id"])})
            ordered = sorted(
                p.get("stages") or [],
                key=lambda s: (
                    str((s.get("metadata") or {}).get("isClosed")).lower() == "true",
                    int(s.get("displayOrder") or 0),
                ),
            )
            for i, s in enumerate(ordered, start=1):
                meta = s.get("metadata") or {}
                closed = str(meta.get("isClosed")).lower() == "true"
                prob = num(meta.get("probability"))
                row = {
                    "stage_id": str(s["id"]),
                    "pipeline_id": str(p["id"]),
                    "name": s.get("label") or str(s["id"]),
                    "stage_order": i,
                    "probability": prob,
                    "is_closed": closed,
                    "is_won": closed and prob == 1.0,
                }
                self.stages[str(s["id"])] = row
                stages.append(row)
        self.progress("hubspot pipelines", len(pipelines), len(pipelines))
        self.batch.add("pipelines", pipelines)
        self.batch.add("stages", stages)

    def companies(self) -> None:
        rows = []
        for r in self.search("companies", PROPERTIES["companies"]):
            p = r.get("properties") or {}
            rows.append(
                {
                    "account_id": str(r["id"]),
                    "name": text(p.get("name")) or text(p.get("domain")) or f"Company {r['id']}",
                    "industry": text(p.get("industry")),
                    "country": text(p.get("country")),
                    "employees": integer(p.get("numberofemployees")),
                    "annual_revenue": num(p.get("annualrevenue")),
                    "owner_rep_id": text(p.get("hubspot_owner_id")),
                    "created_at": ts(p.get("createdate")) or ts(r.get("createdAt")),
                }
            )
        self.batch.add("accounts", rows)
        self.batch.delete("accounts", self.archived("companies"))

    def contacts(self) -> None:
        rows = []
        for r in self.search("contacts", PROPERTIES["contacts"]):
            p = r.get("properties") or {}
            name = " ".join(x for x in (text(p.get("firstname")), text(p.get("lastname"))) if x)
            rows.append(
                {
                    "lead_id": str(r["id"]),
                    "name": name or None,
                    "company": text(p.get("company")),
                    "account_id": text(p.get("associatedcompanyid")),
                    "channel": CHANNELS.get(str(p.get("hs_analytics_source") or "")),
                    "owner_rep_id": text(p.get("hubspot_owner_id")),
                    "job_title": text(p.get("jobtitle")),
                    "industry": text(p.get("industry")),
                    "created_at": ts(p.get("createdate")) or ts(r.get("createdAt")),
                    "assigned_at": ts(p.get("hubspot_owner_assigneddate")),
                    "mql_at": ts(p.get("hs_lifecyclestage_marketingqualifiedlead_date")),
                    "sql_at": ts(p.get("hs_lifecyclestage_salesqualifiedlead_date")),
                }
            )
        self.batch.add("leads", rows)
        self.batch.delete("leads", self.archived("contacts"))

    def deals(self) -> None:
        found = self.search("deals", PROPERTIES["deals"])
        ids = [str(r["id"]) for r in found]
        history = self.histories(ids)
        companies = self.associations("deals", "companies", ids)
        contacts = self.associations("deals", "contacts", ids)
        rows = []
        for r in found:
            did = str(r["id"])
            p = r.get("properties") or {}
            stage = self.stages.get(str(p.get("dealstage")))
            closed = bool(stage and stage["is_closed"])
            close = ts(p.get("closedate"))
            rows.append(
                {
                    "deal_id": did,
                    "name": text(p.get("dealname")),
                    "account_id": companies.get(did),
                    "lead_id": contacts.get(did),
                    "owner_rep_id": text(p.get("hubspot_owner_id")),
                    "pipeline_id": text(p.get("pipeline")),
                    "stage_id": text(p.get("dealstage")),
                    "amount": num(p.get("amount")),
                    "currency": text(p.get("deal_currency_code")),
                    "created_at": ts(p.get("createdate")) or ts(r.get("createdAt")),
                    "expected_close_on": close.date() if close else None,
                    "closed_at": close if closed else None,
                    "outcome": ("won" if stage and stage["is_won"] else "lost") if closed else None,
                    "lost_reason": text(p.get("closed_lost_reason")) if closed else None,
                    "updated_at": ts(p.get("hs_lastmodifieddate")) or ts(r.get("updatedAt")),
                }
            )
            self.deal_history(did, history.get(did) or {}, text(p.get("deal_currency_code")))
        self.batch.add("deals", rows)
        self.batch.delete("deals", self.archived("deals"))

    def histories(self, ids: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for i in range(0, len(ids), HISTORY_PAGE):
            body = self.api.post_json(
                "/crm/v3/objects/deals/batch/read",
                {
                    "inputs": [{"id": x} for x in ids[i : i + HISTORY_PAGE]],
                    "properties": ["dealstage"],
                    "propertiesWithHistory": HISTORY,
                },
            )
            for r in body.get("results") or []:
                out[str(r["id"])] = r.get("propertiesWithHistory") or {}
            self.progress("hubspot deal history", min(i + HISTORY_PAGE, len(ids)), len(ids))
        return out

    def _who(self, version: dict[str, Any]) -> str | None:
        user = version.get("updatedByUserId")
        return self.user_to_owner.get(str(user)) if user is not None else None

    def deal_history(
        self, deal_id: str, history: dict[str, list[dict[str, Any]]], currency: str | None
    ) -> None:
        """Stage entries and amount / close-date / probability changes of one deal."""
        stage_rows = []
        for v in history.get("dealstage") or []:
            at = ts(v.get("timestamp"))
            if at is None or not v.get("value"):
                continue
            stage_rows.append(
                {
                    "deal_id": deal_id,
                    "stage_id": str(v["value"]),
                    "entered_at": at,
                    "changed_by_rep_id": self._who(v),
                }
            )
        self.batch.add("deal_stage_history", stage_rows)
        changes: dict[datetime, dict[str, Any]] = {}
        for prop in ("amount", "closedate", "hs_deal_stage_probability"):
            for v in history.get(prop) or []:
                at = ts(v.get("timestamp"))
                if at is None:
                    continue
                c = changes.setdefault(at, {"_who": None})
                c[prop] = v.get("value")
                c["_who"] = c["_who"] or self._who(v)
        current: dict[str, Any] = {}
        rows = []
        for at in sorted(changes):
            c = changes[at]
            current.update({k: v for k, v in c.items() if k != "_who"})
            rows.append(
                {
                    "deal_id": deal_id,
                    "changed_at": at,
                    "amount": num(current.get("amount")),
                    "currency": currency if current.get("amount") not in (None, "") else None,
                    "expected_close_on": day(current.get("closedate")),
                    "probability": num(current.get("hs_deal_stage_probability")),
                    "changed_by_rep_id": c["_who"],
                }
            )
        self.batch.add("deal_field_history", rows)

    def dispositions(self) -> dict[str, str]:
        r = self.api.request("GET", "/calling/v1/dispositions", ok=(403, 404))
        if r.status_code >= 300:
            return dict(DEFAULT_DISPOSITIONS)
        return {str(d["id"]): str(d.get("label") or "") for d in r.json()}

    def activities(self) -> None:
        labels = self.dispositions()
        for obj, kind in ACTIVITY_TYPES.items():
            found = self.search(obj, ACTIVITY_COMMON + PROPERTIES[obj])
            ids = [str(r["id"]) for r in found]
            contacts = self.associations(obj, "contacts", ids)
            deals = self.associations(obj, "deals", ids)
            companies = self.associations(obj, "companies", ids)
            rows = []
            for r in found:
                aid = str(r["id"])
                p = r.get("properties") or {}
                row: dict[str, Any] = {
                    "activity_id": aid,
                    "activity_type": kind,
                    "rep_id": text(p.get("hubspot_owner_id")),
                    "lead_id": contacts.get(aid),
                    "deal_id": deals.get(aid),
                    "account_id": companies.get(aid),
                    "occurred_at": ts(p.get("hs_timestamp")) or ts(r.get("createdAt")),
                }
                if kind == "call":
                    d = str(p.get("hs_call_direction") or "").lower()
                    row["direction"] = d if d in ("inbound", "outbound") else None
                    label = labels.get(str(p.get("hs_call_disposition") or ""), "")
                    row["outcome"] = CALL_OUTCOMES.get(label.strip().lower())
                    row["subject"] = text(p.get("hs_call_title"))
                elif kind == "email":
                    row["direction"] = EMAIL_DIRECTIONS.get(str(p.get("hs_email_direction") or ""))
                    row["subject"] = text(p.get("hs_email_subject"))
                elif kind == "meeting":
                    row["outcome"] = MEETING_OUTCOMES.get(str(p.get("hs_meeting_outcome") or ""))
                    row["subject"] = text(p.get("hs_meeting_title"))
                    row["occurred_at"] = ts(p.get("hs_meeting_start_time")) or row["occurred_at"]
                else:  # task: hs_timestamp is its due date
                    row["occurred_at"] = ts(p.get("hs_createdate")) or ts(r.get("createdAt"))
                    row["due_at"] = ts(p.get("hs_timestamp"))
                    done = str(p.get("hs_task_status") or "") == "COMPLETED"
                    row["completed_at"] = (
                        ts(p.get("hs_task_completion_date")) or ts(p.get("hs_lastmodifieddate"))
                        if done
                        else None
                    )
                    row["subject"] = text(p.get("hs_task_subject"))
                rows.append(row)
            self.batch.add("activities", rows)
            self.batch.delete("activities", self.archived(obj))

    def run(self) -> loader.Batch:
        self.owners()
        self.pipelines()
        self.companies()
        self.contacts()
        self.deals()
        self.activities()
        return self.batch


def sync(
    db: str | Path | None = None,
    *,
    token: str,
    base_url: str = BASE_URL,
    full: bool = False,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    progress: Progress | None = None,
) -> loader.SyncResult:
    """Bring the database up to date with a HubSpot portal (see the module docstring)."""
    progress = progress or _noop
    started = utcnow()
    store: Store = connect(db)
    api = client(token, base_url, transport=transport, sleep=sleep)
    try:
        stored = state.read(store, SOURCE)
        cursors = {} if full else stored
        api.spool = Spool(
            spool_path(SOURCE, store.location), {"base_url": api.base_url, "cursors": cursors}
        )
        batch = Fetcher(api, cursors, progress, deletions=bool(stored)).run()
        result = loader.commit(
            store,
            batch,
            label=f"sync hubspot {httpx.URL(api.base_url).netloc.decode()}",
            started=started,
            progress=progress,
        )
        result.requests = api.requests
        result.replayed = api.spool.replayed
        api.spool.remove()
        api.spool = None
        return result
    finally:
        if api.spool is not None:
            api.spool.close()
        api.close()
        store.close()
