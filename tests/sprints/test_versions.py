"""A sprint's ETag and `version` move on whenever what GET /sprints/{id} shows changes: the
items in it, their points, its commitment; concurrent planning loses neither items nor steps."""

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient, Response
from app.users.models import Role
from tests.builders import make_ready_item, make_sprint, make_team, make_user
from tests.core.test_errors import assert_problem
from tests.live import LiveApp, live_app


def _shown(resp: Response) -> tuple[int, str, int]:
    """(planned_points, ETag, version) of a sprint answer; ETag and version must agree."""
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert resp.headers["etag"] == f'"{body["version"]}"'
    return body["planned_points"], resp.headers["etag"], body["version"]


async def test_planning_and_removing_items_moves_the_sprints_etag(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=40)
    sprint = await make_sprint(session, team=team)
    five, eight, two = [
        await make_ready_item(session, team=team, story_points=points) for points in (5, 8, 2)
    ]
    url = f"/api/v1/sprints/{sprint.id}"
    seen = [_shown(await api.get(url, headers=it))]

    planned = await api.post(
        f"{url}/items", json={"item_ids": [five.id, eight.id, two.id]}, headers=it
    )
    seen.append(_shown(planned))
    removed = await api.delete(f"{url}/items/{two.id}", headers=it)
    assert removed.status_code == 204, removed.text
    seen.append(_shown(await api.get(url, headers=it)))
    seen.append(_shown(await api.post(f"{url}/items", json={"item_ids": [two.id]}, headers=it)))

    assert [points for points, _, _ in seen] == [0, 15, 13, 15]
    etags = [etag for _, etag, _ in seen]
    assert len(set(etags)) == len(etags), f"an ETag outlived a change: {etags}"
    # A client still holding the ETag of 13 points cannot edit the sprint of 15 blindly.
    stale = await api.patch(url, json={"goal": "Ship"}, headers=it | {"If-Match": etags[2]})
    assert_problem(stale, 412, "precondition-failed")


async def test_re_estimating_an_item_moves_its_sprints_etag(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=40)
    sprint = await make_sprint(session, team=team)
    item = await make_ready_item(session, team=team, story_points=8)
    url = f"/api/v1/sprints/{sprint.id}"
    before = _shown(await api.post(f"{url}/items", json={"item_ids": [item.id]}, headers=it))

    resp = await api.patch(f"/api/v1/items/{item.id}", json={"story_points": 13}, headers=it)
    assert resp.status_code == 200, resp.text
    after = _shown(await api.get(url, headers=it))
    assert (before[0], after[0]) == (8, 13)
    assert after[2] > before[2]

    # Its status is not a figure the sprint shows: the ETag stays.
    resp = await api.patch(f"/api/v1/items/{item.id}", json={"status": "in_progress"}, headers=it)
    assert resp.status_code == 200, resp.text
    assert _shown(await api.get(url, headers=it)) == after


async def test_carry_over_and_reopening_move_the_etags_of_both_sprints(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, default_capacity_points=40)
    sprint, following = await make_sprint(session, team=team), await make_sprint(session, team=team)
    done, open_ = [await make_ready_item(session, team=team, story_points=p) for p in (5, 3)]
    url, next_url = f"/api/v1/sprints/{sprint.id}", f"/api/v1/sprints/{following.id}"
    await api.post(f"{url}/items", json={"item_ids": [done.id, open_.id]}, headers=it)
    await api.post(f"{url}/start", headers=it)
    await api.patch(f"/api/v1/items/{done.id}", json={"status": "done"}, headers=it)
    next_before = _shown(await api.get(next_url, headers=it))

    closed = await api.post(
        f"{url}/close", json={"carry_over": "next", "next_sprint_id": following.id}, headers=it
    )
    next_after = _shown(await api.get(next_url, headers=it))
    assert (next_before[0], next_after[0]) == (0, 3)
    assert next_after[2] > next_before[2]

    closed_before = _shown(closed)
    reopened = await api.patch(
        f"/api/v1/items/{done.id}", json={"status": "in_progress"}, headers=it
    )
    assert reopened.json()["sprint_id"] is None  # it left the closed sprint
    closed_after = _shown(await api.get(url, headers=it))
    assert (closed_before[0], closed_after[0]) == (5, 0)
    assert closed_after[2] > closed_before[2]


async def _plan_one_by_one(live: LiveApp, sprint_id: int, item_ids: list[int]) -> list[int]:
    headers = await live.user(Role.IT)
    url = f"/api/v1/sprints/{sprint_id}/items"
    answers = await asyncio.gather(
        *(live.api.post(url, json={"item_ids": [i]}, headers=headers) for i in item_ids)
    )
    return [a.status_code for a in answers]


async def test_concurrent_planning_and_re_estimating_lose_no_item_and_no_version(
    database_url: str, tmp_path: Path
) -> None:
    async with live_app(database_url, tmp_path) as live:
        async with live.sessions() as session:
            team = await make_team(session, default_capacity_points=100)
            sprint = await make_sprint(session, team=team)
            planned = [await make_ready_item(session, team=team, story_points=5)]
            waiting = [await make_ready_item(session, team=team, story_points=3) for _ in range(6)]
            await session.commit()
        it = await live.user(Role.IT)
        url = f"/api/v1/sprints/{sprint.id}"
        await live.api.post(f"{url}/items", json={"item_ids": [planned[0].id]}, headers=it)
        start = _shown(await live.api.get(url, headers=it))

        statuses, re_estimated = await asyncio.gather(
            _plan_one_by_one(live, sprint.id, [i.id for i in waiting]),
            live.api.patch(f"/api/v1/items/{planned[0].id}", json={"story_points": 8}, headers=it),
        )

        assert statuses == [200] * len(waiting)
        assert re_estimated.status_code == 200, re_estimated.text
        points, _, version = _shown(await live.api.get(url, headers=it))
        assert points == 8 + 3 * len(waiting)
        assert version == start[2] + len(waiting) + 1  # one step per change, none lost
