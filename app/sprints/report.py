"""Sprint numbers computed from the event log, so scope changes mid-sprint keep them true.

Replays, in order, the sprint's own events (start, items added or removed, close) and the
events of every item that was in it: a re-estimate counts as scope added or removed, a
cancelled item as removed, a reopened one as added back.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.events import Event
from app.core.pagination import row_limit
from app.sprints.models import Sprint, SprintState
from app.sprints.schemas import BurndownDay, SprintReport
from app.teams import service as teams_service
from app.teams.schemas import Velocity, VelocitySprint

DONE, CANCELLED = "done", "cancelled"


@dataclass
class _Replay:
    items: dict[int, dict[str, Any]]  # item id -> {"points", "status"}
    added: int = 0
    removed: int = 0
    day_end: dict[date, int] = field(default_factory=dict)

    @staticmethod
    def _counts(state: dict[str, Any]) -> int:
        return 0 if state["status"] == CANCELLED else state["points"] or 0

    def scope(self, delta: int) -> None:
        if delta > 0:
            self.added += delta
        else:
            self.removed -= delta

    def remaining(self) -> int:
        return sum(self._counts(s) for s in self.items.values() if s["status"] != DONE)

    def completed(self) -> int:
        return sum(s["points"] or 0 for s in self.items.values() if s["status"] == DONE)

    def apply(self, event: Event) -> None:
        data = event.data
        if event.type == "sprint.item_added":
            state = {"points": data["points"], "status": data["status"]}
            self.items[data["item_id"]] = state
            self.scope(self._counts(state))
        elif event.type == "sprint.item_removed" and data["item_id"] in self.items:
            self.scope(-self._counts(self.items.pop(data["item_id"])))
        elif event.type == "item.updated" and event.entity_id in self.items:
            state = self.items[event.entity_id]
            before = self._counts(state)
            after_fields = data.get("after", {})
            if "story_points" in after_fields:
                state["points"] = after_fields["story_points"]
            if "status" in after_fields:
                state["status"] = after_fields["status"]
            self.scope(self._counts(state) - before)


async def _events(session: AsyncSession, sprint: Sprint, start: Event) -> list[Event]:
    """The sprint's events after its start, and those of any item it ever held."""
    added = select(Event.data).where(
        Event.entity == "sprint", Event.entity_id == sprint.id, Event.type == "sprint.item_added"
    )
    item_ids = {int(i) for i in start.data["items"]}
    item_ids |= {data["item_id"] for data in await session.scalars(added)}
    query = (
        select(Event)
        .where(
            Event.id > start.id,
            or_(
                (Event.entity == "sprint") & (Event.entity_id == sprint.id),
                (Event.entity == "item") & Event.entity_id.in_(item_ids or {0}),
            ),
        )
        .order_by(Event.id)
    )
    return list(await session.scalars(query))


async def sprint_report(session: AsyncSession, *, sprint: Sprint) -> SprintReport:
    team = await teams_service.get_team(session, team_id=sprint.team_id)
    zone = ZoneInfo(team.timezone)
    start = await session.scalar(
        select(Event).where(
            Event.entity == "sprint", Event.entity_id == sprint.id, Event.type == "sprint.started"
        )
    )
    if start is None:  # not started: everything planned so far is the would-be commitment
        return _unstarted(sprint)
    replay = _Replay(items={int(k): dict(v) for k, v in start.data["items"].items()})
    committed = int(start.data["committed_points"])
    replay.day_end[_local(start.at, zone)] = replay.remaining()
    carried = 0
    for event in await _events(session, sprint, start):
        if event.type == "sprint.closed":
            carried = sum(c["points"] or 0 for c in event.data["carried_over"])
            replay.day_end[_local(event.at, zone)] = replay.remaining()
            break
        replay.apply(event)
        replay.day_end[_local(event.at, zone)] = replay.remaining()
    return SprintReport(
        sprint_id=sprint.id,
        state=sprint.state,
        committed_points=committed,
        added_points=replay.added,
        removed_points=replay.removed,
        completed_points=replay.completed(),
        carried_over_points=carried,
        remaining_points=0 if sprint.state is SprintState.CLOSED else replay.remaining(),
        burndown=_burndown(sprint, replay.day_end, committed, zone),
    )


def _local(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _burndown(
    sprint: Sprint, day_end: dict[date, int], committed: int, zone: ZoneInfo
) -> list[BurndownDay]:
    """Remaining points at the end of each sprint day; null for days still to come."""
    assert sprint.start_date is not None, "a started sprint has dates"
    assert sprint.end_date is not None, "a started sprint has dates"
    today = _local(utcnow(), zone)
    last_known, known_days = committed, sorted(day_end)
    days, day = [], sprint.start_date
    earlier = [d for d in known_days if d < day]  # started late: what stood at the start
    if earlier:
        last_known = day_end[earlier[-1]]
    while day <= sprint.end_date:
        if day in day_end:
            last_known = day_end[day]
        future = sprint.state is not SprintState.CLOSED and day > today
        days.append(BurndownDay(date=day, remaining_points=None if future else last_known))
        day += timedelta(days=1)
    return days


def _unstarted(sprint: Sprint) -> SprintReport:
    return SprintReport(
        sprint_id=sprint.id,
        state=sprint.state,
        committed_points=0,
        added_points=0,
        removed_points=0,
        completed_points=0,
        carried_over_points=0,
        remaining_points=0,
        burndown=[],
    )


async def velocity(session: AsyncSession, *, team_id: int, last: int) -> Velocity:
    """Committed vs completed points of the team's last closed sprints, and their averages."""
    query = (
        select(Sprint)
        .where(Sprint.team_id == team_id, Sprint.state == SprintState.CLOSED)
        .order_by(Sprint.closed_at.desc(), Sprint.id.desc())
        .limit(row_limit(last))
    )
    sprints = list(await session.scalars(query))[::-1]
    rows = [
        VelocitySprint(
            sprint_id=s.id,
            name=s.name,
            end_date=str(s.end_date),
            committed_points=s.committed_points or 0,
            completed_points=s.completed_points or 0,
        )
        for s in sprints
    ]
    count = len(rows)
    return Velocity(
        team_id=team_id,
        sprints=rows,
        average_committed=round(sum(r.committed_points for r in rows) / count, 2)
        if count
        else None,
        average_completed=round(sum(r.completed_points for r in rows) / count, 2)
        if count
        else None,
    )
