"""A converted request's status follows its items: planned, in_delivery, delivered, and back."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem, ItemStatus
from app.core.pagination import row_limit
from app.requests import service as requests_service
from app.requests.models import RequestStatus
from app.sprints.models import Sprint, SprintState
from app.users.models import User

STARTED = (ItemStatus.IN_PROGRESS, ItemStatus.IN_REVIEW, ItemStatus.DONE)


def implied_status(counts: dict[ItemStatus, int], *, in_active_sprint: bool) -> RequestStatus:
    """Delivered when every item that counts is done; in delivery once work started."""
    active: dict[ItemStatus, int] = {
        status: n for status, n in counts.items() if status is not ItemStatus.CANCELLED
    }
    total = sum(active.values())
    if total and active.get(ItemStatus.DONE, 0) == total:
        return RequestStatus.DELIVERED
    if in_active_sprint or any(active.get(status) for status in STARTED):
        return RequestStatus.IN_DELIVERY
    return RequestStatus.PLANNED


async def follow(session: AsyncSession, *, request_id: int, actor: User | None) -> None:
    """Re-derive the request's delivery status from its items (one aggregate query)."""
    request = await requests_service.get_request(session, request_id=request_id)
    if request.status not in requests_service.DELIVERY_STATES:
        return
    rows = await session.execute(
        select(BacklogItem.status, func.count())
        .where(BacklogItem.request_id == request_id)
        .group_by(BacklogItem.status)
    )
    counts = {ItemStatus(status): count for status, count in rows}
    in_active_sprint = await session.scalar(
        select(BacklogItem.id)
        .join(Sprint, Sprint.id == BacklogItem.sprint_id)
        .where(BacklogItem.request_id == request_id, Sprint.state == SprintState.ACTIVE)
        .limit(row_limit(1))
    )
    status = implied_status(counts, in_active_sprint=in_active_sprint is not None)
    await requests_service.follow_items(session, request=request, status=status, actor=actor)


async def item_ids_by_request(
    session: AsyncSession, request_ids: list[int]
) -> dict[int, list[int]]:
    """The items of each request, for many requests in one query."""
    found: dict[int, list[int]] = {request_id: [] for request_id in request_ids}
    if request_ids:
        rows = await session.execute(
            select(BacklogItem.request_id, BacklogItem.id)
            .where(BacklogItem.request_id.in_(request_ids))
            .order_by(BacklogItem.id)
        )
        for request_id, item_id in rows:
            if request_id is not None:
                found[request_id].append(item_id)
    return found
