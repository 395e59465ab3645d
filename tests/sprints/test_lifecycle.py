"""Start and close, carry-over both ways, read-only closed sprints, velocity."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.requests.models import RequestStatus
from app.users.models import Role
from tests.builders import (
    READY_FIELDS,
    make_ready_item,
    make_request,
    make_sprint,
    make_team,
    make_user,
)
from tests.core.test_errors import assert_problem


async def _plan(api: AsyncClient, sprint_id: int, ids: list[int], it: dict[str, str]) -> None:
    resp = await api.post(f"/api/v1/sprints/{sprint_id}/items", json={"item_ids": ids}, headers=it)
    assert resp.status_code == 200, resp.text


async def test_start_rules(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    undated = await make_sprint(session, team=team, start_date=None, end_date=None)
    resp = await api.post(f"/api/v1/sprints/{undated.id}/start", headers=it)
    assert_problem(resp, 422, "validation-error")
    first, second = await make_sprint(session, team=team), await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team, story_points=8)
    await _plan(api, first.id, [item.id], it)
    started = await api.post(f"/api/v1/sprints/{first.id}/start", headers=it)
    assert started.json()["state"] == "active"
    assert started.json()["committed_points"] == 8
    assert_problem(
        await api.post(f"/api/v1/sprints/{second.id}/start", headers=it),
        409,
        "sprint-already-active",
    )
    assert_problem(
        await api.post(f"/api/v1/sprints/{first.id}/start", headers=it), 409, "invalid-transition"
    )
    assert_problem(
        await api.post(f"/api/v1/sprints/{second.id}/close", headers=it), 409, "invalid-transition"
    )
    other_team_sprint = await make_sprint(session, team=await make_team(session))
    assert (
        await api.post(f"/api/v1/sprints/{other_team_sprint.id}/start", headers=it)
    ).status_code == 200


async def test_close_carries_unfinished_items_to_the_backlog_top_in_order(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=100)
    backlog_item = await make_ready_item(session, team=team)
    sprint = await make_sprint(session, team=team)
    a, b, c = [await make_ready_item(session, team=team) for _ in range(3)]
    await _plan(api, sprint.id, [a.id, b.id, c.id], it)
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    await api.patch(f"/api/v1/items/{b.id}", json={"status": "done"}, headers=it)
    closed = await api.post(
        f"/api/v1/sprints/{sprint.id}/close", json={"carry_over": "backlog"}, headers=it
    )
    assert closed.json()["state"] == "closed"
    assert closed.json()["completed_points"] == 5
    page = (await api.get(f"/api/v1/items?team_id={team.id}&sprint_id=none", headers=it)).json()[
        "items"
    ]
    assert [i["id"] for i in page] == [a.id, c.id, backlog_item.id]
    done = (await api.get(f"/api/v1/items/{b.id}", headers=it)).json()
    assert done["sprint_id"] == sprint.id
    report = (await api.get(f"/api/v1/sprints/{sprint.id}/report", headers=it)).json()
    assert (report["completed_points"], report["carried_over_points"]) == (5, 10)
    history = (await api.get(f"/api/v1/items/{a.id}/history", headers=it)).json()["items"]
    assert history[-1]["type"] == "item.carried_over"


async def test_close_into_the_next_sprint(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint, following = await make_sprint(session, team=team), await make_sprint(session, team=team)
    foreign = await make_sprint(session, team=await make_team(session))
    item = await make_ready_item(session, team=team)
    await _plan(api, sprint.id, [item.id], it)
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    url = f"/api/v1/sprints/{sprint.id}/close"
    for body in (
        {"carry_over": "next"},
        {"carry_over": "next", "next_sprint_id": foreign.id},
        {"carry_over": "next", "next_sprint_id": sprint.id},
        {"carry_over": "backlog", "next_sprint_id": following.id},
    ):
        assert_problem(await api.post(url, json=body, headers=it), 422, "validation-error")
    resp = await api.post(
        url, json={"carry_over": "next", "next_sprint_id": following.id}, headers=it
    )
    assert resp.status_code == 200, resp.text
    moved = (await api.get(f"/api/v1/items/{item.id}", headers=it)).json()
    assert moved["sprint_id"] == following.id
    assert (await api.get(f"/api/v1/sprints/{following.id}", headers=it)).json()[
        "planned_points"
    ] == 5


async def test_a_closed_sprint_is_read_only(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    done = await make_ready_item(session, team=team)
    await _plan(api, sprint.id, [done.id], it)
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    await api.patch(f"/api/v1/items/{done.id}", json={"status": "done"}, headers=it)
    await api.post(f"/api/v1/sprints/{sprint.id}/close", headers=it)
    late = await make_ready_item(session, team=team)
    url = f"/api/v1/sprints/{sprint.id}"
    for resp in (
        await api.post(f"{url}/items", json={"item_ids": [late.id]}, headers=it),
        await api.patch(url, json={"goal": "rewrite history"}, headers=it),
        await api.delete(f"{url}/items/{done.id}", headers=it),
    ):
        assert_problem(resp, 409, "sprint-closed")
    assert (await api.get(url, headers=it)).json()["goal"] is None


async def test_velocity_over_three_closed_sprints(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=100)
    for finished in (1, 2, 3):
        sprint = await make_sprint(session, team=team)
        items = [await make_ready_item(session, team=team, story_points=3) for _ in range(3)]
        await _plan(api, sprint.id, [i.id for i in items], it)
        await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
        for item in items[:finished]:
            await api.patch(f"/api/v1/items/{item.id}", json={"status": "done"}, headers=it)
        await api.post(f"/api/v1/sprints/{sprint.id}/close", headers=it)
    velocity = (await api.get(f"/api/v1/teams/{team.id}/velocity?last=3", headers=it)).json()
    rows = [(s["committed_points"], s["completed_points"]) for s in velocity["sprints"]]
    assert rows == [(9, 3), (9, 6), (9, 9)]
    assert velocity["average_committed"] == 9.0
    assert velocity["average_completed"] == 6.0
    last_two = (await api.get(f"/api/v1/teams/{team.id}/velocity?last=2", headers=it)).json()
    assert [s["completed_points"] for s in last_two["sprints"]] == [6, 9]


async def test_request_is_in_delivery_while_an_item_is_in_an_active_sprint(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    request = await make_request(session, requester=requester, status=RequestStatus.APPROVED)
    converted = await api.post(f"/api/v1/requests/{request.id}/convert", headers=it)
    item_id = converted.json()["items"][0]["id"]
    ready = READY_FIELDS | {"status": "ready", "team_id": team.id}
    await api.patch(f"/api/v1/items/{item_id}", json=ready, headers=it)
    sprint = await make_sprint(session, team=team)
    await _plan(api, sprint.id, [item_id], it)
    url = f"/api/v1/requests/{request.id}"
    assert (await api.get(url, headers=it)).json()["status"] == "planned"  # sprint not started
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    assert (await api.get(url, headers=it)).json()["status"] == "in_delivery"
