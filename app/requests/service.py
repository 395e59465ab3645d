"""Marketing requests: filing, editing, reading and listing. Lifecycle moves: `actions.py`."""

from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.core.errors import Forbidden, NotFound, UnprocessableEntity
from app.core.events import diff, record_event
from app.core.money import Money
from app.core.pagination import Keyset, keyset_page
from app.core.schemas import contains_pattern, reject_nulls
from app.plans.models import Plan, PlanStatus
from app.requests import workflow
from app.requests.models import MarketingRequest, RequestStatus
from app.requests.schemas import RequestCreate, RequestUpdate
from app.users.models import Role, User

EDITABLE_FIELDS = (
    "title",
    "description",
    "business_goal",
    "kpi",
    "business_value",
    "time_criticality",
    "target_date",
    "department",
    "plan_id",
)
SORTS = {
    "created_at": MarketingRequest.created_at,
    "updated_at": MarketingRequest.updated_at,
    "target_date": MarketingRequest.target_date,
    "business_value": MarketingRequest.business_value,
    "title": MarketingRequest.title,
    "id": MarketingRequest.id,
}


def snapshot(request: MarketingRequest) -> dict[str, Any]:
    """The request's own fields as they go into event data."""
    fields = {name: getattr(request, name) for name in EDITABLE_FIELDS}
    budget = Money.maybe(request.budget_minor, request.budget_currency)
    fields["budget"] = budget.model_dump() if budget else None
    return fields


async def create_request(
    session: AsyncSession, *, data: RequestCreate, actor: User
) -> MarketingRequest:
    await check_plan(session, data.plan_id)
    request = MarketingRequest(requester_id=actor.id, status=RequestStatus.DRAFT)
    _apply(request, data.model_dump(exclude_unset=True))
    session.add(request)
    await session.flush()
    for empty in ("assessment", "current_review"):  # a new request has neither: no query
        set_committed_value(request, empty, None)
    after = snapshot(request) | {"status": request.status, "requester_id": actor.id}
    record_event(
        session,
        type="request.created",
        entity="request",
        entity_id=request.id,
        actor_id=actor.id,
        data={"before": {}, "after": after},
    )
    return request


async def get_request(session: AsyncSession, *, request_id: int) -> MarketingRequest:
    # populate_existing: relationships are (re)loaded even for an object already in the session.
    request = await session.get(MarketingRequest, request_id, populate_existing=True)
    if request is None:
        raise NotFound("request", request_id)
    return request


async def update_request(
    session: AsyncSession, *, request: MarketingRequest, data: RequestUpdate, actor: User
) -> MarketingRequest:
    """Edit a draft (its requester or an admin); its plan may change until delivery."""
    changes = data.model_dump(exclude_unset=True)
    if changes.keys() - {"plan_id"} or "plan_id" not in changes:
        workflow.check(request, workflow.Action.EDIT, actor)
    if "plan_id" in changes:
        await _check_plan_change(session, request, changes["plan_id"], actor)
    reject_nulls(changes, ("title",))
    before = snapshot(request)
    _apply(request, changes)
    change = diff(before, snapshot(request))
    if change["after"]:
        await session.flush()
        record_event(
            session,
            type="request.updated",
            entity="request",
            entity_id=request.id,
            actor_id=actor.id,
            data=change,
        )
    return request


PLAN_FROZEN = (RequestStatus.DELIVERED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN)


async def _check_plan_change(
    session: AsyncSession, request: MarketingRequest, plan_id: int | None, actor: User
) -> None:
    """The requester or IT puts a request under a plan (or takes it out) until delivery."""
    if actor.id != request.requester_id and actor.role not in (Role.IT, Role.ADMIN):
        raise Forbidden("Only the requester or IT moves a request between plans.")
    if request.status in PLAN_FROZEN:
        raise workflow.InvalidTransition(
            f"A request in state {request.status} keeps its plan.",
            state=request.status.value,
            allowed_actions=workflow.allowed_actions(request, actor),
        )
    await check_plan(session, plan_id)


async def check_plan(session: AsyncSession, plan_id: int | None) -> None:
    if plan_id is None:
        return
    plan = await session.get(Plan, plan_id)
    if plan is None or plan.status is PlanStatus.CLOSED:
        raise UnprocessableEntity(
            f"Plan {plan_id} does not exist or is closed.",
            errors=[{"loc": ["body", "plan_id"], "msg": "not an open plan"}],
        )


def _apply(request: MarketingRequest, changes: dict[str, Any]) -> None:
    for name in EDITABLE_FIELDS:
        if name in changes:
            setattr(request, name, changes[name])
    if "budget" in changes:
        budget = changes["budget"]
        money = Money(**budget) if budget else None
        request.budget_minor = money.to_minor_units() if money else None
        request.budget_currency = money.currency if money else None


async def list_requests(
    session: AsyncSession,
    *,
    statuses: list[RequestStatus],
    department: str | None,
    requester_id: int | None,
    q: str | None,
    updated_since: datetime | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[MarketingRequest], str | None]:
    query = _filtered(select(MarketingRequest), statuses, department, requester_id, q)
    if updated_since is not None:
        query = query.where(MarketingRequest.updated_at >= updated_since)
    keyset = Keyset.parse(sort, SORTS, tie_breaker=MarketingRequest.id)
    return await keyset_page(session, query, keyset=keyset, limit=limit, cursor=cursor)


def _filtered(
    query: Select[MarketingRequest],
    statuses: list[RequestStatus],
    department: str | None,
    requester_id: int | None,
    q: str | None,
) -> Select[MarketingRequest]:
    if statuses:
        query = query.where(MarketingRequest.status.in_(statuses))
    if department is not None:
        query = query.where(MarketingRequest.department == department)
    if requester_id is not None:
        query = query.where(MarketingRequest.requester_id == requester_id)
    if q:
        pattern = contains_pattern(q)
        query = query.where(
            or_(
                MarketingRequest.title.ilike(pattern, escape="\\"),
                MarketingRequest.description.ilike(pattern, escape="\\"),
            )
        )
    return query


DELIVERY_STATES = (RequestStatus.PLANNED, RequestStatus.IN_DELIVERY, RequestStatus.DELIVERED)


async def follow_items(
    session: AsyncSession, *, request: MarketingRequest, status: RequestStatus, actor: User | None
) -> None:
    """Set the delivery state that the request's items imply (planned/in_delivery/delivered)."""
    assert status in DELIVERY_STATES
    if request.status not in DELIVERY_STATES or request.status is status:
        return
    before = request.status
    request.status = status
    record_event(
        session,
        type="request.delivery_status_changed",
        entity="request",
        entity_id=request.id,
        actor_id=actor.id if actor else None,  # None: a tracker's change
        data={"before": {"status": before}, "after": {"status": status}},
    )
    await session.flush()
