"""Sprint planning that respects IT's rules: readiness, clearance, capacity, stability budget."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import delivery, ranking, readiness
from app.backlog.models import BacklogItem, ItemStatus
from app.core.errors import Conflict, NotFound, UnprocessableEntity
from app.core.events import record_event
from app.requests.models import Impact
from app.sprints.models import Sprint, SprintState
from app.sprints.service import ensure_open, record, touch
from app.teams import service as teams_service
from app.users.models import Role, User
from app.users.service import ensure_role

PLANNABLE = (ItemStatus.READY, ItemStatus.IN_PROGRESS, ItemStatus.IN_REVIEW)
RISKY = (Impact.HIGH, Impact.CRITICAL)


class ItemsRefused(Conflict):
    slug, title = "not-ready", "Items cannot join this sprint"


class OverCapacity(Conflict):
    slug, title = "over-capacity", "Over the sprint's capacity"


class OverStabilityBudget(Conflict):
    slug, title = "over-stability-budget", "Over the team's stability budget"


def _refusals(
    item: BacklogItem, sprint: Sprint, open_sprints: set[int], children: list[BacklogItem]
) -> list[str]:
    reasons = []
    if item.status not in PLANNABLE:
        reasons.append(f"status is {item.status}; only ready or started items join a sprint")
    if item.review_required and not item.security_cleared:
        reasons.append("needs security clearance")
    elif missing := [
        m for m in readiness.missing_for_ready(item, children) if m != "security_cleared"
    ]:
        reasons.append(f"no longer meets the Definition of Ready: missing {'; '.join(missing)}")
    if item.team_id not in (None, sprint.team_id):
        reasons.append(f"belongs to team {item.team_id}")
    if item.sprint_id in open_sprints and item.sprint_id != sprint.id:
        reasons.append(f"already in open sprint {item.sprint_id}")
    return reasons


async def _load(session: AsyncSession, item_ids: list[int]) -> list[BacklogItem]:
    items = list(await session.scalars(select(BacklogItem).where(BacklogItem.id.in_(item_ids))))
    if missing := sorted(set(item_ids) - {item.id for item in items}):
        raise UnprocessableEntity(
            "Some items do not exist.",
            errors=[{"loc": ["body", "item_ids"], "msg": f"no item {i}"} for i in missing],
        )
    return items


async def _open_sprints(session: AsyncSession, items: list[BacklogItem]) -> set[int]:
    ids = {item.sprint_id for item in items if item.sprint_id is not None}
    if not ids:
        return set()
    query = select(Sprint.id).where(Sprint.id.in_(ids), Sprint.state != SprintState.CLOSED)
    return set(await session.scalars(query))


async def check_limits(
    session: AsyncSession, sprint: Sprint, new: list[BacklogItem], override: str | None
) -> dict[str, object]:
    """Capacity and stability budget after adding `new`; returns what an override waived."""
    present = list(
        await session.scalars(select(BacklogItem).where(BacklogItem.sprint_id == sprint.id))
    )
    counted = [i for i in present + new if i.status is not ItemStatus.CANCELLED]
    points = sum(i.story_points or 0 for i in counted)
    risky = sum(1 for i in counted if i.stability_impact in RISKY)
    team = await teams_service.get_team(session, team_id=sprint.team_id)
    waived: dict[str, object] = {}
    if points > sprint.capacity_points:
        waived["over_capacity"] = {"points": points, "capacity_points": sprint.capacity_points}
        if override is None:
            raise OverCapacity(
                f"{points} points exceed the capacity of {sprint.capacity_points}; "
                "give override_reason to plan anyway.",
                **waived["over_capacity"],  # type: ignore[arg-type]
            )
    if risky > team.stability_budget:
        waived["over_stability_budget"] = {
            "risky_items": risky,
            "stability_budget": team.stability_budget,
        }
        if override is None:
            raise OverStabilityBudget(
                f"{risky} high/critical stability-impact items exceed the team's budget of "
                f"{team.stability_budget}; give override_reason to plan anyway.",
                **waived["over_stability_budget"],  # type: ignore[arg-type]
            )
    return waived


async def add_items(
    session: AsyncSession,
    *,
    sprint: Sprint,
    item_ids: list[int],
    override_reason: str | None,
    actor: User,
) -> list[BacklogItem]:
    """Add items to a planned or active sprint: all of them, or none (409 says why)."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    ensure_open(sprint)
    items = await _load(session, list(dict.fromkeys(item_ids)))
    open_sprints = await _open_sprints(session, items)
    children = await readiness.children_of(session, items)
    refused = [
        {"item_id": i.id, "reasons": r}
        for i in items
        if (r := _refusals(i, sprint, open_sprints, children.get(i.id, [])))
    ]
    if refused:
        raise ItemsRefused(
            f"{len(refused)} of {len(items)} items cannot join: nothing was added.",
            refused=refused,
        )
    new = [item for item in items if item.sprint_id != sprint.id]
    waived = await check_limits(session, sprint, new, override_reason)
    if waived:
        record(
            session,
            "sprint.override",
            sprint,
            actor,
            {"reason": override_reason, "item_ids": [i.id for i in new], **waived},
        )
    for item in new:
        await _join(session, sprint, item, actor)
    if new:
        touch(sprint)
    await _follow_requests(session, new, actor)
    return items


async def _join(session: AsyncSession, sprint: Sprint, item: BacklogItem, actor: User) -> None:
    if item.team_id is None:  # a team-less item joins the team's backlog, at its bottom
        await ranking.lock_backlog(session, sprint.team_id)
        rank = await ranking.rank_at(
            session, backlog=sprint.team_id, position="bottom", moving=item.id
        )
        item.team_id, item.backlog, item.rank = sprint.team_id, sprint.team_id, rank
    before = item.sprint_id
    item.sprint_id = sprint.id
    await session.flush()
    record(
        session,
        "sprint.item_added",
        sprint,
        actor,
        {"item_id": item.id, "points": item.story_points, "status": item.status},
    )
    record_event(
        session,
        type="item.sprint_changed",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data={"before": {"sprint_id": before}, "after": {"sprint_id": sprint.id}},
    )


async def _follow_requests(session: AsyncSession, items: list[BacklogItem], actor: User) -> None:
    for request_id in sorted({i.request_id for i in items if i.request_id is not None}):
        await delivery.follow(session, request_id=request_id, actor=actor)


async def remove_item(session: AsyncSession, *, sprint: Sprint, item_id: int, actor: User) -> None:
    """Return an item to its team's backlog (it keeps its place there)."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    ensure_open(sprint)
    item = await session.get(BacklogItem, item_id)
    if item is None or item.sprint_id != sprint.id:
        raise NotFound("item in this sprint", item_id)
    item.sprint_id = None
    touch(sprint)
    await session.flush()
    record(
        session,
        "sprint.item_removed",
        sprint,
        actor,
        {"item_id": item.id, "points": item.story_points, "status": item.status},
    )
    record_event(
        session,
        type="item.sprint_changed",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data={"before": {"sprint_id": sprint.id}, "after": {"sprint_id": None}},
    )
    await _follow_requests(session, [item], actor)
