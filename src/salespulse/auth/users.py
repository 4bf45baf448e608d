"""Users (argon2id password hashes), web sessions, API tokens and the login throttle.

Secrets are never stored: a session cookie and an API token are random 32-byte values of
which only the SHA-256 is kept (``sessions.session_hash``, ``api_tokens.token_hash``);
passwords are kept as argon2id hashes (``argon2-cffi`` defaults). A session lasts
``SESSION_HOURS`` from login. Five failed logins for one user from one address lock that
pair out for ``LOCKOUT_SECONDS`` (counted per server process).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from salespulse.auth import audit
from salespulse.auth.sql import rows
from salespulse.errors import UserError
from salespulse.warehouse.schema import USER_ROLES
from salespulse.warehouse.store import Store, utcnow

SESSION_HOURS = 12
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
FAILURE_WINDOW = 900.0
#: Locks that login attempts take turns on (:meth:`Throttle.turn`).
TURNS = 64
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def hash_secret(secret: str) -> str:
    """SHA-256 (hex) of a random secret (session id, API token): what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    role: str
    rep_id: str | None = None
    team_ids: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> User:
        uid, name, role, rep_id, teams = row[:5]
        return cls(uid, name, role, rep_id, tuple(t for t in (teams or "").split(",") if t))


_USER_COLS = "user_id, username, role, rep_id, team_ids"


class LockedOut(UserError):
    """Too many failed logins for this user from this address."""


class Throttle:
    """Failed logins per (username, address): ``max_failures`` within ``window`` seconds
    lock the pair out for ``lockout`` seconds after the last one."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        lockout: float = LOCKOUT_SECONDS,
        window: float = FAILURE_WINDOW,
    ):
        self.max, self.lockout, self.window = max_failures, lockout, window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()
        self._turns = [threading.Lock() for _ in range(TURNS)]

    def locked_for(self, key: tuple[str, str]) -> float:
        """Seconds the pair is still locked out (0: may try)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._failures.get(key, []) if now - t < self.window]
            self._failures[key] = times
            if len(times) < self.max:
                return 0.0
            left = self.lockout - (now - times[-1])
            if left <= 0:  # served its time: start counting afresh
                self._failures.pop(key, None)
                return 0.0
            return left

    def turn(self, key: tuple[str, str]) -> threading.Lock:
        """Held while one login attempt of the pair is checked: attempts of one pair take
        turns (logins run on worker threads), so concurrent ones cannot pass the limit
        together; other pairs go on in parallel (one of ``TURNS`` locks per pair)."""
        return self._turns[hash(key) % len(self._turns)]

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.setdefault(key, []).append(time.monotonic())

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


