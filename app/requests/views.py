"""What a reader sees of a request: notes hidden from marketing, actions they may take."""

from app.core.money import Money
from app.requests import workflow
from app.requests.models import Assessment, MarketingRequest, SecurityReview
from app.requests.schemas import AssessmentOut, RequestOut, SecurityReviewOut
from app.users.models import Role, User


def sees_notes(viewer: User) -> bool:
    """Risk notes, mitigations and review notes are IT's and security's, not marketing's."""
    return viewer.role is not Role.MARKETING


def _assessment(assessment: Assessment, viewer: User) -> AssessmentOut:
    out = AssessmentOut.model_validate(
        {
            **{c.key: getattr(assessment, c.key) for c in Assessment.__table__.columns},
            "estimated_cost": Money.maybe(
                assessment.estimated_cost_minor, assessment.estimated_cost_currency
            ),
        }
    )
    if not sees_notes(viewer):
        out.risk_notes = out.mitigation = None
    return out


def _review(request: MarketingRequest, review: SecurityReview, viewer: User) -> SecurityReviewOut:
    return SecurityReviewOut(
        decision=review.decision,
        notes=review.notes if sees_notes(viewer) else None,
        reviewer_id=review.reviewer_id,
        reviewed_at=review.reviewed_at,
        current=review.assessment_version == request.assessment_version,
    )


def request_out(request: MarketingRequest, viewer: User, item_ids: list[int]) -> RequestOut:
    assessment, review = request.assessment, request.current_review
    return RequestOut(
        id=request.id,
        key=request.key,
        title=request.title,
        description=request.description,
        business_goal=request.business_goal,
        kpi=request.kpi,
        business_value=request.business_value,
        time_criticality=request.time_criticality,
        target_date=request.target_date,
        budget=Money.maybe(request.budget_minor, request.budget_currency),
        department=request.department,
        plan_id=request.plan_id,
        requester_id=request.requester_id,
        status=request.status,
        assessment=_assessment(assessment, viewer) if assessment else None,
        security_review=_review(request, review, viewer) if review else None,
        security_review_required=bool(assessment and assessment.review_required),
        allowed_actions=workflow.allowed_actions(request, viewer),
        item_ids=item_ids,
        rejection_reason=request.rejection_reason,
        submitted_at=request.submitted_at,
        created_at=request.created_at,
        updated_at=request.updated_at,
        version=request.version,
    )
