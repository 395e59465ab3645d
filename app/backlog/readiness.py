"""Who may change what on an item, the Definition of Ready, and security clearance."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem, ItemStatus, ItemType
from app.backlog.schemas import IMPACT_FIELDS
from app.core.errors import FieldForbidden, Forbidden, UnprocessableEntity
from app.core.events import record_event
from app.requests.models import IMPACT_ORDER, DataClassification, Impact
from app.users.models import Role, User

_CLASSIFICATION_ORDER = {level: rank for rank, level in enumerate(DataClassification)}


class NotReady(UnprocessableEntity):
    slug, title = "not-ready", "Definition of Ready not met"


def authorize_edit(actor: User, changes: dict[str, Any]) -> None:
    """IT and admins edit items; security users only their impact fields; marketing reads."""
    if actor.role in (Role.IT, Role.ADMIN):
        return
    if actor.role is Role.SECURITY:
        if other := sorted(set(changes) - set(IMPACT_FIELDS)):
            raise FieldForbidden(
                f"Security users change only impact fields, not {', '.join(other)}.",
                fields=other,
            )
        return
    raise Forbidden(f"Role {actor.role} may not edit items.")


def _level(field: str, value: Any) -> int:
    if value is None:
        return -1
    if field in ("stability_impact", "security_impact"):
        return IMPACT_ORDER[Impact(value)]
    if field == "data_classification":
        return _CLASSIFICATION_ORDER[DataClassification(value)]
    return int(bool(value))  # personal_data, external_exposure


def apply_impacts(item: BacklogItem, changes: dict[str, Any], actor: User) -> None:
    """Lowering an impact needs a security user; raising one withdraws security clearance."""
    lowered = [
        field
        for field in IMPACT_FIELDS
        if field in changes and _level(field, changes[field]) < _level(field, getattr(item, field))
    ]
    if lowered and actor.role is not Role.SECURITY:
        raise FieldForbidden(
            f"Only a security user may lower {', '.join(lowered)}.", fields=lowered
        )
    raised = any(
        field in changes and _level(field, changes[field]) > _level(field, getattr(item, field))
        for field in IMPACT_FIELDS
    )
    if raised:
        item.security_cleared = False


def missing_for_ready(item: BacklogItem, children: Sequence[BacklogItem] = ()) -> list[str]:
    """The Definition of Ready criteria this item does not meet, by name.

    An epic is sized and specified by its children: with children that count (not cancelled)
    it is ready when they are, each unready one named with what it misses; without any, its
    own points size it (an epic made by `convert` has none). Impacts and clearance are the
    epic's own either way. `children`: the item's, from `children_of`.
    """
    missing = []
    if item.type is ItemType.EPIC:
        missing += _missing_for_epic(item, children)
    else:
        if item.story_points is None:
            missing.append("story_points")
        if not item.acceptance_criteria:
            missing.append("acceptance_criteria")
    if item.stability_impact is None:
        missing.append("stability_impact")
    if item.security_impact is None:
        missing.append("security_impact")
    if item.review_required and not item.security_cleared:
        missing.append("security_cleared")
    return missing


def _missing_for_epic(epic: BacklogItem, children: Sequence[BacklogItem]) -> list[str]:
    counted = [child for child in children if child.status is not ItemStatus.CANCELLED]
    if not counted:
        return [] if epic.story_points is not None else ["story_points"]
    return [
        f"{child.key}: {', '.join(gaps)}"
        for child in sorted(counted, key=lambda child: child.id)
        if (gaps := missing_for_ready(child))
    ]


async def children_of(
    session: AsyncSession, items: Sequence[BacklogItem]
) -> dict[int, list[BacklogItem]]:
    """The children of the epics among `items` (one query, none without epics)."""
    found: dict[int, list[BacklogItem]] = {i.id: [] for i in items if i.type is ItemType.EPIC}
    if found:
        query = select(BacklogItem).where(BacklogItem.parent_id.in_(found))
        for child in await session.scalars(query):
            found[child.parent_id].append(child)  # type: ignore[index]
    return found


WORK = (ItemStatus.READY, ItemStatus.IN_PROGRESS, ItemStatus.IN_REVIEW, ItemStatus.DONE)
UNREADY = (ItemStatus.NEW, ItemStatus.CANCELLED)


async def check_status_change(session: AsyncSession, item: BacklogItem, target: ItemStatus) -> None:
    """Any move is allowed, but `ready`, and work on an item that was never ready (new or
    cancelled), need the Definition of Ready."""
    needs_ready = target is ItemStatus.READY or (target in WORK and item.status in UNREADY)
    if not needs_ready:
        return
    children = (await children_of(session, [item])).get(item.id, [])
    if missing := missing_for_ready(item, children):
        raise NotReady(
            f"Not ready: missing {'; '.join(missing)}.",
            missing=missing,
            errors=[{"loc": ["body", "status"], "msg": f"missing {name}"} for name in missing],
        )


async def clear_security(
    session: AsyncSession, *, item: BacklogItem, notes: str | None, actor: User
) -> None:
    if actor.role is not Role.SECURITY:
        raise Forbidden("Only security users clear items.")
    before = item.security_cleared
    item.security_cleared = True
    await session.flush()
    record_event(
        session,
        type="item.security_cleared",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data={
            "before": {"security_cleared": before},
            "after": {"security_cleared": True},
            "notes": notes,
        },
    )