class Users:
    """The users of one database (its ``users``, ``sessions`` and ``api_tokens`` tables)."""

    def __init__(self, store: Store, throttle: Throttle | None = None):
        self.store = store
        self.throttle = throttle or Throttle()

    # -- users ------------------------------------------------------------------------
    def get(self, username: str) -> User | None:
        found = rows(
            self.store, f"SELECT {_USER_COLS} FROM users WHERE username = ?", (username.lower(),)
        )
        return User.from_row(found[0]) if found else None

    def by_id(self, user_id: str) -> User | None:
        found = rows(self.store, f"SELECT {_USER_COLS} FROM users WHERE user_id = ?", (user_id,))
        return User.from_row(found[0]) if found else None

    def all(self) -> list[User]:
        return [
            User.from_row(r)
            for r in rows(self.store, f"SELECT {_USER_COLS} FROM users ORDER BY username")
        ]

    def _need(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise UserError(f"no user {username!r}", hint="`salespulse users list` shows them")
        return user

    def _check_scope(self, role: str, rep_id: str | None, team_ids: tuple[str, ...]) -> None:
        if role not in USER_ROLES:
            raise UserError(f"unknown role {role!r}", hint=f"choose from {', '.join(USER_ROLES)}")
        if role == "rep" and not rep_id:
            raise UserError("a user with role rep needs --rep REP_ID (the rep they are)")
        with self.store.reading():  # the CRM tables (a served file is opened per read)
            if rep_id:
                reps = self.store.table("reps")
                if not int(reps.filter(reps.rep_id == rep_id).count().execute()):
                    raise UserError(f"no rep {rep_id!r} in this database")
            for team in team_ids:
                teams = self.store.table("teams")
                if not int(teams.filter(teams.team_id == team).count().execute()):
                    raise UserError(f"no team {team!r} in this database")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")

    def add(
        self,
        username: str,
        password: str,
        role: str,
        rep_id: str | None = None,
        team_ids: tuple[str, ...] = (),
        actor: str | None = None,
    ) -> User:
        name = username.strip().lower()
        if not _USERNAME.match(name):
            raise UserError(
                f"{username!r} is not a valid username",
                hint="use lower-case letters, digits and . _ @ - (at most 64)",
            )
        if self.get(name):
            raise UserError(f"user {name!r} already exists")
        self._check_scope(role, rep_id, team_ids)
        self._check_password(password)
        now = utcnow()
        uid = uuid.uuid4().hex
        rows(
            self.store,
            "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, name, _hasher.hash(password), role, rep_id, ",".join(team_ids) or None, now, now),
        )
        audit.record(self.store, "user.add", actor=actor, subject=name, role=role, rep_id=rep_id)
        return User(uid, name, role, rep_id, team_ids)

    def set_role(
        self,
        username: str,
        role: str,
        rep_id: str | None = None,
        team_ids: tuple[str, ...] = (),
        actor: str | None = None,
    ) -> User:
        user = self._need(username)
        self._check_scope(role, rep_id, team_ids)
        rows(
            self.store,
            "UPDATE users SET role = ?, rep_id = ?, team_ids = ?, updated_at = ? WHERE user_id = ?",
            (role, rep_id, ",".join(team_ids) or None, utcnow(), user.user_id),
        )
        audit.record(
            self.store,
            "user.set_role",
            actor=actor,
            subject=user.username,
            role=role,
            rep_id=rep_id,
        )
        return User(user.user_id, user.username, role, rep_id, team_ids)

    def reset_password(self, username: str, password: str, actor: str | None = None) -> None:
        """A new password; every session of the user ends."""
        user = self._need(username)
        self._check_password(password)
        rows(
            self.store,
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE user_id = ?",
            (_hasher.hash(password), utcnow(), user.user_id),
        )
        rows(self.store, "DELETE FROM sessions WHERE user_id = ?", (user.user_id,))
        audit.record(self.store, "user.reset_password", actor=actor, subject=user.username)

    def remove(self, username: str, actor: str | None = None) -> None:
        """Delete the user with their sessions and tokens."""
        user = self._need(username)
        for table in ("sessions", "api_tokens", "users"):
            rows(self.store, f"DELETE FROM {table} WHERE user_id = ?", (user.user_id,))
        audit.record(self.store, "user.remove", actor=actor, subject=user.username)

    # -- login ------------------------------------------------------------------------
    def authenticate(self, username: str, password: str, ip: str = "") -> User | None:
        """The user if the password is right; None otherwise. Raises :class:`LockedOut`
        while the (username, address) pair is locked out. Every attempt is audited.

        Blocking: the argon2 check costs about 50 ms of CPU, and the audit a write; the
        web app calls it on a worker thread (web/auth.py), never on its event loop."""
        name = username.strip().lower()
        key = (name, ip)
        with self.throttle.turn(key):
            return self._authenticate(name, password, ip, key)

    def _authenticate(self, name: str, password: str, ip: str, key: tuple[str, str]) -> User | None:
        wait = self.throttle.locked_for(key)
        if wait:
            audit.record(self.store, "login.locked", subject=name, ip=ip)
            raise LockedOut(f"too many failed logins: try again in {int(wait) + 1} seconds")
        found = rows(
            self.store,
            f"SELECT {_USER_COLS}, password_hash FROM users WHERE username = ?",
            (name,),
        )
        ok = False
        if found:
            try:
                ok = _hasher.verify(found[0][5], password)
            except (VerificationError, InvalidHashError):
                ok = False
        else:
            _hasher.hash(password)  # same work for unknown users: no timing oracle
        if not ok:
            self.throttle.failed(key)
            audit.record(self.store, "login.failure", subject=name, ip=ip)
            return None
        self.throttle.succeeded(key)
        audit.record(self.store, "login.success", actor=name, subject=name, ip=ip)
        return User.from_row(found[0])

    # -- sessions ---------------------------------------------------------------------
    def start_session(self, user: User) -> tuple[str, str]:
        """A new session: ``(secret for the cookie, CSRF token)``."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        rows(
            self.store,
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (hash_secret(secret), user.user_id, csrf, now, now + timedelta(hours=SESSION_HOURS)),
        )
        rows(self.store, "DELETE FROM sessions WHERE expires_at < ?", (now,))
        return secret, csrf

    def session(self, secret: str) -> tuple[User, str] | None:
        """``(user, CSRF token)`` of a live session; None when unknown or expired."""
        found = rows(
            self.store,
            "SELECT u.user_id, u.username, u.role, u.rep_id, u.team_ids, s.csrf_token, "
            "s.expires_at FROM sessions s JOIN users u ON u.user_id = s.user_id "
            "WHERE s.session_hash = ?",
            (hash_secret(secret),),
        )
        if not found:
            return None
        expires: datetime = found[0][6]
        if expires < utcnow():
            return None
        return User.from_row(found[0]), str(found[0][5])

    def end_session(self, secret: str) -> None:
        rows(self.store, "DELETE FROM sessions WHERE session_hash = ?", (hash_secret(secret),))

    # -- API tokens -------------------------------------------------------------------
    def create_token(
        self, username: str, name: str = "", actor: str | None = None
    ) -> tuple[str, str]:
        """A new API token for ``username``: ``(token id, token)`` — shown once, kept hashed."""
        user = self._need(username)
        token_id, token = uuid.uuid4().hex[:12], "sp_" + secrets.token_urlsafe(32)
        rows(
            self.store,
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, user.user_id, name or None, hash_secret(token), utcnow(), None),
        )
        audit.record(self.store, "token.create", actor=actor, subject=user.username, token=token_id)
        return token_id, token

    def tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE u.username = ?", (username.lower(),)) if username else ("", ())
        found = rows(
            self.store,
            "SELECT t.token_id, u.username, t.name, t.created_at, t.revoked_at FROM api_tokens t "
            f"JOIN users u ON u.user_id = t.user_id {where} ORDER BY t.created_at",
            params,
        )
        keys = ("token_id", "username", "name", "created_at", "revoked_at")
        return [dict(zip(keys, r, strict=True)) for r in found]

    def revoke_token(self, token_id: str, actor: str | None = None) -> None:
        found = rows(
            self.store, "SELECT revoked_at FROM api_tokens WHERE token_id = ?", (token_id,)
        )
        if not found:
            raise UserError(f"no API token {token_id!r}", hint="`salespulse users token list`")
        rows(
            self.store,
            "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            (utcnow(), token_id),
        )
        audit.record(self.store, "token.revoke", actor=actor, subject=token_id)

    def token_user(self, token: str) -> User | None:
        """The owner of a valid (not revoked) token."""
        found = rows(
            self.store,
            f"SELECT {', '.join('u.' + c for c in _USER_COLS.split(', '))} FROM api_tokens t "
            "JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            (hash_secret(token),),
        )
        return User.from_row(found[0]) if found else None
