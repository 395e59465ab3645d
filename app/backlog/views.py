"""Items as readers see them, with epic roll-ups fetched once per page."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem, ItemType
from app.backlog.schemas import ItemOut
from app.core.outbox import links_by_item


async def rollups(session: AsyncSession, items: Sequence[BacklogItem]) -> dict[int, int]:
    """Sum of children's points for the epics among `items` (one query, whatever the count)."""
    epic_ids = [item.id for item in items if item.type is ItemType.EPIC]
    if not epic_ids:
        return {}
    rows = await session.execute(
        select(BacklogItem.parent_id, func.coalesce(func.sum(BacklogItem.story_points), 0))
        .where(BacklogItem.parent_id.in_(epic_ids))
        .group_by(BacklogItem.parent_id)
    )
    sums = {parent_id: int(total or 0) for parent_id, total in rows if parent_id is not None}
    return {epic_id: sums.get(epic_id, 0) for epic_id in epic_ids}


_COLUMNS = tuple(column.key for column in BacklogItem.__table__.columns)


def _columns(item: BacklogItem) -> dict[str, Any]:
    """The item's column values; loaded ones straight from the instance's `__dict__` (the
    hot path of every list: 50 x 29 attribute descriptors cost more than the page query)."""
    loaded = item.__dict__
    return {key: loaded[key] if key in loaded else getattr(item, key) for key in _COLUMNS}


def item_out(
    item: BacklogItem, rollup: dict[int, int], links: list[dict[str, Any]] | None = None
) -> ItemOut:
    return ItemOut.model_validate(
        {
            **_columns(item),
            "key": item.key,
            "security_review_required": item.review_required,
            "rollup_points": rollup.get(item.id),
            "links": [{k: v for k, v in link.items() if k != "item_id"} for link in links or []],
        }
    )


async def items_out(session: AsyncSession, items: Sequence[BacklogItem]) -> list[ItemOut]:
    rollup = await rollups(session, items)
    links = await links_by_item(session, [item.id for item in items])
    return [item_out(item, rollup, links[item.id]) for item in items]


async def listed_items_out(session: AsyncSession, items: Sequence[BacklogItem]) -> list[ItemOut]:
    """`items_out` for items read by `service.list_items`, whose roll-ups came with them."""
    rollup = {item.id: item.rollup_points for item in items if item.rollup_points is not None}
    links = await links_by_item(session, [item.id for item in items])
    return [item_out(item, rollup, links[item.id]) for item in items]
