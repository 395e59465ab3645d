"""Per-token API rate limits: a fixed window per token, counted where every replica sees it.

On PostgreSQL the count lives in `rate_limit_windows` (one upsert per authenticated request,
in its own autocommit statement with `synchronous_commit` off: the request's rollback never
undoes it and a GET stays read-only). On SQLite (one process by design) it is counted in
process: a write per GET would queue every reader behind SQLite's single writer. A count that
fails (database unreachable, pool exhausted) lets the call through and logs a warning. A fixed
window lets a token make up to twice its limit across a window boundary; that is the price of
one row and one round trip per call.

Headers follow draft-ietf-httpapi-ratelimit-headers-07: `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) on every authenticated response, and a 429
`rate-limited` problem with `Retry-After` once the window's quota is spent.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from fastapi import Request
from sqlalchemy import BigInteger, Integer, String, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import Base
from app.core.errors import AppError
from app.core.security import hash_token

logger = logging.getLogger("app.ratelimit")
STATE_KEY = "bb_rate_limit"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After")


class RateLimitWindow(Base):
    """Hits of one token in one fixed window (`window_start`: Unix seconds)."""

    __tablename__ = "rate_limit_windows"

    # The token's stored SHA-256: as unique as its id, and known before any extra lookup.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends
    exceeded: bool  # this request was one too many

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


_UPSERT_SQL = (
    "INSERT INTO rate_limit_windows (token_hash, window_start, hits) "
    # set_config(..., true) is SET LOCAL for this one-statement transaction: losing the last
    # few counts in a crash is fine, waiting for a WAL flush on every request is not.
    "SELECT {key}, {start}, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS q "
    "ON CONFLICT (token_hash, window_start) "
    "DO UPDATE SET hits = rate_limit_windows.hits + 1 RETURNING hits"
)
_UPSERT = text(_UPSERT_SQL.format(key=":key", start=":start"))
_UPSERT_ASYNCPG = _UPSERT_SQL.format(key="$1", start="$2")
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)
_PRUNE = text("DELETE FROM rate_limit_windows WHERE window_start < :before")


class RateLimiter:
    """Counts one hit per authenticated request; `limit` 0 switches counting off."""

    def __init__(self, *, limit: int, window_s: int) -> None:
        self.limit, self.window_s = limit, window_s
        self._lock = threading.Lock()
        self._local: dict[str, tuple[int, int]] = {}  # token hash -> (window start, hits)
        self._window = 0  # newest window this process has seen
        self._engine: AsyncEngine | None = None
        self._autocommit: AsyncEngine | None = None
        self.clock: Callable[[], float] = time.time  # tests move it on

    async def hit(self, engine: AsyncEngine, *, secret: str) -> Quota:
        now = self.clock()
        start = int(now // self.window_s) * self.window_s
        key = hash_token(secret)
        if engine.dialect.name == "sqlite":
            hits = self._count_locally(key, start)
        else:
            hits = await self._count_in_database(engine, key, start)
        reset = max(1, start + self.window_s - int(now))
        return Quota(self.limit, max(0, self.limit - hits), reset, exceeded=hits > self.limit)

    def _count_locally(self, key: str, start: int) -> int:
        with self._lock:
            if start > self._window:  # a new window: forget the old ones
                self._window = start
                self._local = {k: v for k, v in self._local.items() if v[0] >= start}
            window, hits = self._local.get(key, (start, 0))
            hits = hits + 1 if window == start else 1
            self._local[key] = (start, hits)
            return hits

    async def _count_in_database(self, engine: AsyncEngine, key: str, start: int) -> int:
        prune = start > self._window  # once per window per process
        self._window = max(self._window, start)
        try:
            async with self._counter(engine).connect() as connection:
                try:
                    hits = await _upsert(connection, key, start)
                    if prune:
                        await connection.execute(_PRUNE, {"before": start - self.window_s})
                except _DRIVER_ERRORS:
                    await connection.invalidate()  # the pool could not tell it is broken
                    raise
        except (DBAPIError, OSError, PoolTimeout, *_DRIVER_ERRORS):
            logger.warning("rate limit not counted", exc_info=True)  # fail open
            return 0
        return hits

    def _counter(self, engine: AsyncEngine) -> AsyncEngine:
        """A small autocommit pool of its own, without the main pool's pre-ping: one round
        trip per count (a lost connection fails open once and is replaced)."""
        if self._engine is not engine or self._autocommit is None:
            self._engine = engine
            self._autocommit = create_async_engine(
                engine.url, pool_size=2, max_overflow=8, isolation_level="AUTOCOMMIT"
            )
        return self._autocommit

    async def close(self) -> None:
        if self._autocommit is not None:
            await self._autocommit.dispose()
            self._autocommit = None


async def _upsert(connection: AsyncConnection, key: str, start: int) -> int:
    """This token's hits in this window, after this one. Straight through asyncpg where it is
    the driver: about half the cost of a Core statement, on every authenticated request."""
    if connection.dialect.driver != "asyncpg":
        return int((await connection.execute(_UPSERT, {"key": key, "start": start})).scalar_one())
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return int(await driver.fetchval(_UPSERT_ASYNCPG, key, start))


async def enforce(request: Request, *, secret: str) -> None:
    """Count this request against its token; 429 once the window's quota is spent.

    The quota is left in the request's state for `RateLimitHeaders` to put on the response.
    """
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or limiter.limit == 0:
        return
    quota = await limiter.hit(request.app.state.engine, secret=secret)
    request.state.bb_rate_limit = quota
    if quota.exceeded:
        raise RateLimited(
            f"At most {limiter.limit} requests per {limiter.window_s} s per token; "
            f"retry in {quota.reset} s.",
            headers={"Retry-After": str(quota.reset)},
        )


class RateLimitHeaders:
    """Pure ASGI middleware: the caller's quota on every response counted against a token,
    errors and 429s included (a dependency's `Response` would miss those)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                quota: Quota | None = scope.get("state", {}).get(STATE_KEY)
                if quota is not None:
                    MutableHeaders(scope=message).update(quota.headers())
            await send(message)

        await self.app(scope, receive, send_with_quota)
