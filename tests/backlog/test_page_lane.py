"""The backlog page through the fast lane (PostgreSQL) answers byte for byte what the ORM path
answers: same items, same fields, same JSON formatting, same cursors and Link headers."""

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import page
from app.backlog.models import BacklogItem
from app.core.http import AsyncClient
from app.sync import ssrf
from app.sync.models import ItemLink, SyncState
from app.users.models import Role
from tests.builders import make_item, make_sprint, make_team, make_user
from tests.sync.test_links_outbox import _integration

SYNCED = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])


async def _variety(api: AsyncClient, session: AsyncSession, it: dict[str, str]) -> dict[str, Any]:
    """Items with every kind of value an ItemOut field can hold."""
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    epic = await make_item(session, title="Checkout", type="epic", team_id=team.id)
    await make_item(session, title="Pay", parent_id=epic.id, story_points=5, team_id=team.id)
    await make_item(session, title="Empty epic", type="epic")
    rich = await make_item(
        session,
        title="Ünïcode “quotes” \\ and \n newlines",
        description="<b>html</b> & emoji 🎉",
        acceptance_criteria=["one", "two"],
        labels=["web shop", "q1"],
        story_points=3,
        business_value=7,
        time_criticality=2,
        risk_reduction=1,
        stability_impact="high",
        security_impact="critical",
        data_classification="restricted",
        personal_data=True,
        external_exposure=True,
        target="2027-Q1",
        team_id=team.id,
    )
    whole = await make_item(session, title="WSJF 4.0", story_points=1, business_value=4)
    for n in range(7):
        await make_item(session, title=f"Plain {n}", team_id=team.id if n % 2 else None)
    planned = await make_item(session, title="In the sprint", team_id=team.id)
    await session.execute(
        update(BacklogItem).where(BacklogItem.id == planned.id).values(sprint_id=sprint.id)
    )
    integration_id = await _integration(api, it)
    for item in (rich, whole):
        resp = await api.post(
            f"/api/v1/items/{item.id}/links", json={"integration_id": integration_id}, headers=it
        )
        assert resp.status_code == 201, resp.text
    await session.execute(
        update(ItemLink)
        .where(ItemLink.item_id == rich.id)
        .values(
            sync_state=SyncState.SYNCED, remote_key="42", url="https://x/42", last_synced_at=SYNCED
        )
    )
    rich_row = await session.get(BacklogItem, rich.id)
    assert rich_row is not None
    rich_row.updated_at = datetime(2026, 11, 27, 10, 0, 0, 120000, tzinfo=UTC)
    await session.flush()
    return {"team": team.id, "sprint": sprint.id}


async def _pages(api: AsyncClient, query: str, it: dict[str, str]) -> list[tuple[bytes, str]]:
    """Every page of `query`, following next_cursor, as (body, Link header)."""
    pages, cursor = [], None
    while True:
        url = f"/api/v1/items?{query}" + (f"&cursor={cursor}" if cursor else "")
        resp = await api.get(url, headers=it)
        assert resp.status_code == 200, resp.text
        pages.append((resp.content, resp.headers.get("link", "")))
        cursor = resp.json()["next_cursor"]
        if cursor is None:
            return pages


async def test_the_lane_answers_what_the_orm_answers(
    app: FastAPI, api: AsyncClient, session: AsyncSession
) -> None:
    if app.state.fast_lane is None:
        pytest.skip("the fast lane is PostgreSQL's")
    _, it = await make_user(session, role=Role.IT)
    ids = await _variety(api, session, it)
    queries = [
        "sprint_id=none&limit=4",
        "sprint_id=none&limit=200",
        f"sprint_id=none&team_id={ids['team']}&limit=2",
        f"sprint_id={ids['sprint']}",
        f"sprint_id={ids['sprint']}&team_id={ids['team']}&limit=1",
        "sprint_id=none&team_id=999999",
    ]
    for query in queries:
        lane = app.state.fast_lane
        assert page.serves(_filters(query), "rank")
        fast = await _pages(api, query, it)
        app.state.fast_lane = None  # the ORM path
        try:
            slow = await _pages(api, query, it)
        finally:
            app.state.fast_lane = lane
        assert fast == slow, query
    everything = b"".join(body for body, _ in await _pages(api, "sprint_id=none&limit=200", it))
    assert b'"rollup_points":5' in everything
    assert b'"wsjf":4.0' in everything
    assert b'"last_synced_at":"2026-11-27T09:30:00Z"' in everything


def _filters(query: str) -> dict[str, Any]:
    given = dict(part.split("=") for part in query.split("&"))
    sprint = given.get("sprint_id")
    return {
        "backlog_only": sprint == "none",
        "sprint_id": int(sprint) if sprint and sprint != "none" else None,
        "team_id": given.get("team_id"),
    }


@pytest.mark.parametrize(
    ("filters", "sort", "served"),
    [
        ({"backlog_only": True, "status": [], "q": None}, "rank", True),
        ({"sprint_id": 3, "team_id": 2}, "rank", True),
        ({"sprint_id": 0}, "rank", True),
        ({"backlog_only": True}, "-rank", False),
        ({"backlog_only": True, "status": ["new"]}, "rank", False),
        ({"backlog_only": True, "q": "shop"}, "rank", False),
        ({"team_id": 2}, "rank", False),  # all of a team's items, planned or not
        ({}, "rank", False),
    ],
)
def test_what_the_lane_serves(filters: dict[str, Any], sort: str, served: bool) -> None:
    assert page.serves(filters, sort) is served
