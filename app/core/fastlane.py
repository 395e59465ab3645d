"""The fast lane: single statements straight through asyncpg, for the hottest paths.

Every authenticated call (token check and rate-limit count), the backlog page and every webhook
delivery run one or two statements. Through SQLAlchemy's pool and an AsyncSession each costs
0.3-0.6 ms of CPU; straight through an asyncpg pool about 0.1 ms (bench/README.md). On a 2-core
machine that is the difference between a few hundred and over a thousand pages a second.

Rules for what runs here: one statement at a time, each in autocommit, leaving no session state
behind (`set_config(..., true)` only) and safe to run twice (reads, counts, inserts that skip a
duplicate); a statement that meets a dead pooled connection is retried once on a fresh one
(the pool's other connections are expired too: a server restart or `pg_terminate_backend`
kills them all at once); if that fails as well the caller gets 503 `database-unavailable`.
PostgreSQL only: on SQLite (one process) the lane is absent and callers take the ORM path.
"""

import asyncio
from typing import Any

import asyncpg
import orjson
from fastapi import Request
from sqlalchemy.engine import make_url

from app.core.errors import CONNECTION_LOST, DatabaseUnavailable


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init(connection: asyncpg.Connection) -> None:
    """JSON columns as Python values, as SQLAlchemy's asyncpg dialect gives them."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
        )


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """Nothing to reset (see the rules above): saves asyncpg's reset round trip per release."""


class FastLane:
    """A pool of its own (`open`), or one given connection (`on`)."""

    def __init__(
        self, *, pool: asyncpg.Pool | None = None, connection: asyncpg.Connection | None = None
    ) -> None:
        self._pool, self._connection = pool, connection
        # Callers take turns here, first come first served, before asking the pool: asyncpg
        # hands out connections through an asyncio.Queue, where a newcomer can take the
        # connection just released to a waiter, who then queues again at the back. Under load
        # some pages waited a second (p99 0.2-1 s at 1,250 pages/s; 35-40 ms with the turns).
        self._turns = asyncio.Semaphore(pool.get_max_size()) if pool is not None else None

    @classmethod
    async def open(cls, database_url: str, *, size: int) -> "FastLane":
        url = make_url(database_url).set(drivername="postgresql")
        pool = await asyncpg.create_pool(
            url.render_as_string(hide_password=False),
            min_size=1,
            max_size=size,
            init=_init,
            reset=_no_reset,
        )
        return cls(pool=pool)

    @classmethod
    def on(cls, connection: asyncpg.Connection) -> "FastLane":
        """A lane over one connection (in tests: the one holding the test's transaction)."""
        return cls(connection=connection)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if self._pool is None or self._turns is None:
            assert self._connection is not None
            return await self._connection.fetch(sql, *args)
        async with self._turns:
            return await self._pooled_fetch(self._pool, sql, *args)

    @staticmethod
    async def _pooled_fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
        for attempt in (1, 2):
            try:
                async with pool.acquire() as connection:
                    try:
                        return await connection.fetch(sql, *args)
                    except CONNECTION_LOST:  # the server dropped it while it sat in the pool
                        connection.terminate()  # the pool opens a fresh one in its place
                        await pool.expire_connections()  # its siblings likely died with it
                        raise
            except CONNECTION_LOST as exc:  # lost, or no new connection could be opened
                if attempt == 2:
                    raise DatabaseUnavailable() from exc
        raise AssertionError("unreachable")

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def fast_lane(request: Request) -> FastLane | None:
    """The app's lane (PostgreSQL), or None (SQLite: take the ORM path)."""
    lane: FastLane | None = getattr(request.app.state, "fast_lane", None)
    return lane
