"""Sprint planning refuses what IT's rules refuse, all or nothing, and records overrides."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.events import Event
from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_item, make_ready_item, make_sprint, make_team, make_user
from tests.core.test_errors import assert_problem


async def _in_sprint(session: AsyncSession, sprint_id: int) -> int:
    query = select(func.count()).where(BacklogItem.sprint_id == sprint_id)
    return (await session.scalar(query)) or 0


async def test_teams_and_sprints_basics(api: AsyncClient, session: AsyncSession) -> None:
    dev, it = await make_user(session, role=Role.IT)
    team = await api.post(
        "/api/v1/teams",
        json={
            "name": "Webshop",
            "default_capacity_points": 30,
            "timezone": "Europe/Amsterdam",
            "members": [dev.id],
        },
        headers=it,
    )
    assert team.status_code == 201, team.text
    assert team.json()["members"] == [dev.id]
    sprint = await api.post(
        "/api/v1/sprints", json={"team_id": team.json()["id"], "name": "Sprint 1"}, headers=it
    )
    assert sprint.status_code == 201
    assert sprint.json()["capacity_points"] == 30  # the team's default
    assert sprint.json()["state"] == "planned"
    bad = [
        await api.post("/api/v1/teams", json={"name": "X", "timezone": "Mars/Olympus"}, headers=it),
        await api.post("/api/v1/teams", json={"name": "Y", "members": [999999]}, headers=it),
        await api.post("/api/v1/sprints", json={"team_id": 999999, "name": "S"}, headers=it),
        await api.post(
            "/api/v1/sprints",
            json={
                "team_id": team.json()["id"],
                "name": "S",
                "start_date": "2027-01-10",
                "end_date": "2027-01-01",
            },
            headers=it,
        ),
        await api.post(
            "/api/v1/sprints",
            json={
                "team_id": team.json()["id"],
                "name": "S",
                "start_date": "2027-01-01",
                "end_date": "2099-01-01",
            },
            headers=it,
        ),
    ]
    assert [r.status_code for r in bad] == [422] * 5
    dup = await api.post("/api/v1/teams", json={"name": "Webshop"}, headers=it)
    assert_problem(dup, 409, "name-taken")


async def test_only_ready_and_cleared_items_join_and_a_batch_is_all_or_nothing(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team, other_team = await make_team(session), await make_team(session)
    sprint = await make_sprint(session, team=team)
    ready = await make_ready_item(session, team=team)
    new = await make_item(session, team_id=team.id, story_points=1)
    uncleared = await make_ready_item(session, team=team, security_impact="critical")
    uncleared.security_cleared = False
    foreign = await make_ready_item(session, team=other_team)
    await session.flush()
    resp = await api.post(
        f"/api/v1/sprints/{sprint.id}/items",
        json={"item_ids": [ready.id, new.id, uncleared.id, foreign.id]},
        headers=it,
    )
    body = assert_problem(resp, 409, "not-ready")
    refused: dict[int, Any] = {r["item_id"]: r["reasons"] for r in body["refused"]}
    assert set(refused) == {new.id, uncleared.id, foreign.id}
    assert "status is new" in refused[new.id][0]
    assert refused[uncleared.id] == ["needs security clearance"]
    assert refused[foreign.id] == [f"belongs to team {other_team.id}"]
    assert await _in_sprint(session, sprint.id) == 0
    ok = await api.post(
        f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [ready.id]}, headers=it
    )
    assert ok.json()["planned_points"] == 5


async def test_team_less_items_join_the_sprints_team(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    loose = await make_ready_item(session)
    await api.post(f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [loose.id]}, headers=it)
    item = (await api.get(f"/api/v1/items/{loose.id}", headers=it)).json()
    assert (item["team_id"], item["sprint_id"]) == (team.id, sprint.id)


@pytest.mark.parametrize("limit", ["capacity", "stability"])
async def test_over_limits_is_409_unless_overridden_and_recorded(
    api: AsyncClient, session: AsyncSession, limit: str
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, stability_budget=1)
    sprint = await make_sprint(session, team=team, capacity_points=10)
    if limit == "capacity":
        items = [await make_ready_item(session, team=team, story_points=8) for _ in range(2)]
        slug = "over-capacity"
    else:
        items = [
            await make_ready_item(session, team=team, story_points=1, stability_impact="high")
            for _ in range(2)
        ]
        slug = "over-stability-budget"
    url = f"/api/v1/sprints/{sprint.id}/items"
    ids = [i.id for i in items]
    assert_problem(await api.post(url, json={"item_ids": ids}, headers=it), 409, slug)
    assert await _in_sprint(session, sprint.id) == 0
    resp = await api.post(
        url, json={"item_ids": ids, "override_reason": "Release weekend"}, headers=it
    )
    assert resp.status_code == 200, resp.text
    assert await _in_sprint(session, sprint.id) == 2
    override = await session.scalar(
        select(Event).where(Event.type == "sprint.override", Event.entity_id == sprint.id)
    )
    assert override is not None
    assert override.data["reason"] == "Release weekend"
    assert override.data["item_ids"] == ids


async def test_marketing_cannot_plan(api: AsyncClient, session: AsyncSession) -> None:
    _, marketing = await make_user(session, role=Role.MARKETING)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team)
    resp = await api.post(
        f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [item.id]}, headers=marketing
    )
    assert_problem(resp, 403, "forbidden")


async def test_an_item_is_in_at_most_one_open_sprint_and_can_return(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    first, second = await make_sprint(session, team=team), await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team)
    await api.post(f"/api/v1/sprints/{first.id}/items", json={"item_ids": [item.id]}, headers=it)
    again = await api.post(
        f"/api/v1/sprints/{second.id}/items", json={"item_ids": [item.id]}, headers=it
    )
    body = assert_problem(again, 409, "not-ready")
    assert body["refused"][0]["reasons"] == [f"already in open sprint {first.id}"]
    out = await api.delete(f"/api/v1/sprints/{first.id}/items/{item.id}", headers=it)
    assert out.status_code == 204
    assert (await api.get(f"/api/v1/items/{item.id}", headers=it)).json()["sprint_id"] is None
    missing = await api.delete(f"/api/v1/sprints/{first.id}/items/{item.id}", headers=it)
    assert_problem(missing, 404, "not-found")
    back = await api.post(
        f"/api/v1/sprints/{second.id}/items", json={"item_ids": [item.id]}, headers=it
    )
    assert back.status_code == 200
