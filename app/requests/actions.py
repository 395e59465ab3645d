"""Lifecycle moves of a request, each checked against `workflow.TRANSITIONS` first."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import UnprocessableEntity
from app.core.events import diff, record_event
from app.requests import workflow
from app.requests.models import (
    Assessment,
    MarketingRequest,
    RequestStatus,
    ReviewDecision,
    SecurityReview,
    Sourcing,
)
from app.requests.schemas import AssessmentIn, SecurityReviewIn
from app.requests.workflow import Action
from app.suppliers.models import Supplier
from app.users.models import User

S = RequestStatus
_REVIEW_OUTCOME = {
    ReviewDecision.APPROVED: S.SECURITY_REVIEW,  # IT approves next
    ReviewDecision.CHANGES_REQUESTED: S.IN_ASSESSMENT,
    ReviewDecision.REJECTED: S.REJECTED,
}


async def _check_sourcing(session: AsyncSession, data: AssessmentIn) -> None:
    if data.sourcing is Sourcing.IN_HOUSE and data.supplier_id is None:
        return
    if data.supplier_id is None:
        raise UnprocessableEntity(
            f"Sourcing {data.sourcing} names the supplier.",
            errors=[
                {"loc": ["body", "supplier_id"], "msg": "required when purchased or outsourced"}
            ],
        )
    if await session.get(Supplier, data.supplier_id) is None:
        raise UnprocessableEntity(
            f"There is no supplier {data.supplier_id}.",
            errors=[{"loc": ["body", "supplier_id"], "msg": "no such supplier"}],
        )


def _move(
    session: AsyncSession,
    request: MarketingRequest,
    *,
    action: Action,
    target: RequestStatus,
    actor: User,
    data: dict[str, Any] | None = None,
) -> None:
    rule = workflow.TRANSITIONS[(request.status, action)]
    assert target in rule.targets, f"{action} cannot lead to {target}"
    before = request.status
    request.status = target
    record_event(
        session,
        type=f"request.{action.value.replace('-', '_')}",
        entity="request",
        entity_id=request.id,
        actor_id=actor.id,
        data={"before": {"status": before}, "after": {"status": target}, **(data or {})},
    )


async def submit(session: AsyncSession, *, request: MarketingRequest, actor: User) -> None:
    workflow.check(request, Action.SUBMIT, actor)
    request.submitted_at = utcnow()
    _move(session, request, action=Action.SUBMIT, target=S.SUBMITTED, actor=actor)
    await session.flush()


async def withdraw(session: AsyncSession, *, request: MarketingRequest, actor: User) -> None:
    workflow.check(request, Action.WITHDRAW, actor)
    _move(session, request, action=Action.WITHDRAW, target=S.WITHDRAWN, actor=actor)
    await session.flush()


async def return_to_requester(
    session: AsyncSession, *, request: MarketingRequest, reason: str, actor: User
) -> None:
    """Send a request back to `draft` so its requester can amend it."""
    workflow.check(request, Action.RETURN, actor)
    _move(
        session,
        request,
        action=Action.RETURN,
        target=S.DRAFT,
        actor=actor,
        data={"reason": reason},
    )
    await session.flush()


async def reject(
    session: AsyncSession, *, request: MarketingRequest, reason: str, actor: User
) -> None:
    workflow.check(request, Action.REJECT, actor)
    request.rejection_reason = reason
    _move(
        session,
        request,
        action=Action.REJECT,
        target=S.REJECTED,
        actor=actor,
        data={"reason": reason},
    )
    await session.flush()


async def approve(session: AsyncSession, *, request: MarketingRequest, actor: User) -> None:
    """Approve, or first route to security review when the assessment demands one. The
    review and supplier rules that refuse it are `workflow.check`'s, shared with
    `allowed_actions`."""
    workflow.check(request, Action.APPROVE, actor)
    assessment = request.assessment
    assert assessment is not None, "in_assessment and security_review imply an assessment"
    to_review = assessment.review_required and not workflow.has_current_approval(request)
    target = S.SECURITY_REVIEW if to_review else S.APPROVED
    _move(session, request, action=Action.APPROVE, target=target, actor=actor)
    await session.flush()


async def record_security_review(
    session: AsyncSession, *, request: MarketingRequest, data: SecurityReviewIn, actor: User
) -> None:
    workflow.check(request, Action.SECURITY_REVIEW, actor)
    review = SecurityReview(
        request_id=request.id,
        reviewer_id=actor.id,
        decision=data.decision,
        notes=data.notes,
        assessment_version=request.assessment_version,
    )
    session.add(review)
    await session.flush()
    request.current_review_id = review.id
    if data.decision is ReviewDecision.REJECTED:
        # The review's notes stay with the review (hidden from marketing), not in the reason.
        request.rejection_reason = "Rejected in security review."
    _move(
        session,
        request,
        action=Action.SECURITY_REVIEW,
        target=_REVIEW_OUTCOME[data.decision],
        actor=actor,
        data={"decision": data.decision, "notes": data.notes, "review_id": review.id},
    )
    await session.flush()
    await session.refresh(request, ["current_review"])


async def put_assessment(
    session: AsyncSession, *, request: MarketingRequest, data: AssessmentIn, actor: User
) -> None:
    """Record (or replace) IT's assessment; the request is `in_assessment` afterwards."""
    workflow.check(request, Action.ASSESS, actor)
    await _check_sourcing(session, data)
    values = data.model_dump(exclude={"estimated_cost"})
    cost = data.estimated_cost
    values["estimated_cost_minor"] = cost.to_minor_units() if cost else None
    values["estimated_cost_currency"] = cost.currency if cost else None
    values |= {"assessed_by": actor.id, "assessed_at": utcnow()}
    assessment = request.assessment
    before = _assessment_fields(assessment) if assessment else {}
    if assessment is None:
        assessment = Assessment(request_id=request.id, **values)
        session.add(assessment)
        request.assessment = assessment
    else:
        for name, value in values.items():
            setattr(assessment, name, value)
    request.assessment_version += 1  # any earlier security review no longer counts
    change = diff(before, _assessment_fields(assessment))
    _move(
        session,
        request,
        action=Action.ASSESS,
        target=S.IN_ASSESSMENT,
        actor=actor,
        data={"assessment": change},
    )
    await session.flush()
    await session.refresh(assessment, ["supplier"])  # the one `supplier_id` names now


def _assessment_fields(assessment: Assessment) -> dict[str, Any]:
    return {
        column.key: getattr(assessment, column.key)
        for column in Assessment.__table__.columns
        if column.key not in ("request_id", "assessed_at")
    }


async def mark_planned(
    session: AsyncSession, *, request: MarketingRequest, item_ids: list[int], actor: User
) -> None:
    """The request was converted into backlog items."""
    workflow.check(request, Action.CONVERT, actor)
    _move(
        session,
        request,
        action=Action.CONVERT,
        target=S.PLANNED,
        actor=actor,
        data={"item_ids": item_ids},
    )
    await session.flush()
