"""Races that real clients cause: double edits and retried creates."""

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from app.requests.models import MarketingRequest
from app.users.models import Role
from tests.live import live_app
from tests.requests.test_requests_api import VALID


async def test_two_patches_with_one_if_match_exactly_one_wins(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        headers = await live.user(Role.MARKETING)
        created = await live.api.post("/api/v1/requests", json=VALID, headers=headers)
        url = created.headers["location"]
        conditional = headers | {"If-Match": created.headers["etag"]}
        first, second = await asyncio.gather(
            live.api.patch(url, json={"title": "Version A"}, headers=conditional),
            live.api.patch(url, json={"title": "Version B"}, headers=conditional),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 412], (first.text, second.text)
        loser = first if first.status_code == 412 else second
        assert loser.headers["content-type"] == "application/problem+json"
        winner = first if first.status_code == 200 else second
        final = (await live.api.get(url, headers=headers)).json()
        assert final["title"] == winner.json()["title"]
        assert final["version"] == 2


async def test_ten_concurrent_creates_with_one_key_make_one_request(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        headers = await live.user(Role.MARKETING) | {"Idempotency-Key": "retry-storm"}
        responses = await asyncio.gather(
            *(live.api.post("/api/v1/requests", json=VALID, headers=headers) for _ in range(10))
        )
        assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
        async with live.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(MarketingRequest))
        assert count == 1
