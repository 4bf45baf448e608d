"""Users, sessions, API tokens and the audit log on DuckDB and on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from salespulse.auth import audit
from salespulse.auth.sql import rows
from salespulse.auth.users import Users, hash_secret
from salespulse.errors import UserError
from salespulse.warehouse.store import Store, connect, utcnow


@pytest.mark.slow
def test_users_sessions_tokens(store: Store) -> None:
    users = Users(store)
    users.add("Admin", "a-long-password", "admin")
    users.add("boss", "another-password", "manager")
    assert [u.username for u in users.all()] == ["admin", "boss"]
    stored = rows(store, "SELECT password_hash FROM users WHERE username = 'admin'")[0][0]
    assert stored.startswith("$argon2id$") and "a-long-password" not in stored
    with pytest.raises(UserError, match="already exists"):
        users.add("admin", "a-long-password", "admin")
    with pytest.raises(UserError, match="at least"):
        users.add("short", "short", "admin")
    with pytest.raises(UserError, match="needs --rep"):
        users.add("r", "a-long-password", "rep")

    assert users.authenticate("admin", "wrong-password", "1.2.3.4") is None
    user = users.authenticate("ADMIN", "a-long-password", "1.2.3.4")
    assert user is not None and user.role == "admin"

    secret, csrf = users.start_session(user)
    assert rows(store, "SELECT count(*) FROM sessions WHERE session_hash = ?", (secret,)) == [(0,)]
    found = users.session(secret)
    assert found is not None and found[0].username == "admin" and found[1] == csrf
    rows(
        store,
        "UPDATE sessions SET expires_at = ? WHERE session_hash = ?",
        (utcnow() - timedelta(seconds=1), hash_secret(secret)),
    )
    assert users.session(secret) is None  # expired

    token_id, token = users.create_token("boss", "excel")
    assert users.token_user(token).username == "boss"  # type: ignore[union-attr]
    assert rows(store, "SELECT count(*) FROM api_tokens WHERE token_hash = ?", (token,)) == [(0,)]
    users.revoke_token(token_id)
    assert users.token_user(token) is None
    assert users.tokens("boss")[0]["revoked_at"] is not None

    users.reset_password("admin", "a-new-password")
    assert users.authenticate("admin", "a-long-password") is None
    assert users.authenticate("admin", "a-new-password") is not None
    users.remove("boss")
    assert users.get("boss") is None

    events = [e["event"] for e in audit.entries(store, 100)]
    for e in ("user.add", "login.failure", "login.success", "token.create", "token.revoke"):
        assert e in events, e
    assert {"user.reset_password", "user.remove"} <= set(events)


def test_a_duckdb_files_auth_tables_are_its_owners_alone(tmp_path: Path) -> None:
    store = connect(tmp_path / "sales.duckdb")
    try:
        Users(store).add("ann", "a-long-password", "admin")
    finally:
        store.close()
    side = tmp_path / "sales.duckdb.auth.sqlite3"
    assert side.stat().st_mode & 0o777 == 0o600
    assert b"a-long-password" not in side.read_bytes()


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "salespulse.cli.app", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


@pytest.mark.slow
def test_users_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "u.duckdb")
    connect(db).close()
    r = _cli("users", "add", "ann", "--role", "admin", "--db", db)
    assert r.returncode == 0, r.stderr
    password = r.stdout.split("(shown once): ")[1].split()[0]
    assert len(password) >= 10
    r = _cli(
        "users",
        "add",
        "bo",
        "--role",
        "manager",
        "--password-stdin",
        "--db",
        db,
        stdin="secret-from-stdin\n",
    )
    assert r.returncode == 0 and "secret-from-stdin" not in r.stdout + r.stderr
    r = _cli("users", "add", "cy", "--role", "rep", "--db", db)
    assert r.returncode == 2 and r.stderr.count("\n") <= 2 and "Traceback" not in r.stderr
    assert "needs --rep" in r.stderr
    listed = _cli("users", "list", "--db", db).stdout
    assert "ann" in listed and "manager" in listed
    r = _cli("users", "token", "create", "bo", "--name", "bot", "--db", db)
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("sp_")
    listed = _cli("users", "token", "list", "--db", db).stdout
    assert "bot" in listed and token not in listed
    store = connect(db)
    try:
        users = Users(store)
        assert users.authenticate("ann", password) is not None
        assert users.authenticate("bo", "secret-from-stdin") is not None
        token_id = users.tokens("bo")[0]["token_id"]
    finally:
        store.close()
    assert _cli("users", "token", "revoke", token_id, "--db", db).returncode == 0
    assert _cli("users", "set-role", "bo", "--role", "admin", "--db", db).returncode == 0
    assert _cli("users", "remove", "bo", "--db", db).returncode == 0
    log = _cli("audit", "--db", db, "--limit", "50").stdout
    for e in ("user.add", "token.create", "token.revoke", "user.set_role", "user.remove"):
        assert e in log, e


def test_demo_creates_an_admin_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from salespulse.cli.demo import _demo_admin

    store = connect(tmp_path / "d.duckdb")
    try:
        _demo_admin(store)
        out = capsys.readouterr().out
        password = out.split("password ")[1].split()[0]
        assert Users(store).authenticate("admin", password) is not None
        _demo_admin(store)  # a second start keeps the users as they are
        assert "users list" in capsys.readouterr().out
        assert len(Users(store).all()) == 1
    finally:
        store.close()


@pytest.mark.slow
def test_concurrent_logins_take_turns(tmp_path: Path) -> None:
    """Logins run on worker threads in the web app: concurrent wrong passwords of one user
    from one address still stop at the limit; concurrent right ones all get in."""
    from concurrent.futures import ThreadPoolExecutor

    from salespulse.auth.users import MAX_FAILURES, LockedOut

    store = connect(tmp_path / "t.duckdb")
    users = Users(store)
    users.add("boss", "the-right-password", "manager")

    def attempt(password: str) -> str:
        try:
            return "in" if users.authenticate("boss", password, "1.2.3.4") else "wrong"
        except LockedOut:
            return "locked"

    with ThreadPoolExecutor(12) as pool:
        right = list(pool.map(attempt, ["the-right-password"] * 12))
        wrong = list(pool.map(attempt, ["wrong-password"] * 12))
    store.close()
    assert right == ["in"] * 12
    assert wrong.count("wrong") == MAX_FAILURES and wrong.count("locked") == 12 - MAX_FAILURES
