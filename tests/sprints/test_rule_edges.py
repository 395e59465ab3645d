"""Edges a review found: ways around the Definition of Ready, closed sprints, team moves."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import (
    make_item,
    make_ready_item,
    make_request,
    make_sprint,
    make_team,
    make_user,
)
from tests.core.test_errors import assert_problem


async def test_cancelled_is_no_back_door_around_the_definition_of_ready(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    item = await make_item(session)
    url = f"/api/v1/items/{item.id}"
    assert (await api.patch(url, json={"status": "cancelled"}, headers=it)).status_code == 200
    for status in ("in_progress", "in_review", "done", "ready"):
        assert_problem(await api.patch(url, json={"status": status}, headers=it), 422, "not-ready")


async def test_planning_rechecks_readiness(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team)
    await api.patch(f"/api/v1/items/{item.id}", json={"story_points": None}, headers=it)
    resp = await api.post(
        f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [item.id]}, headers=it
    )
    body = assert_problem(resp, 409, "not-ready")
    assert "story_points" in body["refused"][0]["reasons"][0]


async def test_reopening_an_item_of_a_closed_sprint_returns_it_to_the_backlog(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team, story_points=8)
    url = f"/api/v1/sprints/{sprint.id}"
    await api.post(f"{url}/items", json={"item_ids": [item.id]}, headers=it)
    await api.post(f"{url}/start", headers=it)
    await api.patch(f"/api/v1/items/{item.id}", json={"status": "done"}, headers=it)
    await api.post(f"{url}/close", headers=it)
    before = (await api.get(f"{url}/report", headers=it)).json()
    reopened = await api.patch(
        f"/api/v1/items/{item.id}", json={"status": "in_progress", "story_points": 13}, headers=it
    )
    assert reopened.json()["sprint_id"] is None
    closed = (await api.get(url, headers=it)).json()
    assert (closed["completed_points"], closed["planned_points"]) == (8, 0)
    assert (await api.get(f"{url}/report", headers=it)).json() == before


async def test_an_item_in_a_sprint_keeps_its_team(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team, other = await make_team(session), await make_team(session)
    sprint = await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team)
    await api.post(f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [item.id]}, headers=it)
    resp = await api.patch(f"/api/v1/items/{item.id}", json={"team_id": other.id}, headers=it)
    assert_problem(resp, 409, "item-in-use")


async def test_carry_over_beyond_the_next_sprints_capacity_is_recorded(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team, capacity_points=20)
    following = await make_sprint(session, team=team, capacity_points=3)
    items = [await make_ready_item(session, team=team, story_points=5) for _ in range(2)]
    await api.post(
        f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [i.id for i in items]}, headers=it
    )
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    resp = await api.post(
        f"/api/v1/sprints/{sprint.id}/close",
        json={"carry_over": "next", "next_sprint_id": following.id},
        headers=it,
    )
    assert resp.status_code == 200, resp.text
    override = await session.scalar(
        select(Event).where(Event.type == "sprint.override", Event.entity_id == following.id)
    )
    assert override is not None
    assert override.data["reason"] == f"carried over from sprint {sprint.id}"
    assert override.data["over_capacity"] == {"points": 10, "capacity_points": 3}


async def test_member_changes_bump_the_team_version(
    api: AsyncClient, session: AsyncSession
) -> None:
    dev, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    url = f"/api/v1/teams/{team.id}"
    first = await api.patch(url, json={"members": [dev.id]}, headers=it | {"If-Match": '"1"'})
    assert first.json()["version"] == 2
    lost = await api.patch(url, json={"members": []}, headers=it | {"If-Match": '"1"'})
    assert_problem(lost, 412, "precondition-failed")


async def test_convert_checks_the_teams_it_is_given(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    request = await make_request(session, requester=requester, status="approved")
    resp = await api.post(
        f"/api/v1/requests/{request.id}/convert",
        json={"items": [{"title": "a", "team_id": 999999}]},
        headers=it,
    )
    assert_problem(resp, 422, "validation-error")


async def test_planning_judges_an_epic_by_its_children(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=40)
    sprint = await make_sprint(session, team=team)
    epic = await make_item(session, type="epic", title="Checkout", story_points=8)
    ready = await api.patch(
        f"/api/v1/items/{epic.id}",
        json={"stability_impact": "low", "security_impact": "low", "status": "ready"},
        headers=it,
    )
    assert ready.status_code == 200, ready.text  # no children: its own points size it
    child = await make_item(session, title="Pay", parent_id=epic.id)  # unsized, no criteria

    resp = await api.post(
        f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [epic.id]}, headers=it
    )
    assert_problem(resp, 409, "not-ready")
    [refusal] = resp.json()["refused"]
    assert child.key in refusal["reasons"][0]
    assert (await api.get(f"/api/v1/items/{epic.id}", headers=it)).json()["sprint_id"] is None
