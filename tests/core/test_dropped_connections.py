"""Dropped database connections are survived: a request that was using a connection the
server closed answers 503 `database-unavailable` with Retry-After, never 500, and the next
requests succeed on fresh connections (ORM path and fast lane alike)."""

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.core.http import Response
from app.users.models import Role
from tests.live import LiveApp, live_app


async def _terminate_backends(database_url: str) -> int:
    """`pg_terminate_backend` on every connection the service holds to its database."""
    url = make_url(database_url)
    killer = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        killed: int = await killer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database,
        )
        return killed
    finally:
        await killer.close()


async def _mixed_calls(live: LiveApp, headers: dict[str, str], n: int) -> list[Response]:
    """Reads through the fast lane and the ORM, and writes, all at once."""
    calls = []
    for i in range(n):
        if i % 3 == 0:
            calls.append(live.api.get("/api/v1/items?sprint_id=none&limit=5", headers=headers))
        elif i % 3 == 1:
            calls.append(live.api.get("/api/v1/requests?limit=5", headers=headers))
        else:
            calls.append(live.api.post("/api/v1/items", json={"title": f"t{i}"}, headers=headers))
    return list(await asyncio.gather(*calls))


def _assert_no_500(responses: list[Response]) -> None:
    for resp in responses:
        assert resp.status_code in (200, 201, 503), (resp.status_code, resp.text)
        if resp.status_code == 503:
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["type"] == "/problems/database-unavailable"
            assert resp.headers["retry-after"] == "1"


async def test_terminated_backends_under_load_are_503_then_served(tmp_path: Path) -> None:
    async with live_app("postgresql", tmp_path) as live:
        headers = await live.user(Role.IT)
        url = str(live.app.state.settings.database_url)
        _assert_no_500(await _mixed_calls(live, headers, 30))  # the pools hold connections now
        answers: list[Response] = []
        for _ in range(3):
            load = asyncio.ensure_future(_mixed_calls(live, headers, 60))
            await asyncio.sleep(0.02)  # some of the calls are mid-transaction
            assert await _terminate_backends(url) > 0
            answers += await load
        _assert_no_500(answers)
        # Killed while idle: the next calls find fresh connections, once the backends are
        # gone (pg_terminate_backend only signals them; a call in the same instant may 503).
        await _terminate_backends(url)
        await asyncio.sleep(0.2)
        after = [await live.api.get("/api/v1/requests", headers=headers) for _ in range(3)]
        after += [await live.api.get("/api/v1/items?sprint_id=none", headers=headers)]
        after += [await live.api.post("/api/v1/items", json={"title": "x"}, headers=headers)]
        assert [r.status_code for r in after] == [200, 200, 200, 200, 201], after[-1].text
