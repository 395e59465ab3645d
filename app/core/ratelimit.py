"""Per-token API rate limits: a fixed window per token, counted where every replica sees it.

On PostgreSQL the count lives in `rate_limit_windows`: the statement that authenticates the
call upserts it (`app/users/lane.py`, autocommit through the fast lane with
`synchronous_commit` off: the request's rollback never undoes it and no extra round trip is
paid). On SQLite (one process by design) it is counted in process: a write per GET would queue
every reader behind SQLite's single writer. A fixed window lets a token make up to twice its
limit across a window boundary; that is the price of one row per token and window.

Headers follow draft-ietf-httpapi-ratelimit-headers-07: `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) on every authenticated response, and a 429
`rate-limited` problem with `Retry-After` once the window's quota is spent.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import Base
from app.core.errors import AppError
from app.core.fastlane import FastLane
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


_PRUNE = "DELETE FROM rate_limit_windows WHERE window_start < $1"


@dataclass(frozen=True)
class Window:
    start: int  # Unix seconds, a multiple of the window length
    reset: int  # seconds until it ends


class RateLimiter:
    """Counts one hit per authenticated request; `limit` 0 switches counting off.

    With the fast lane (PostgreSQL) the count is made by the authenticating statement
    (`app/users/lane.py`) and handed to `enforce`; without it, here in process.
    """

    def __init__(self, *, limit: int, window_s: int) -> None:
        self.limit, self.window_s = limit, window_s
        self._lock = threading.Lock()
        self._local: dict[str, tuple[int, int]] = {}  # token hash -> (window start, hits)
        self._window = 0  # newest window this process has seen
        self.clock: Callable[[], float] = time.time  # tests move it on

    def window(self) -> Window:
        now = self.clock()
        start = int(now // self.window_s) * self.window_s
        return Window(start, max(1, start + self.window_s - int(now)))

    def count_locally(self, secret: str, window: Window) -> int:
        key = hash_token(secret)
        with self._lock:
            if window.start > self._window:  # a new window: forget the old ones
                self._window = window.start
                self._local = {k: v for k, v in self._local.items() if v[0] >= window.start}
            start, hits = self._local.get(key, (window.start, 0))
            hits = hits + 1 if start == window.start else 1
            self._local[key] = (window.start, hits)
            return hits

    async def prune(self, lane: FastLane, window: Window) -> None:
        """Drop the windows before the last one; once per window per process, best effort."""
        if window.start <= self._window:
            return
        self._window = window.start
        try:
            await lane.fetch(_PRUNE, window.start - self.window_s)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            logger.warning("old rate-limit windows not pruned", exc_info=True)

    def quota(self, hits: int, window: Window) -> Quota:
        return Quota(self.limit, max(0, self.limit - hits), window.reset, hits > self.limit)


def limiter_of(app: Any) -> RateLimiter | None:
    """The app's limiter, if counting is on."""
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    return limiter if limiter is not None and limiter.limit > 0 else None


async def enforce(
    scope: Scope, limiter: RateLimiter, window: Window, *, secret: str, hits: int | None
) -> None:
    """Count this request against its token (unless the fast lane's statement did: `hits`);
    429 once the window's quota is spent. The quota is left in the request's state for
    `RateLimitHeaders` to put on the response."""
    lane: FastLane | None = scope["app"].state.fast_lane
    if hits is None:
        hits = limiter.count_locally(secret, window)
    elif lane is not None:
        await limiter.prune(lane, window)
    quota = limiter.quota(hits, window)
    scope.setdefault("state", {})[STATE_KEY] = quota
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
