"""Backlog items: create, read, edit, list. Status and readiness: `readiness.py`."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, with_expression

from app.backlog import delivery, ranking, readiness
from app.backlog.models import BacklogItem, ItemStatus, ItemType, compute_wsjf
from app.backlog.schemas import NOT_NULL_ON_UPDATE, ItemCreate, ItemUpdate
from app.core.db import on_postgresql
from app.core.errors import Conflict, NotFound, UnprocessableEntity
from app.core.events import ActorKind, diff, record_event
from app.core.outbox import queue_item_push
from app.core.pagination import Keyset, keyset_page, row_limit
from app.core.schemas import contains_pattern, reject_nulls
from app.requests.models import IMPACT_ORDER, Impact
from app.sprints import service as sprints_service
from app.sprints.models import Sprint, SprintState
from app.teams.service import TEAM_COUNT, team_exists
from app.users.models import Role, User
from app.users.service import ensure_role

SNAPSHOT_FIELDS = (
    "type",
    "title",
    "description",
    "acceptance_criteria",
    "status",
    "story_points",
    "business_value",
    "time_criticality",
    "risk_reduction",
    "stability_impact",
    "security_impact",
    "data_classification",
    "personal_data",
    "external_exposure",
    "security_cleared",
    "parent_id",
    "team_id",
    "sprint_id",
    "assignee_id",
    "labels",
    "target",
    "request_id",
)
SORTS = {
    "rank": BacklogItem.rank,
    "wsjf": BacklogItem.wsjf,
    "created_at": BacklogItem.created_at,
    "updated_at": BacklogItem.updated_at,
}


class ItemInUse(Conflict):
    slug, title = "item-in-use", "Item still in use"


def snapshot(item: BacklogItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in SNAPSHOT_FIELDS}


def _record(
    session: AsyncSession, type: str, item: BacklogItem, actor: User | None, data: Any
) -> None:
    """`actor` None: a tracker integration made the change (auto-import, webhooks)."""
    kind = ActorKind.USER if actor else ActorKind.INTEGRATION
    record_event(
        session,
        type=type,
        entity="item",
        entity_id=item.id,
        actor_id=actor.id if actor else None,
        actor_kind=kind,
        data=data,
    )


async def get_item(session: AsyncSession, *, item_id: int, to_rank: bool = False) -> BacklogItem:
    """The item (404). `to_rank`: for a writer that ranks it next, which takes its backlog's
    lock (`ranking.lock_backlog`): on PostgreSQL the lock comes with the item, one statement
    fewer. The item is read as of the statement's start, before the lock, as it was when
    read first: an edit committed meanwhile fails the version check (409)."""
    if not to_rank or not on_postgresql(session):
        item = await session.get(BacklogItem, item_id, populate_existing=True)
    else:
        query = _ITEM_TO_RANK.execution_options(populate_existing=True)
        item = (await session.execute(query, {"item_id": item_id})).scalar()
        if item is not None:
            ranking.note_locked(session, item.backlog)
    if item is None:
        raise NotFound("item", item_id)
    return item


_ITEM_TO_RANK = select(BacklogItem, ranking.backlog_lock(BacklogItem.backlog)).where(
    BacklogItem.id == bindparam("item_id")
)


async def add_item(session: AsyncSession, item: BacklogItem, *, actor: User | None) -> BacklogItem:
    """Insert at the bottom of its backlog."""
    await _check_references(session, item, to_rank=True)
    item.backlog = item.team_id or 0
    item.wsjf = compute_wsjf(item)
    await ranking.lock_backlog(session, item.backlog)
    item.rank = await ranking.rank_at(session, backlog=item.backlog, position="bottom")
    session.add(item)
    await session.flush()
    _record(session, "item.created", item, actor, {"before": {}, "after": snapshot(item)})
    return item


async def create_item(session: AsyncSession, *, data: ItemCreate, actor: User) -> BacklogItem:
    ensure_role(actor, Role.IT, Role.ADMIN)
    return await add_item(session, BacklogItem(**data.model_dump()), actor=actor)


async def update_item(
    session: AsyncSession, *, item: BacklogItem, data: ItemUpdate, actor: User
) -> BacklogItem:
    changes = data.model_dump(exclude_unset=True)
    readiness.authorize_edit(actor, changes)
    reject_nulls(changes, NOT_NULL_ON_UPDATE)
    before = snapshot(item)
    new_status = changes.pop("status", None)
    await _sprint_rules(session, item, changes, new_status)
    readiness.apply_impacts(item, changes, actor)
    for name, value in changes.items():
        setattr(item, name, value)
    await _check_references(session, item, to_rank=(item.team_id or 0) != item.backlog)
    if new_status is not None:
        await readiness.check_status_change(session, item, ItemStatus(new_status))
        item.status = ItemStatus(new_status)
    item.wsjf = compute_wsjf(item)
    if (backlog := item.team_id or 0) != item.backlog:  # a new team: the bottom of its backlog
        with session.no_autoflush:  # the old rank must not land in the new backlog first
            await ranking.lock_backlog(session, backlog)
            rank = await ranking.rank_at(
                session, backlog=backlog, position="bottom", moving=item.id
            )
        item.backlog, item.rank = backlog, rank
    change = diff(before, snapshot(item))
    if change["after"]:
        await session.flush()
        _record(session, "item.updated", item, actor, change)
        await queue_item_push(session, item_id=item.id)  # linked trackers follow (outbox)
    if "status" in change["after"] and item.request_id is not None:
        await delivery.follow(session, request_id=item.request_id, actor=actor)
    return item


async def _sprint_rules(
    session: AsyncSession, item: BacklogItem, changes: dict[str, Any], new_status: Any
) -> None:
    """An item in a sprint keeps its team; reopening or re-estimating an item of a closed
    sprint takes it back to the backlog, leaving the closed sprint's numbers as they were."""
    if item.sprint_id is None:
        return
    if "team_id" in changes and changes["team_id"] != item.team_id:
        raise ItemInUse("Take the item out of its sprint before moving it to another team.")
    state = await session.scalar(select(Sprint.state).where(Sprint.id == item.sprint_id))
    repointed = changes.get("story_points", item.story_points) != item.story_points
    reworked = new_status not in (None, item.status) or repointed
    if repointed or (state is SprintState.CLOSED and reworked):  # the sprint's figures change
        await sprints_service.figures_changed(session, sprint_id=item.sprint_id)
    if state is SprintState.CLOSED and reworked:
        item.sprint_id = None


