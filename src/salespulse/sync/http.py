"""A small JSON-over-HTTP client for CRM APIs: retries, rate limits, clear errors.

* 429 (rate limited): waits ``Retry-After`` seconds (or an HTTP date) when the server says,
  else backs off exponentially; 5xx and dropped connections/time-outs: exponential backoff.
  At most ``retries`` retries per request, then a :class:`UserError`.
* 401 → "the token was refused", 403 → "lacks a permission" (the API module names which
  one), no connection → "cannot reach <host>". Each is one line, exit code 2 at the CLI.
* The token never appears in a message: every error text is passed through :meth:`redact`.

``sleep`` and ``transport`` are injectable so that tests run offline and without waiting.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx

from salespulse.errors import UserError
from salespulse.sync.spool import Spool

#: ``(response) -> str``: what permission a 403 is about ("the crm.objects.deals.read scope").
Explain = Callable[[httpx.Response], str]

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiClient:
    """One authenticated API (``service`` names it in messages, e.g. "HubSpot")."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 5,
        backoff: float = 1.0,
        max_wait: float = 120.0,
        timeout: float = 60.0,
        explain_403: Explain | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.secrets = tuple(s for s in secrets if s)
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.explain_403 = explain_403
        self.requests = 0  # sent, retries included (for progress and tests)
        self.spool: Spool | None = None
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers or {},
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
        )

    def set_header(self, name: str, value: str) -> None:
        self._http.headers[name] = value

    def add_secret(self, secret: str) -> None:
        if secret:
            self.secrets = (*self.secrets, secret)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def close(self) -> None:
        self._http.close()

    # -- requests ----------------------------------------------------------------------
    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, params=params, json=body).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
        spool: bool = True,
    ) -> httpx.Response:
        """Send with retries; a non-2xx answer (not in ``ok``) becomes a :class:`UserError`.

        With a :attr:`spool`, an answer kept by an earlier, unfinished run of the same sync is
        replayed instead (``spool=False``: never, e.g. for sign-in requests).
        """
        attempt = 0
        req = self._http.build_request(
            method, path, params=params, json=json, data=data, headers=headers
        )
        if spool and self.spool is not None:
            cached = self.spool.get(req)
            if cached is not None:
                return cached
        while True:
            self.requests += 1
            try:
                r = self._http.send(req)
            except httpx.TimeoutException as exc:
                if attempt >= self.retries:
                    raise UserError(
                        f"{self.service} did not answer in time ({type(exc).__name__}) after "
                        f"{attempt + 1} tries",
                        hint="try again later; nothing was written",
                    ) from None
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    host = httpx.URL(self.base_url).host or self.base_url
                    raise UserError(
                        f"cannot reach {self.service} at {host}: "
                        f"{self.redact(str(exc)) or type(exc).__name__}",
                        hint="check the network connection and --base-url; nothing was written",
                    ) from None
            else:
                if r.status_code < 300 or r.status_code in ok:
                    if spool and self.spool is not None and r.status_code < 300:
                        r.read()
                        self.spool.put(req, r)
                    return r
                if r.status_code not in RETRY_STATUS or attempt >= self.retries:
                    if self.spool is not None and r.status_code not in (401, 403, *RETRY_STATUS):
                        self.spool.discard()  # e.g. an expired paging locator: start afresh
                    raise self.error(r)
                self.sleep(self.wait(r, attempt))
                attempt += 1
                continue
            self.sleep(self._backoff(attempt))
            attempt += 1

    def wait(self, r: httpx.Response, attempt: int) -> float:
        """Seconds to wait before retrying ``r``: ``Retry-After`` if given, else backoff."""
        value = r.headers.get("Retry-After")
        if value:
            try:
                return min(max(float(value), 0.0), self.max_wait)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    when = None
                if when is not None:
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=UTC)
                    delta = (when - datetime.now(UTC)).total_seconds()
                    return min(max(delta, 0.0), self.max_wait)
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff * 2**attempt, self.max_wait))

    def error(self, r: httpx.Response) -> UserError:
        """The one-line error for a failed response (never containing the token)."""
        where = f"{r.request.method} {r.request.url.path}"
        if r.status_code == 401:
            return UserError(
                f"{self.service} refused the credentials (401 Unauthorized on {where})",
                hint="check the token (expired, revoked or mistyped?); nothing was written",
            )
        if r.status_code == 403:
            what = self.explain_403(r) if self.explain_403 else "a permission"
            return UserError(
                self.redact(
                    f"the {self.service} credentials lack {what} (403 Forbidden on {where})"
                ),
                hint=f"grant it to the app in {self.service}, then run the sync again; "
                "nothing was written",
            )
        detail = self.redact(_message(r))[:300]
        return UserError(
            f"{self.service} answered {r.status_code} on {where}"
            + (f": {detail}" if detail else ""),
            hint="nothing was written; try again later or check --base-url",
        )


def _message(r: httpx.Response) -> str:
    """The error message an API put in its JSON body (HubSpot and Salesforce shapes)."""
    try:
        body = r.json()
    except ValueError:
        return r.text.strip().splitlines()[0] if r.text.strip() else ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""
