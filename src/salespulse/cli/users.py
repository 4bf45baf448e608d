"""``salespulse users …``: who may log in to the web app, their roles and API tokens;
``salespulse audit``: the audit log.

Passwords come from a prompt (not echoed) or ``--password-stdin``; without either, a password
is generated and printed once. Tokens are printed once at creation and stored hashed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from salespulse.auth import audit
from salespulse.auth.users import User, Users, generate_password
from salespulse.cli.common import DbOption, console
from salespulse.warehouse.store import Store, connect

users_app = typer.Typer(help="Users of the web app: add, list, roles, passwords, API tokens.")
token_app = typer.Typer(help="API tokens (Authorization: Bearer …) for the HTTP API.")
users_app.add_typer(token_app, name="token")

UserArg = Annotated[str, typer.Argument(help="User name.")]
RoleOption = Annotated[str, typer.Option("--role", help="admin, manager or rep.")]
RepOption = Annotated[str | None, typer.Option("--rep", help="The rep id of a user with role rep.")]
TeamsOption = Annotated[
    str | None,
    typer.Option("--teams", help="Team ids a manager manages, comma-separated (default: all)."),
]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
PromptOption = Annotated[bool, typer.Option("--prompt", help="Ask for the password (not echoed).")]


def _store(db: str | None) -> Store:
    return connect(db, create=False)


def _password(stdin: bool, prompt: bool) -> tuple[str, bool]:
    """``(password, generated)``."""
    if stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if prompt:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False
    return generate_password(), True


def _teams(teams: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (teams or "").split(",") if t.strip())


def _show_password(user: str, password: str) -> None:
    console.print(
        f"Password for [bold]{user}[/bold] (shown once): {password}", highlight=False, markup=True
    )


@users_app.command("add")
def add(
    username: UserArg,
    role: RoleOption = "rep",
    rep: RepOption = None,
    teams: TeamsOption = None,
    password_stdin: StdinOption = False,
    prompt: PromptOption = False,
    db: DbOption = None,
) -> None:
    """Add a user (a generated password is printed once unless you give one)."""
    store = _store(db)
    try:
        password, generated = _password(password_stdin, prompt)
        user = Users(store).add(username, password, role, rep, _teams(teams))
    finally:
        store.close()
    console.print(f"Added {user.username} ({user.role}).", highlight=False)
    if generated:
        _show_password(user.username, password)


def _row(u: User) -> tuple[str, str, str, str]:
    return (
        u.username,
        u.role,
        u.rep_id or "",
        ",".join(u.team_ids) or ("all" if u.role == "manager" else ""),
    )


@users_app.command("list")
def list_(db: DbOption = None) -> None:
    """List the users with their roles."""
    store = _store(db)
    try:
        found = Users(store).all()
    finally:
        store.close()
    grid = Table("user", "role", "rep", "teams")
    for u in found:
        grid.add_row(*_row(u))
    console.print(grid)


@users_app.command("set-role")
def set_role(
    username: UserArg,
    role: RoleOption,
    rep: RepOption = None,
    teams: TeamsOption = None,
    db: DbOption = None,
) -> None:
    """Change a user's role (and the rep or teams it is linked to)."""
    store = _store(db)
    try:
        user = Users(store).set_role(username, role, rep, _teams(teams))
    finally:
        store.close()
    console.print(f"{user.username} is now {user.role}.", highlight=False)


@users_app.command("remove")
def remove(username: UserArg, db: DbOption = None) -> None:
    """Remove a user, their sessions and their API tokens."""
    store = _store(db)
    try:
        Users(store).remove(username)
    finally:
        store.close()
    console.print(f"Removed {username}.", highlight=False)


@users_app.command("reset-password")
def reset_password(
    username: UserArg,
    password_stdin: StdinOption = False,
    prompt: PromptOption = False,
    db: DbOption = None,
) -> None:
    """Set a new password (generated unless given); the user's sessions end."""
    store = _store(db)
    try:
        password, generated = _password(password_stdin, prompt)
        Users(store).reset_password(username, password)
    finally:
        store.close()
    console.print(f"New password set for {username}; their sessions ended.", highlight=False)
    if generated:
        _show_password(username, password)


@token_app.command("create")
def token_create(
    username: UserArg,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    db: DbOption = None,
) -> None:
    """Create an API token for a user (printed once; it acts with the user's role)."""
    store = _store(db)
    try:
        token_id, token = Users(store).create_token(username, name)
    finally:
        store.close()
    console.print(f"Token {token_id} for {username} (shown once):", highlight=False)
    typer.echo(token)


@token_app.command("list")
def token_list(
    username: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    db: DbOption = None,
) -> None:
    """List API tokens (ids, owners, state — never the tokens themselves)."""
    store = _store(db)
    try:
        found = Users(store).tokens(username)
    finally:
        store.close()
    grid = Table("id", "user", "name", "created (UTC)", "state")
    for t in found:
        state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}" if t["revoked_at"] else "valid"
        grid.add_row(
            t["token_id"],
            t["username"],
            t["name"] or "",
            f"{t['created_at']:%Y-%m-%d %H:%M}",
            state,
        )
    console.print(grid)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (see `users token list`).")],
    db: DbOption = None,
) -> None:
    """Revoke an API token: it stops working at once."""
    store = _store(db)
    try:
        Users(store).revoke_token(token_id)
    finally:
        store.close()
    console.print(f"Revoked token {token_id}.", highlight=False)


def audit_cmd(
    limit: Annotated[int, typer.Option("--limit", help="Events shown (newest first).")] = 50,
    event: Annotated[
        str | None, typer.Option("--event", help="Only events starting with this, e.g. login.")
    ] = None,
    db: DbOption = None,
) -> None:
    """The audit log: logins, logouts, user and token changes, imports."""
    store = _store(db)
    try:
        found = audit.entries(store, limit, event)
    finally:
        store.close()
    grid = Table("at (UTC)", "event", "actor", "subject", "ip", "detail")
    for e in found:
        grid.add_row(
            f"{e['at']:%Y-%m-%d %H:%M:%S}",
            e["event"],
            e["actor"] or "",
            e["subject"] or "",
            e["ip"] or "",
            e["detail"] or "",
        )
    console.print(grid)


users_app.command("audit")(audit_cmd)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("audit")(audit_cmd)