async def _check_references(session: AsyncSession, item: BacklogItem, *, to_rank: bool) -> None:
    """422 for references to nothing. `to_rank`: the item is about to be ranked in its team's
    backlog, whose lock the team's check then takes (`_team_exists`)."""
    errors: list[dict[str, Any]] = []
    if item.parent_id is not None:
        parent = await session.get(BacklogItem, item.parent_id)
        if parent is None or parent.type is not ItemType.EPIC:
            errors.append({"loc": ["body", "parent_id"], "msg": "must be an existing epic"})
        elif item.type is ItemType.EPIC or parent.id == item.id:
            errors.append({"loc": ["body", "parent_id"], "msg": "epics do not nest"})
    if item.team_id is not None and not await _team_exists(session, item.team_id, to_rank):
        errors.append({"loc": ["body", "team_id"], "msg": "no such team"})
    if item.assignee_id is not None:
        assignee = await session.get(User, item.assignee_id)
        if assignee is None or not assignee.active:
            errors.append({"loc": ["body", "assignee_id"], "msg": "must be an active user"})
    if item.type is not ItemType.EPIC and item.id is not None:
        has_children = await session.scalar(
            select(BacklogItem.id).where(BacklogItem.parent_id == item.id).limit(row_limit(1))
        )
        if has_children:
            errors.append({"loc": ["body", "type"], "msg": "an item with children is an epic"})
    if errors:
        raise UnprocessableEntity("Some references are not valid.", errors=errors)


async def _team_exists(session: AsyncSession, team_id: int, to_rank: bool) -> bool:
    """`team_exists`; for a writer about to rank an item in the team's backlog, on PostgreSQL,
    the same statement takes that backlog's lock (`ranking.lock_backlog`): a create is one
    round trip shorter."""
    if not to_rank or not on_postgresql(session):
        return await team_exists(session, team_id)
    found = bool(await session.scalar(_TEAM_COUNT_LOCKING_BACKLOG, {"team_id": team_id}))
    ranking.note_locked(session, team_id)
    return found


_TEAM_COUNT_LOCKING_BACKLOG = TEAM_COUNT.add_columns(
    ranking.backlog_lock(bindparam("team_id", type_=Integer))
)


