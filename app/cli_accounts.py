"""`users` and `tokens`: accounts managed from the command line.

The command line acts as the system (no actor): the same service functions and rules as the
API (names unique, the last active admin stays, a deactivated user loses every token).
"""

import argparse
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.cli_support import about_database, run_in_session, validated
from app.core.config import Settings
from app.core.db import utcnow
from app.core.migrations import upgrade
from app.users import service as users_service
from app.users.models import ApiToken, Role
from app.users.schemas import UserCreate, UserUpdate

# A command returns what to print once its transaction has committed (a token's secret).
Command = Callable[[AsyncSession, argparse.Namespace, Settings], Awaitable[str | None]]
PAGE = 500


def run_account_command(args: argparse.Namespace, settings: Settings) -> int:
    # Values checked before the database is touched: a mistake changes nothing, not even
    # the SQLite file's schema.
    args.data = _checked_input(args)
    if settings.is_sqlite:
        with about_database(settings.database_url):
            upgrade(settings.database_url)  # the embedded database is ours to keep current
    command = COMMANDS[(args.command, args.action)]
    last = run_in_session(settings, lambda session: command(session, args, settings))
    if last is not None:
        print(last)  # alone on the last line: scripts read it from there
    return 0


def _checked_input(args: argparse.Namespace) -> UserCreate | UserUpdate | None:
    """What `users create|update` asks for, held to the API's rules for the same fields."""
    if (args.command, args.action) == ("users", "create"):
        return validated(
            UserCreate,
            {"name": "--name", "email": "--email", "role": "--role"},
            name=args.name,
            role=args.role,
            email=args.email,
        )
    if (args.command, args.action) == ("users", "update"):
        given = {"role": args.role, "email": args.email, "active": args.active}
        return validated(
            UserUpdate,
            {"role": "--role", "email": "--email", "active": "--active"},
            **{field: value for field, value in given.items() if value is not None},
        )
    return None


async def create_user(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> str:
    user = await users_service.create_user(session, data=args.data)
    print(f"created user {user.name} (id {user.id}, role {user.role}); its token follows")
    return await _issue(session, user_name=user.name, token_name="cli", settings=settings)


async def list_users(session: AsyncSession, args: argparse.Namespace, _: Settings) -> str:
    role = Role(args.role) if args.role else None
    rows: list[Sequence[str]] = [("ID", "NAME", "ROLE", "ACTIVE", "EMAIL")]
    after: int | None = None
    while True:
        users, after = await users_service.list_users(
            session, limit=PAGE, after_id=after, role=role
        )
        rows += [
            (str(u.id), u.name, u.role, "yes" if u.active else "no", u.email or "-") for u in users
        ]
        if after is None:
            return _table(rows)


async def update_user(session: AsyncSession, args: argparse.Namespace, _: Settings) -> str:
    user = await users_service.get_user_by_name(session, name=args.name)
    user = await users_service.update_user(session, user=user, data=args.data, actor=None)
    state = "active" if user.active else "inactive, its tokens revoked"
    return f"updated user {user.name} (id {user.id}, role {user.role}, {state})"


async def create_token(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> str:
    return await _issue(session, user_name=args.user, token_name=args.name, settings=settings)


async def list_tokens(session: AsyncSession, args: argparse.Namespace, _: Settings) -> str:
    user = await users_service.get_user_by_name(session, name=args.user)
    tokens = await users_service.list_tokens(session, user_id=user.id)
    rows: list[Sequence[str]] = [("ID", "NAME", "STATE", "CREATED", "EXPIRES", "LAST USED")]
    now = utcnow()
    rows += [
        (
            str(t.id),
            t.name,
            _state(t, now),
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
        )
        for t in tokens
    ]
    return _table(rows)


async def revoke_token(session: AsyncSession, args: argparse.Namespace, _: Settings) -> str:
    token = await users_service.revoke_token(session, token_id=args.id, actor=None)
    return f"token {token.id} ({token.name!r} of user id {token.user_id}) is revoked"


async def _issue(
    session: AsyncSession, *, user_name: str, token_name: str, settings: Settings
) -> str:
    """A new token's secret."""
    user = await users_service.get_user_by_name(session, name=user_name)
    ttl = timedelta(days=settings.token_ttl_days)
    _, secret = await users_service.create_token(session, user=user, name=token_name, ttl=ttl)
    return secret


def _state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now else "active"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


COMMANDS: dict[tuple[str, str], Command] = {
    ("users", "create"): create_user,
    ("users", "list"): list_users,
    ("users", "update"): update_user,
    ("tokens", "create"): create_token,
    ("tokens", "list"): list_tokens,
    ("tokens", "revoke"): revoke_token,
}
