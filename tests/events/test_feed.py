"""The change feed: complete, in order, never skipping an event, and only what a reader may see."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.users.models import Role
from tests.live import LiveApp, live_app
from tests.requests.test_requests_api import VALID


async def _drain(
    live: LiveApp, headers: dict[str, str], cursor: str | None = None, limit: int = 2
) -> tuple[list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    while True:
        params = {"limit": str(limit)} | ({"after": cursor} if cursor else {})
        body = (await live.api.get("/api/v1/events", params=params, headers=headers)).json()
        assert body["next_cursor"], "the feed always returns a cursor"
        events += body["items"]
        if not body["items"]:
            return events, body["next_cursor"]
        cursor = body["next_cursor"]


async def _drain_at_least(
    live: LiveApp, headers: dict[str, str], count: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Poll like a feed client: on PostgreSQL, transactions of other databases on the server
    (tests run in parallel) can hold the feed's horizon back for a moment."""
    events: list[dict[str, Any]] = []
    for _ in range(200):
        more, cursor = await _drain(live, headers, cursor)
        events += more
        if len(events) >= count:
            break
        await asyncio.sleep(0.05)
    return events, cursor or ""


async def test_feed_pages_through_every_event_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        admin = await live.user(Role.ADMIN)
        marketing = await live.user(Role.MARKETING)
        created = await live.api.post("/api/v1/requests", json=VALID, headers=marketing)
        url = created.headers["location"]
        await live.api.patch(url, json={"title": "Nieuw"}, headers=marketing)
        await live.api.post(f"{url}/submit", headers=marketing)
        await live.api.post("/api/v1/users", json={"name": "newbie", "role": "it"}, headers=admin)

        events, cursor = await _drain_at_least(live, marketing, 3)
        assert [e["type"] for e in events] == [
            "request.created",
            "request.updated",
            "request.submit",
        ]
        assert len({e["id"] for e in events}) == len(events)

        await live.api.post(f"{url}/comments", json={"body": "En nu?"}, headers=marketing)
        more, _ = await _drain_at_least(live, marketing, 1, cursor)
        assert [e["type"] for e in more] == ["request.commented"]


async def test_user_events_are_for_admins_only(database_url: str, tmp_path: Path) -> None:
    async with live_app(database_url, tmp_path) as live:
        admin = await live.user(Role.ADMIN)
        it = await live.user(Role.IT)
        await live.api.post("/api/v1/users", json={"name": "newbie", "role": "it"}, headers=admin)
        # three users made, two of them with a token: five events
        admin_view, _ = await _drain_at_least(live, admin, 5)
        it_view, _ = await _drain(live, it)
        assert "user.created" in [e["type"] for e in admin_view]
        assert all(e["entity"] != "user" for e in it_view)


async def test_feed_holds_back_events_behind_a_running_transaction(
    database_url: str, tmp_path: Path
) -> None:
    """T1 writes first but commits last; T2's later event must not let the cursor skip T1's."""
    async with live_app(database_url, tmp_path) as live:
        if live.backend != "postgresql":
            pytest.skip("SQLite has a single writer: commit order is id order")
        reader = await live.user(Role.IT)
        _, cursor = await _drain(live, reader)
        insert = text(
            "INSERT INTO events (type, entity, entity_id, actor_kind, at, data) "
            "VALUES (:type, 'request', 1, 'system', now(), '{}')"
        )
        async with live.sessions() as slow, live.sessions() as fast:
            await slow.execute(insert, {"type": "test.slow"})
            await fast.execute(insert, {"type": "test.fast"})
            await fast.commit()
            seen, cursor_during = await _drain(live, reader, cursor)
            assert seen == [], "nothing may be served while an older transaction is open"
            await slow.commit()
        seen, _ = await _drain_at_least(live, reader, 2, cursor_during)
        assert [e["type"] for e in seen] == ["test.slow", "test.fast"]