async def move_item(
    session: AsyncSession,
    *,
    item: BacklogItem,
    before_id: int | None,
    after_id: int | None,
    position: ranking.Position | None,
    actor: User,
) -> BacklogItem:
    """Put the item at a new place in its backlog; writes this one row (rarely a few more)."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    await ranking.lock_backlog(session, item.backlog)  # before the anchor is read
    anchor_id = before_id if before_id is not None else after_id
    field = "before_id" if before_id is not None else "after_id"
    anchor = None if anchor_id is None else await _anchor(session, item, anchor_id, field)
    old_rank = item.rank
    item.rank = await ranking.rank_at(
        session,
        backlog=item.backlog,
        position=position,
        moving=item.id,
        before=anchor if before_id is not None else None,
        after=anchor if after_id is not None else None,
    )
    moved = {"before": {"rank": old_rank}, "after": {"rank": item.rank}}
    _record(session, "item.moved", item, actor, moved)
    return item


async def _anchor(
    session: AsyncSession, item: BacklogItem, anchor_id: int, field: str
) -> BacklogItem:
    anchor = await session.get(BacklogItem, anchor_id)
    if anchor is None or anchor.id == item.id or anchor.backlog != item.backlog:
        raise UnprocessableEntity(
            "The anchor must be another item of the same backlog.",
            errors=[{"loc": ["body", field], "msg": "not another item of this backlog"}],
        )
    return anchor


def _rollup_points() -> ColumnElement[int | None]:
    """For an epic, the sum of its children's points (0 without any); None for other items."""
    child = aliased(BacklogItem)
    children = (
        select(func.coalesce(func.sum(child.story_points), 0))
        .where(child.parent_id == BacklogItem.id)
        .scalar_subquery()
    )
    return case((BacklogItem.type == ItemType.EPIC, children), else_=None)


# The page's epic roll-ups in the page query itself (one round trip fewer per page).
WITH_ROLLUP = with_expression(BacklogItem.rollup_points, _rollup_points())


async def list_items(
    session: AsyncSession, *, filters: dict[str, Any], sort: str, limit: int, cursor: str | None
) -> tuple[list[BacklogItem], str | None]:
    """A page of items, each with `rollup_points` filled."""
    keyset = Keyset.parse(sort, SORTS, tie_breaker=BacklogItem.id)
    dialect = session.get_bind().dialect.name
    query = filtered(select(BacklogItem).options(WITH_ROLLUP), **filters, dialect=dialect)
    return await keyset_page(session, query, keyset=keyset, limit=limit, cursor=cursor)


def _at_least(level: Impact) -> list[Impact]:
    return [i for i in Impact if IMPACT_ORDER[i] >= IMPACT_ORDER[level]]


def filtered(
    query: Select[BacklogItem],
    *,
    status: list[ItemStatus],
    type: ItemType | None,
    team_id: int | None,
    sprint_id: int | None,
    backlog_only: bool,
    request_id: int | None,
    label: str | None,
    assignee_id: int | None,
    min_stability_impact: Impact | None,
    min_security_impact: Impact | None,
    q: str | None,
    updated_since: datetime | None,
    dialect: str,
) -> Select[BacklogItem]:
    item = BacklogItem
    equal = {
        item.type: type,
        item.team_id: team_id,
        item.request_id: request_id,
        item.assignee_id: assignee_id,
        item.sprint_id: sprint_id,
    }
    conditions = [column == value for column, value in equal.items() if value is not None]
    if backlog_only:  # `sprint_id=none`: the items no sprint holds
        conditions.append(item.sprint_id.is_(None))
    if status:
        conditions.append(item.status.in_(status))
    for column, level in (
        (item.stability_impact, min_stability_impact),
        (item.security_impact, min_security_impact),
    ):
        if level is not None:
            conditions.append(column.in_(_at_least(level)))
    if updated_since is not None:
        conditions.append(item.updated_at >= updated_since)
    if label is not None:
        conditions.append(_has_label(label, dialect))
    if q:
        conditions.append(_matches(q))
    return query.where(*conditions) if conditions else query


def _has_label(label: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":  # jsonb containment, served by the GIN index
        return BacklogItem.labels.op("@>")(func.jsonb_build_array(label))
    each = func.json_each(BacklogItem.labels).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == label))


def _matches(q: str) -> ColumnElement[bool]:
    pattern = contains_pattern(q)
    conditions: list[ColumnElement[bool]] = [
        BacklogItem.title.ilike(pattern, escape="\\"),
        BacklogItem.description.ilike(pattern, escape="\\"),
    ]
    key = q.strip().upper().removeprefix("BB-")
    if key.isascii() and key.isdigit() and len(key) <= 9:
        conditions.append(BacklogItem.id == int(key))
    return or_(*conditions)


async def delete_item(session: AsyncSession, *, item: BacklogItem, actor: User) -> None:
    ensure_role(actor, Role.IT, Role.ADMIN)
    if item.sprint_id is not None:
        raise ItemInUse("Take the item out of its sprint first.")
    if await session.scalar(
        select(BacklogItem.id).where(BacklogItem.parent_id == item.id).limit(row_limit(1))
    ):
        raise ItemInUse("The epic still has items; move or delete them first.")
    _record(session, "item.deleted", item, actor, {"before": snapshot(item), "after": {}})
    request_id = item.request_id
    await session.delete(item)
    await session.flush()
    if request_id is not None:
        await delivery.follow(session, request_id=request_id, actor=actor)
