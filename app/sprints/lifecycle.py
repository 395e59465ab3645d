"""Starting a sprint (the commitment snapshot) and closing it (carry-over)."""

from fractional_indexing import generate_key_between
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import delivery, ranking
from app.backlog.models import BacklogItem, ItemStatus
from app.core.db import utcnow
from app.core.errors import Conflict, UnprocessableEntity
from app.core.events import record_event
from app.sprints import planning
from app.sprints.models import Sprint, SprintState
from app.sprints.service import get_sprint, record, touch
from app.users.models import Role, User
from app.users.service import ensure_role

FINISHED = (ItemStatus.DONE, ItemStatus.CANCELLED)


class SprintAlreadyActive(Conflict):
    slug, title = "sprint-already-active", "The team already has an active sprint"


class InvalidSprintTransition(Conflict):
    slug, title = "invalid-transition", "Not allowed in this state"


async def _items(session: AsyncSession, sprint: Sprint) -> list[BacklogItem]:
    query = select(BacklogItem).where(BacklogItem.sprint_id == sprint.id)
    return list(await session.scalars(query.order_by(BacklogItem.rank)))


async def _follow(session: AsyncSession, items: list[BacklogItem], actor: User) -> None:
    for request_id in sorted({i.request_id for i in items if i.request_id is not None}):
        await delivery.follow(session, request_id=request_id, actor=actor)


async def start(session: AsyncSession, *, sprint: Sprint, actor: User) -> None:
    """Start on any day; one active sprint per team; the commitment is what is in it now."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    await _ensure_startable(session, sprint)
    items = await _items(session, sprint)
    await _commit_to(session, sprint, items)
    record(
        session,
        "sprint.started",
        sprint,
        actor,
        {
            "committed_points": sprint.committed_points,
            "items": {str(i.id): {"points": i.story_points, "status": i.status} for i in items},
        },
    )
    await _follow(session, items, actor)


async def _ensure_startable(session: AsyncSession, sprint: Sprint) -> None:
    """Planned, dated, and no other active sprint in the team."""
    if sprint.state is not SprintState.PLANNED:
        raise InvalidSprintTransition(
            f"A sprint in state {sprint.state} cannot start.", state=sprint.state.value
        )
    if sprint.start_date is None or sprint.end_date is None:
        missing = [n for n in ("start_date", "end_date") if getattr(sprint, n) is None]
        raise UnprocessableEntity(
            "A sprint needs its dates to start.",
            errors=[{"loc": ["body", name], "msg": "required to start"} for name in missing],
        )
    active = await session.scalar(
        select(Sprint.id).where(
            Sprint.team_id == sprint.team_id, Sprint.state == SprintState.ACTIVE
        )
    )
    if active is not None:
        raise SprintAlreadyActive(f"Sprint {active} of this team is active; close it first.")


async def _commit_to(session: AsyncSession, sprint: Sprint, items: list[BacklogItem]) -> None:
    """Active, with its commitment: the points of the items in it now."""
    sprint.state, sprint.started_at = SprintState.ACTIVE, utcnow()
    sprint.committed_points = sum(
        i.story_points or 0 for i in items if i.status is not ItemStatus.CANCELLED
    )
    try:
        async with session.begin_nested():
            await session.flush()  # the partial unique index settles a race between replicas
    except IntegrityError as exc:
        raise SprintAlreadyActive("Another sprint of this team just started.") from exc


async def close(
    session: AsyncSession,
    *,
    sprint: Sprint,
    carry_over: str,
    next_sprint_id: int | None,
    actor: User,
) -> None:
    """Done items stay; unfinished ones go to the backlog top or into the next sprint."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    if sprint.state is not SprintState.ACTIVE:
        raise InvalidSprintTransition(
            f"A sprint in state {sprint.state} cannot close.", state=sprint.state.value
        )
    target = None if next_sprint_id is None else await _next_sprint(session, sprint, next_sprint_id)
    items = await _items(session, sprint)
    unfinished = [i for i in items if i.status not in FINISHED]
    completed = sum(i.story_points or 0 for i in items if i.status is ItemStatus.DONE)
    await _carry(session, sprint, unfinished, target, actor)
    sprint.state, sprint.closed_at, sprint.completed_points = (
        SprintState.CLOSED,
        utcnow(),
        completed,
    )
    await session.flush()
    record(
        session,
        "sprint.closed",
        sprint,
        actor,
        {
            "completed_points": completed,
            "carry_over": carry_over,
            "next_sprint_id": next_sprint_id,
            "carried_over": [{"item_id": i.id, "points": i.story_points} for i in unfinished],
        },
    )
    await _follow(session, items, actor)


async def _next_sprint(session: AsyncSession, sprint: Sprint, next_sprint_id: int) -> Sprint:
    target = await get_sprint(session, sprint_id=next_sprint_id, lock=True)
    if target.team_id != sprint.team_id or target.state is not SprintState.PLANNED:
        raise UnprocessableEntity(
            "Carry over goes into a planned sprint of the same team.",
            errors=[
                {"loc": ["body", "next_sprint_id"], "msg": "not a planned sprint of this team"}
            ],
        )
    return target


async def _carry(
    session: AsyncSession,
    sprint: Sprint,
    items: list[BacklogItem],
    target: Sprint | None,
    actor: User,
) -> None:
    """Unfinished items to the next sprint (its limits waived and recorded), or to the top of
    the team's backlog in the order they had."""
    if target is not None and items:
        reason = f"carried over from sprint {sprint.id}"
        if waived := await planning.check_limits(session, target, items, reason):
            ids = [i.id for i in items]
            record(
                session,
                "sprint.override",
                target,
                actor,
                {"reason": reason, "item_ids": ids, **waived},
            )
    top = None
    if target is None and items:
        await ranking.lock_backlog(session, sprint.team_id)
        top = await ranking.rank_at(session, backlog=sprint.team_id, position="top")
    if target is not None and items:
        touch(target)
    for item in reversed(items):
        item.sprint_id = target.id if target else None
        if top is not None:
            top = item.rank = generate_key_between(None, top)
        await session.flush()
        _record_carry(session, sprint, item, target, actor)


def _record_carry(
    session: AsyncSession, sprint: Sprint, item: BacklogItem, target: Sprint | None, actor: User
) -> None:
    if target is not None:
        added = {
            "item_id": item.id,
            "points": item.story_points,
            "status": item.status,
            "carried_from": sprint.id,
        }
        record(session, "sprint.item_added", target, actor, added)
    moved = {"from_sprint_id": sprint.id, "to_sprint_id": target.id if target else None}
    record_event(
        session,
        type="item.carried_over",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data=moved,
    )
