"""Sprints: create, read, edit, list; planning in `planning.py`, lifecycle in `lifecycle.py`."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, UnprocessableEntity
from app.core.events import diff, record_event
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.sprints.models import Sprint, SprintState
from app.sprints.schemas import MAX_SPRINT_DAYS, SprintCreate, SprintUpdate
from app.teams import service as teams_service
from app.users.models import Role, User
from app.users.service import ensure_role

FIELDS = ("name", "goal", "start_date", "end_date", "capacity_points")


class SprintClosed(Conflict):
    slug, title = "sprint-closed", "Sprint is closed"


def snapshot(sprint: Sprint) -> dict[str, Any]:
    return {name: getattr(sprint, name) for name in FIELDS}


def record(session: AsyncSession, type: str, sprint: Sprint, actor: User, data: Any) -> None:
    record_event(
        session, type=type, entity="sprint", entity_id=sprint.id, actor_id=actor.id, data=data
    )


def ensure_open(sprint: Sprint) -> None:
    if sprint.state is SprintState.CLOSED:
        raise SprintClosed(f"Sprint {sprint.id} is closed and read-only.")


async def get_sprint(session: AsyncSession, *, sprint_id: int, lock: bool = False) -> Sprint:
    """The sprint; `lock` holds its row until commit, serialising planning on PostgreSQL."""
    query = select(Sprint).where(Sprint.id == sprint_id).execution_options(populate_existing=True)
    sprint = await session.scalar(query.with_for_update() if lock else query)
    if sprint is None:
        raise NotFound("sprint", sprint_id)
    return sprint


def touch(sprint: Sprint) -> None:
    """The sprint's figures changed (its items, their points, its commitment): its next flush
    writes the row, and the ORM's version counter moves its `version` and ETag on, so a client
    holding the old one sees it is stale. Call it only on a sprint read with `lock=True`: the
    write checks the version read, and the lock keeps a concurrent planner from changing it."""
    sprint.updated_at = utcnow()


async def figures_changed(session: AsyncSession, *, sprint_id: int) -> None:
    """An item of this sprint changed its points: `touch` it, its row locked first. Call it
    before the item's own row is written: planning locks the sprint, then writes items; the
    same order here means the two wait for each other instead of deadlocking."""
    touch(await get_sprint(session, sprint_id=sprint_id, lock=True))


async def create_sprint(session: AsyncSession, *, data: SprintCreate, actor: User) -> Sprint:
    ensure_role(actor, Role.IT, Role.ADMIN)
    if not await teams_service.team_exists(session, data.team_id):
        raise UnprocessableEntity(
            f"There is no team {data.team_id}.",
            errors=[{"loc": ["body", "team_id"], "msg": "no such team"}],
        )
    team = await teams_service.get_team(session, team_id=data.team_id)
    capacity = data.capacity_points
    sprint = Sprint(
        **data.model_dump(exclude={"capacity_points"}),
        capacity_points=team.default_capacity_points if capacity is None else capacity,
    )
    session.add(sprint)
    await session.flush()
    record(session, "sprint.created", sprint, actor, {"before": {}, "after": snapshot(sprint)})
    return sprint


async def update_sprint(
    session: AsyncSession, *, sprint: Sprint, data: SprintUpdate, actor: User
) -> Sprint:
    ensure_role(actor, Role.IT, Role.ADMIN)
    ensure_open(sprint)
    changes = data.model_dump(exclude_unset=True)
    reject_nulls(changes, ("name", "capacity_points"))
    before = snapshot(sprint)
    for name, value in changes.items():
        setattr(sprint, name, value)
    start, end = sprint.start_date, sprint.end_date
    if start and end and not 0 <= (end - start).days < MAX_SPRINT_DAYS:
        raise UnprocessableEntity(
            f"A sprint ends on or after its start, within {MAX_SPRINT_DAYS} days.",
            errors=[{"loc": ["body", "end_date"], "msg": "out of range"}],
        )
    if (change := diff(before, snapshot(sprint)))["after"]:
        await session.flush()
        record(session, "sprint.updated", sprint, actor, change)
    return sprint


async def list_sprints(
    session: AsyncSession,
    *,
    team_id: int | None,
    state: SprintState | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[Sprint], int | None]:
    query = select(Sprint).order_by(Sprint.id).limit(row_limit(limit + 1))
    if team_id is not None:
        query = query.where(Sprint.team_id == team_id)
    if state is not None:
        query = query.where(Sprint.state == state)
    if after_id is not None:
        query = query.where(Sprint.id > after_id)
    sprints, last = page_of(list(await session.scalars(query)), limit)
    return sprints, last.id if last else None


async def planned_points(session: AsyncSession, sprint_ids: list[int]) -> dict[int, int]:
    """Points currently in each sprint, for many sprints in one query."""
    totals = dict.fromkeys(sprint_ids, 0)
    if sprint_ids:
        rows = await session.execute(
            select(BacklogItem.sprint_id, func.coalesce(func.sum(BacklogItem.story_points), 0))
            .where(BacklogItem.sprint_id.in_(sprint_ids))
            .group_by(BacklogItem.sprint_id)
        )
        for sprint_id, total in rows:
            if sprint_id is not None:
                totals[sprint_id] = int(total or 0)
    return totals
