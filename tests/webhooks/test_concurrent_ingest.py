"""Ingest with real commits (a database of its own): a delivery posted many times at once is
stored once, through the fast lane on PostgreSQL and through the ORM on SQLite."""

import asyncio
from pathlib import Path

from sqlalchemy import select

from app.core.fastlane import FastLane
from app.users.models import Role
from app.webhooks.models import Delivery
from tests.live import live_app
from tests.webhooks.test_receiving import OPENED, SECRET, _github_headers


async def test_concurrent_copies_of_a_delivery_store_it_once(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        it = await live.user(Role.IT)
        created = await live.api.post(
            "/api/v1/integrations",
            json={"kind": "github", "name": "gh", "repository": "acme/webshop"}
            | {"base_url": "https://127.0.0.1", "webhook_secret": SECRET},
            headers=it,
        )
        assert created.status_code == 201, created.text
        url = f"/api/v1/webhooks/github/{created.json()['id']}"
        if live.backend == "postgresql":  # the lifespan opens it in production
            live.app.state.fast_lane = await FastLane.open(
                live.app.state.settings.database_url, size=4
            )
        try:
            answers = await asyncio.gather(
                *(
                    live.api.post(url, content=OPENED, headers=_github_headers(OPENED))
                    for _ in range(8)
                )
            )
        finally:
            if live.app.state.fast_lane is not None:
                await live.app.state.fast_lane.close()
        assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
        async with live.sessions() as session:
            rows = list(await session.scalars(select(Delivery).order_by(Delivery.id)))
        assert sorted(d.outcome for d in rows) == ["duplicate"] * 7 + ["pending"]
        first = next(a for a in answers if a.status_code == 202)
        assert first.json() == {
            "delivery": next(d.id for d in rows if d.outcome == "pending"),
            "outcome": "pending",
        }
