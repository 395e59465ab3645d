"""A scripted sprint with scope added, removed and re-estimated: the report equals hand-computed
values, day by day in the team's time zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_ready_item, make_sprint, make_team, make_user

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class Clock:
    """Dates the events each step wrote, as if the step happened at that moment."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen = 0

    async def at(self, local: str) -> None:
        moment = datetime.fromisoformat(local).replace(tzinfo=AMSTERDAM)
        await self.session.execute(update(Event).where(Event.id > self.seen).values(at=moment))
        self.seen = (await self.session.scalar(select(func.max(Event.id)))) or 0


async def test_scripted_sprint_report(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session, timezone="Europe/Amsterdam", default_capacity_points=40)
    sprint = await make_sprint(session, team=team, start_date="2026-11-16", end_date="2026-11-20")
    a, b, c = [await make_ready_item(session, team=team, story_points=p) for p in (5, 3, 8)]
    d = await make_ready_item(session, team=team, story_points=2)
    clock = Clock(session)
    url = f"/api/v1/sprints/{sprint.id}"
    await api.post(f"{url}/items", json={"item_ids": [a.id, b.id, c.id]}, headers=it)
    await clock.at("2026-11-13T15:00")  # planned the Friday before
    await api.post(f"{url}/start", headers=it)
    await clock.at("2026-11-16T09:00")
    await api.patch(f"/api/v1/items/{a.id}", json={"status": "done"}, headers=it)
    await clock.at("2026-11-16T17:00")  # day 1 ends with 3 + 8 = 11
    await api.post(f"{url}/items", json={"item_ids": [d.id]}, headers=it)
    await clock.at("2026-11-17T00:30")  # after midnight in Amsterdam: day 2, 13 left
    await api.patch(f"/api/v1/items/{b.id}", json={"story_points": 5}, headers=it)
    await clock.at("2026-11-18T10:00")  # re-estimated: +2 scope
    await api.delete(f"{url}/items/{c.id}", headers=it)
    await clock.at("2026-11-18T11:00")  # removed: -8 scope; day 3 ends with 5 + 2 = 7
    await api.patch(f"/api/v1/items/{b.id}", json={"status": "done"}, headers=it)
    await clock.at("2026-11-19T16:00")  # day 4 ends with 2
    await api.post(f"{url}/close", json={"carry_over": "backlog"}, headers=it)
    await clock.at("2026-11-20T16:00")

    report = (await api.get(f"{url}/report", headers=it)).json()
    assert report["committed_points"] == 16
    assert report["added_points"] == 2 + 2
    assert report["removed_points"] == 8
    assert report["completed_points"] == 5 + 5
    assert report["carried_over_points"] == 2
    assert report["remaining_points"] == 0
    assert (
        report["committed_points"] + report["added_points"] - report["removed_points"]
        == report["completed_points"] + report["carried_over_points"]
    )
    assert [(day["date"], day["remaining_points"]) for day in report["burndown"]] == [
        ("2026-11-16", 11),
        ("2026-11-17", 13),
        ("2026-11-18", 7),
        ("2026-11-19", 2),
        ("2026-11-20", 2),
    ]


async def test_active_sprint_report_leaves_future_days_open(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team, start_date="2026-11-20", end_date="2027-01-02")
    item = await make_ready_item(session, team=team, story_points=3)
    await api.post(f"/api/v1/sprints/{sprint.id}/items", json={"item_ids": [item.id]}, headers=it)
    await api.post(f"/api/v1/sprints/{sprint.id}/start", headers=it)
    report = (await api.get(f"/api/v1/sprints/{sprint.id}/report", headers=it)).json()
    assert report["remaining_points"] == 3
    assert report["burndown"][0]["remaining_points"] == 3
    assert report["burndown"][-1] == {"date": "2027-01-02", "remaining_points": None}
    planned = await make_sprint(session, team=team)
    empty = (await api.get(f"/api/v1/sprints/{planned.id}/report", headers=it)).json()
    assert empty["burndown"] == []
