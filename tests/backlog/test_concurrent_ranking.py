"""Many clients writing one backlog at once: every create and every move succeeds, and the
order stays a strict one (a real database and real commits: each request its own transaction)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.users.models import Role
from tests.live import LiveApp, live_app


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


@pytest.mark.parametrize("in_team", [False, True], ids=["team-less backlog", "a team's backlog"])
async def test_concurrent_creates_and_moves_in_one_backlog_all_succeed(
    live: LiveApp, in_team: bool
) -> None:
    it = await live.user(Role.IT)
    team: dict[str, object] = {}
    if in_team:  # the team's check takes the lock there (PostgreSQL)
        resp = await live.api.post(
            "/api/v1/teams", headers=it, json={"name": "Web", "default_capacity_points": 20}
        )
        assert resp.status_code == 201, resp.text
        team = {"team_id": resp.json()["id"]}

    async def create(n: int) -> int:
        body = {"title": f"Story {n}", **team}
        resp = await live.api.post("/api/v1/items", headers=it, json=body)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    ids = await asyncio.gather(*(create(n) for n in range(24)))

    async def to_top(item_id: int) -> None:
        resp = await live.api.post(
            f"/api/v1/items/{item_id}/move", headers=it, json={"position": "top"}
        )
        assert resp.status_code == 200, resp.text

    await asyncio.gather(*(to_top(item_id) for item_id in ids[::2]))
    page = (await live.api.get("/api/v1/items?limit=200", headers=it)).json()["items"]
    ranks = [item["rank"] for item in page]
    assert sorted(item["id"] for item in page) == sorted(ids)
    assert len(set(ranks)) == len(ranks) == 24
    assert {item["id"] for item in page[:12]} == set(ids[::2])  # the moved ones lead
