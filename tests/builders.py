"""Typed builders for test data."""

import itertools
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem, ItemStatus
from app.backlog.schemas import ItemCreate, ItemUpdate
from app.requests import actions
from app.requests import service as requests_service
from app.requests.models import MarketingRequest, RequestStatus
from app.requests.schemas import AssessmentIn, RequestCreate
from app.sprints import service as sprints_service
from app.sprints.models import Sprint
from app.sprints.schemas import SprintCreate
from app.suppliers import service as suppliers_service
from app.suppliers.models import Supplier
from app.suppliers.schemas import SupplierCreate, SupplierUpdate
from app.teams import service as teams_service
from app.teams.models import Team
from app.teams.schemas import TeamCreate
from app.users import service as users_service
from app.users.models import Role, User
from app.users.schemas import UserCreate

_names = itertools.count(1)


async def make_user(
    session: AsyncSession, *, role: Role = Role.MARKETING, name: str | None = None
) -> tuple[User, dict[str, str]]:
    """A user and ready-to-send auth headers for a fresh token of theirs."""
    name = name or f"{role.value}-{next(_names)}"
    user = await users_service.create_user(session, data=UserCreate(name=name, role=role))
    _, secret = await users_service.create_token(
        session, user=user, name="test", ttl=timedelta(days=1)
    )
    await session.flush()
    return user, bearer(secret)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


LOW_RISK_ASSESSMENT: dict[str, Any] = {
    "stability_impact": "low",
    "security_impact": "low",
    "affected_systems": ["webshop"],
    "data_classification": "internal",
    "personal_data": False,
    "external_exposure": False,
    "sourcing": "in_house",
    "estimated_cost": {"amount": "4000.00", "currency": "EUR"},
    "effort_points": 8,
    "risk_notes": "Checkout peak load in December.",
    "mitigation": "Feature flag; release after the peak.",
}
HIGH_RISK_ASSESSMENT: dict[str, Any] = LOW_RISK_ASSESSMENT | {"security_impact": "high"}


async def make_request(
    session: AsyncSession,
    *,
    requester: User,
    status: RequestStatus | str = RequestStatus.DRAFT,
    assessment: dict[str, object] | None = None,
    **fields: Any,
) -> MarketingRequest:
    """A request driven through the real lifecycle up to `status` (or set there, past approval).

    `assessment` defaults to a low-risk one, or a high-risk one for `security_review`.
    """
    status = RequestStatus(status)
    data = RequestCreate.model_validate(
        {"title": "Black Friday landing pages", "business_value": 7, "time_criticality": 5} | fields
    )
    request = await requests_service.create_request(session, data=data, actor=requester)
    if status is RequestStatus.DRAFT:
        return request
    if status is RequestStatus.WITHDRAWN:
        await actions.withdraw(session, request=request, actor=requester)
        return request
    await actions.submit(session, request=request, actor=requester)
    if status is RequestStatus.SUBMITTED:
        return request
    it_user, _ = await make_user(session, role=Role.IT)
    if status is RequestStatus.REJECTED:
        await actions.reject(session, request=request, reason="No budget.", actor=it_user)
        return request
    if assessment is None:
        review = status is RequestStatus.SECURITY_REVIEW
        assessment = HIGH_RISK_ASSESSMENT if review else LOW_RISK_ASSESSMENT
    await actions.put_assessment(
        session, request=request, data=AssessmentIn.model_validate(assessment), actor=it_user
    )
    if status is RequestStatus.IN_ASSESSMENT:
        return request
    await actions.approve(session, request=request, actor=it_user)
    if request.status is not status:  # planned and beyond follow items; set directly here
        request.status = status
        await session.flush()
    return request


READY_FIELDS: dict[str, Any] = {
    "story_points": 5,
    "acceptance_criteria": ["Given a visitor, when they open the page, it loads in < 2 s"],
    "stability_impact": "low",
    "security_impact": "low",
}


async def make_item(
    session: AsyncSession,
    *,
    actor: User | None = None,
    title: str = "Landing page",
    **fields: object,
) -> BacklogItem:
    """An item created through the backlog service (by a fresh IT user unless given)."""
    if actor is None:
        actor, _ = await make_user(session, role=Role.IT)
    data = ItemCreate.model_validate({"title": title, **fields})
    return await backlog_service.create_item(session, data=data, actor=actor)


async def make_team(session: AsyncSession, **fields: Any) -> Team:
    actor, _ = await make_user(session, role=Role.IT)
    data = TeamCreate.model_validate(
        {"name": f"team-{next(_names)}", "default_capacity_points": 20, "stability_budget": 1}
        | fields
    )
    return await teams_service.create_team(session, data=data, actor=actor)


async def make_sprint(session: AsyncSession, *, team: Team, **fields: Any) -> Sprint:
    actor, _ = await make_user(session, role=Role.IT)
    data = SprintCreate.model_validate(
        {
            "team_id": team.id,
            "name": f"Sprint {next(_names)}",
            "start_date": "2026-12-01",
            "end_date": "2026-12-14",
        }
        | fields
    )
    return await sprints_service.create_sprint(session, data=data, actor=actor)


async def make_ready_item(
    session: AsyncSession, *, team: Team | None = None, **fields: Any
) -> BacklogItem:
    """An item that meets the Definition of Ready and is `ready`."""
    actor, _ = await make_user(session, role=Role.IT)
    team_field = {"team_id": team.id} if team else {}
    item = await make_item(session, actor=actor, **READY_FIELDS | team_field | fields)
    if item.review_required:
        item.security_cleared = True
    await backlog_service.update_item(
        session, item=item, data=ItemUpdate(status=ItemStatus.READY), actor=actor
    )
    return item


async def make_supplier(session: AsyncSession, **fields: Any) -> Supplier:
    """A supplier added by IT; `security_assessment`/`valid_until` are then set as security."""
    it, _ = await make_user(session, role=Role.IT)
    security_fields = {
        k: fields.pop(k) for k in ("security_assessment", "valid_until") if k in fields
    }
    data = SupplierCreate.model_validate({"name": f"supplier-{next(_names)}"} | fields)
    supplier = await suppliers_service.create_supplier(session, data=data, actor=it)
    if security_fields:
        security, _ = await make_user(session, role=Role.SECURITY)
        update = SupplierUpdate.model_validate(security_fields)
        await suppliers_service.update_supplier(
            session, supplier=supplier, data=update, actor=security
        )
    return supplier
