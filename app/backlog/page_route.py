"""`GET /api/v1/items` for the backlog page, answered beside FastAPI's routing (PostgreSQL).

Pure ASGI, inside the request-id, rate-limit-header and CORS middleware. With the lane's two
statements (authenticate and count, read the page) the page's data costs about 0.5 ms of CPU;
FastAPI's routing, dependency solving (17 query parameters, the session, the bearer scheme)
and exception middleware cost as much again (bench/README.md). So the page a frontend asks for
most is answered here when the request is plainly one: a valid token within its quota and only
`sprint_id`, `team_id`, `limit`, `cursor` and `sort=rank`, each well-formed and given once.
Anything else, a 401, 429 or 400 included, goes on to the FastAPI route, which answers it (and
every other request) as the OpenAPI document says; `tests/backlog/test_page_lane.py` holds the
two to the same answers.
"""

import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from starlette.datastructures import URL
from starlette.types import ASGIApp, Receive, Scope, Send

from app.backlog import page
from app.core import ratelimit
from app.core.fastlane import FastLane
from app.core.pagination import (
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    InvalidCursor,
    next_link,
)
from app.core.schemas import MAX_ID

PATH = "/api/v1/items"
# ASCII digits, as the route's parameters accept (str.isdigit() takes "²", which int() refuses,
# and "٣", which int() reads as 3)
_ID = re.compile(r"[1-9][0-9]{0,9}")
_SPRINT = re.compile(r"none|[0-9]{1,9}")
_LIMIT = re.compile(r"[0-9]{1,3}")
_BEARER = re.compile(r"Bearer ([!-~]{1,512})", re.IGNORECASE)
_ROUTE = SimpleNamespace(path=PATH)
_LANE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    InvalidCursor,
)


class BacklogPageRoute:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            lane: FastLane | None = scope["app"].state.fast_lane
            if lane is not None and (answer := await _answer(scope, lane)) is not None:
                scope["route"] = _ROUTE  # the metrics' label, as the FastAPI route would set
                await send(answer[0])
                await send(answer[1])
                return
        await self.app(scope, receive, send)


async def _answer(scope: Scope, lane: FastLane) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The response's two ASGI messages, or None to let the FastAPI route answer."""
    query = _plain_query(scope["query_string"])
    secret = _bearer(scope["headers"])
    if query is None or secret is None:
        return None
    try:
        answer = await _read(scope, lane, secret, *query)
    except _LANE_ERRORS:
        return None  # the route meets the same trouble and answers it as a problem
    if answer is None:
        return None
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(answer.body)),
    ]
    if answer.next_cursor is not None:
        link = next_link(URL(scope=scope), answer.next_cursor)
        headers.append((b"link", link.encode("latin-1")))
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    return start, {"type": "http.response.body", "body": answer.body}


async def _read(
    scope: Scope,
    lane: FastLane,
    secret: str,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> page.Answer | None:
    """The page, counted against the caller's quota; None for the route's 401 or 429."""
    page.check_cursor(cursor)  # a bad one is the route's 400, before anything is counted
    limiter = ratelimit.limiter_of(scope["app"])
    window = limiter.window() if limiter else None
    answer = await page.read(
        lane,
        secret=secret,
        window_start=window.start if window else None,
        filters=filters,
        limit=limit,
        cursor=cursor,
    )
    if answer is None or limiter is None or window is None:
        return answer
    try:
        await ratelimit.enforce(scope, limiter, window, secret=secret, hits=answer.hits)
    except ratelimit.RateLimited:
        return None  # the route's 429 (it counts once more: the quota is spent anyway)
    return answer


def _plain_query(raw: bytes) -> tuple[dict[str, Any], int, str | None] | None:
    """The page's filters, limit and cursor if the query is plainly a backlog page."""
    if b"%00" in raw.lower() or b"\x00" in raw:
        return None
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        return None
    given = dict(pairs)
    if len(given) != len(pairs) or not given.keys() <= {
        "sprint_id",
        "team_id",
        "limit",
        "cursor",
        "sort",
    }:
        return None
    sprint, team = given.get("sprint_id"), given.get("team_id")
    limit = given.get("limit", "50")
    if given.get("sort", "rank") != "rank" or sprint is None:
        return None
    if not _SPRINT.fullmatch(sprint):
        return None
    if team is not None and not (_ID.fullmatch(team) and int(team) <= MAX_ID):
        return None
    if not (_LIMIT.fullmatch(limit) and 1 <= int(limit) <= MAX_LIMIT):
        return None
    cursor = given.get("cursor")
    if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
        return None
    filters = {
        "backlog_only": sprint == "none",
        "sprint_id": None if sprint == "none" else int(sprint),
        "team_id": None if team is None else int(team),
    }
    return filters, int(limit), cursor


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    values = [value for name, value in headers if name == b"authorization"]
    if len(values) != 1:
        return None
    match = _BEARER.fullmatch(values[0].decode("latin-1"))
    return match.group(1) if match else None
