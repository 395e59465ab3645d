"""The backlog page through the fast lane (PostgreSQL) answers byte for byte what the ORM path
answers: same items, same fields, same JSON formatting, same cursors and Link headers."""

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import service
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
    await make_item(session, title="Tab\tand \x01 control", story_points=3, business_value=10)
    await make_item(session, title="Restricted only", data_classification="restricted")
    await make_item(
        session, title="Exposed personal data", personal_data=True, external_exposure=True
    )
    await make_item(session, title="Personal, inside", personal_data=True)
    await make_item(session, title="High impact", security_impact="high")
    await make_item(
        session, title="Low impact", security_impact="low", data_classification="public"
    )
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
    rich_row.created_at = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)  # no microseconds
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


async def _not_here(*args: object, **kwargs: object) -> None:
    raise AssertionError("the FastAPI route answered")


async def test_the_lane_answers_what_the_orm_answers(
    app: FastAPI, api: AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
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
        with monkeypatch.context() as patched:  # the FastAPI route must not be the one answering
            patched.setattr(service, "list_items", _not_here)
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


@pytest.mark.parametrize(
    "query",
    [
        "sprint_id=none&cursor=not-a-cursor",  # 400
        "sprint_id=none&limit=0",  # 422
        "sprint_id=none&limit=201",
        "sprint_id=none&team_id=0",
        "sprint_id=soon",
        "sprint_id=none&sprint_id=none",  # FastAPI takes the last one
        "sprint_id=none&sort=-rank",  # other sorts and filters: the route's own query
        "sprint_id=none&status=new",
        "sprint_id=none&q=shop&limit=2",
        "sprint_id=none&unknown=1",
        "sprint_id=none&label=%00",
    ],
)
async def test_what_the_lane_leaves_to_the_route_is_answered_alike(
    app: FastAPI, api: AsyncClient, session: AsyncSession, query: str
) -> None:
    if app.state.fast_lane is None:
        pytest.skip("the fast lane is PostgreSQL's")
    _, it = await make_user(session, role=Role.IT)
    await make_item(session, title="web shop")
    await make_item(session, title="web shop 2", status="new")
    lane = app.state.fast_lane
    fast = await api.get(f"/api/v1/items?{query}", headers=it)
    app.state.fast_lane = None
    try:
        slow = await api.get(f"/api/v1/items?{query}", headers=it)
    finally:
        app.state.fast_lane = lane
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer bb_nope"}, {"Authorization": "Basic eDp5"}],
)
async def test_a_caller_without_a_valid_token_gets_the_routes_401(
    api: AsyncClient, headers: dict[str, str]
) -> None:
    resp = await api.get("/api/v1/items?sprint_id=none", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == "application/problem+json"
