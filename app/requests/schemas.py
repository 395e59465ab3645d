from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from app.core.money import Money
from app.core.schemas import Id, InputModel, OutputModel, fields_of
from app.requests.models import (
    DataClassification,
    Impact,
    RequestStatus,
    ReviewDecision,
    Sourcing,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Score = Annotated[int, Field(ge=1, le=10)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=5_000)]


class _RequestFields(InputModel):
    """What a requester writes; status, assessment and the like have their own endpoints."""

    @field_validator("target_date", check_fields=False)
    @classmethod
    def _not_in_the_past(cls, value: date | None) -> date | None:
        if value is not None and value < datetime.now(UTC).date():
            raise ValueError("target_date may not be in the past")
        return value


class RequestCreate(_RequestFields):
    title: Title
    description: LongText | None = None
    business_goal: LongText | None = None
    kpi: Annotated[str, StringConstraints(max_length=500)] | None = None
    business_value: Score | None = None
    time_criticality: Score | None = None
    target_date: date | None = None
    budget: Money | None = None
    department: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    plan_id: Id | None = Field(
        default=None, description="the business plan it serves (until delivered)"
    )


class RequestUpdate(RequestCreate):
    title: Title | None = None  # type: ignore[assignment]


class AssessmentIn(InputModel):
    stability_impact: Impact
    security_impact: Impact
    affected_systems: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
        Field(max_length=100),
    ] = Field(default_factory=list)
    data_classification: DataClassification
    personal_data: bool = False
    external_exposure: bool = False
    sourcing: Sourcing
    vendor: Annotated[str, StringConstraints(max_length=200)] | None = None
    estimated_cost: Money | None = None
    effort_points: Annotated[int, Field(ge=0, le=100_000)] | None = None
    risk_notes: LongText | None = None
    mitigation: LongText | None = None
    supplier_id: Id | None = None


class SecurityReviewIn(InputModel):
    decision: ReviewDecision
    notes: LongText | None = None


class ReasonIn(InputModel):
    reason: Reason


class AssessmentOut(OutputModel):
    stability_impact: Impact
    security_impact: Impact
    affected_systems: list[str]
    data_classification: DataClassification
    personal_data: bool
    external_exposure: bool
    sourcing: Sourcing
    vendor: str | None
    estimated_cost: Money | None
    effort_points: int | None
    risk_notes: str | None = Field(description="null for marketing readers")
    mitigation: str | None = Field(description="null for marketing readers")
    supplier_id: int | None
    assessed_by: int
    assessed_at: datetime


class SecurityReviewOut(OutputModel):
    decision: ReviewDecision
    notes: str | None = Field(description="null for marketing readers")
    reviewer_id: int
    reviewed_at: datetime
    current: bool = Field(description="false once the assessment changed after this review")


class RequestOut(OutputModel):
    id: int
    key: str
    title: str
    description: str | None
    business_goal: str | None
    kpi: str | None
    business_value: int | None
    time_criticality: int | None
    target_date: date | None
    budget: Money | None
    department: str | None
    plan_id: int | None
    requester_id: int
    status: RequestStatus
    assessment: AssessmentOut | None
    security_review: SecurityReviewOut | None
    security_review_required: bool
    allowed_actions: list[str] = Field(description="what the caller may do now")
    item_ids: list[int]
    rejection_reason: str | None
    submitted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


RequestCreate.read_only = RequestUpdate.read_only = fields_of(RequestOut, AssessmentOut)
AssessmentIn.read_only = fields_of(AssessmentOut)
