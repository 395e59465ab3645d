"""Authentication through the fast lane (PostgreSQL): one statement per call.

It checks the token and its user, records `last_used_at` (at most once a minute) and counts the
call against the token's rate limit, all in one round trip: through the ORM these were two or
three statements and the larger part of a cheap request's CPU. The rules are those of
`service.authenticate`; tests run both paths (PostgreSQL here, SQLite there).
"""

from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.orm import make_transient_to_detached

from app.core.db import utcnow
from app.core.fastlane import FastLane
from app.core.security import hash_token
from app.users.models import Role, User
from app.users.service import LAST_USED_GRANULARITY

_USER_COLUMNS = ("id", "name", "email", "role", "active", "created_at", "updated_at", "version")
_VIEWER = f"""
    viewer AS (
        SELECT {", ".join(f"u.{column}" for column in _USER_COLUMNS)},
               t.id AS token_id, t.last_used_at
        FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.active
    ),
    touched AS (
        UPDATE api_tokens SET last_used_at = $2 FROM viewer
        WHERE api_tokens.id = viewer.token_id
          AND (viewer.last_used_at IS NULL OR viewer.last_used_at <= $3)
        RETURNING 1
    )"""
# synchronous_commit off for this statement (SET LOCAL): losing the last few counts or touches
# in a crash is fine, waiting for a WAL flush on every call is not.
_COUNTED = """,
    counted AS (
        INSERT INTO rate_limit_windows (token_hash, window_start, hits)
        SELECT $1, $4, 1
        FROM viewer, (SELECT set_config('synchronous_commit', 'off', true)) AS local
        ON CONFLICT (token_hash, window_start)
        DO UPDATE SET hits = rate_limit_windows.hits + 1
        RETURNING hits
    )"""


def viewer_sql(*, counted: bool) -> str:
    """`WITH viewer AS (...), ...`: the caller's row (none for a bad token), touched and, if
    `counted`, counted; the statement it starts may read `viewer` and `counted.hits`."""
    return f"WITH {_VIEWER}{_COUNTED if counted else ''}"


def viewer_args(*, secret: str, window_start: int | None) -> list[Any]:
    """`viewer_sql`'s parameters, $1 to $3 (or $4 when counted)."""
    now = utcnow()
    args: list[Any] = [hash_token(secret), now, now - LAST_USED_GRANULARITY]
    return args if window_start is None else [*args, window_start]


def hits_sql(*, counted: bool) -> str:
    return "(SELECT hits FROM counted)" if counted else "NULL::int"


_AUTHENTICATE = {
    counted: f"{viewer_sql(counted=counted)} "
    f"SELECT viewer.*, {hits_sql(counted=counted)} AS hits FROM viewer"
    for counted in (False, True)
}


@dataclass(frozen=True)
class Authenticated:
    user: User
    hits: int | None  # this call's number in its rate-limit window (None: not counted)


async def authenticate(
    lane: FastLane, *, secret: str, window_start: int | None
) -> Authenticated | None:
    """The caller, if the token is valid; counted in `window_start`'s window unless None."""
    sql = _AUTHENTICATE[window_start is not None]
    row = await lane.fetchrow(sql, *viewer_args(secret=secret, window_start=window_start))
    return None if row is None else Authenticated(_detached_user(row), row["hits"])


def _detached_user(row: asyncpg.Record) -> User:
    """A `User` as a session would have loaded it, attached to none (sessions may `get` it)."""
    values: dict[str, object] = {column: row[column] for column in _USER_COLUMNS}
    values["role"] = Role(row["role"])
    user = User(**values)
    make_transient_to_detached(user)
    return user
