from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, str_enum, utcnow
from app.suppliers.models import Supplier


class RequestStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_ASSESSMENT = "in_assessment"
    SECURITY_REVIEW = "security_review"
    APPROVED = "approved"
    PLANNED = "planned"
    IN_DELIVERY = "in_delivery"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Impact(StrEnum):
    """Ordered levels: compare with `IMPACT_ORDER`, never alphabetically."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


IMPACT_ORDER = {level: rank for rank, level in enumerate(Impact)}


class DataClassification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class Sourcing(StrEnum):
    IN_HOUSE = "in_house"
    PURCHASED = "purchased"
    OUTSOURCED = "outsourced"


class ReviewDecision(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


class MarketingRequest(Base):
    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    business_goal: Mapped[str | None] = mapped_column(Text)
    kpi: Mapped[str | None] = mapped_column(String(500))
    business_value: Mapped[int | None]
    time_criticality: Mapped[int | None]
    target_date: Mapped[date | None]
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    department: Mapped[str | None] = mapped_column(String(100), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus), default=RequestStatus.DRAFT, index=True
    )
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None]
    assessment_version: Mapped[int] = mapped_column(Integer, default=0)
    # The latest review (no FK: reviews point at requests, and a cycle buys nothing here).
    current_review_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    version: Mapped[int] = mapped_column(Integer)

    assessment: Mapped["Assessment | None"] = relationship(lazy="selectin")
    current_review: Mapped["SecurityReview | None"] = relationship(
        primaryjoin="foreign(MarketingRequest.current_review_id) == SecurityReview.id",
        lazy="selectin",
        viewonly=True,
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def key(self) -> str:
        return f"REQ-{self.id}"


class Assessment(Base):
    """IT's view of a request: impact, data, sourcing and cost. One per request, replaced by PUT."""

    __tablename__ = "assessments"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    stability_impact: Mapped[Impact] = mapped_column(str_enum(Impact, length=16))
    security_impact: Mapped[Impact] = mapped_column(str_enum(Impact, length=16))
    affected_systems: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_classification: Mapped[DataClassification] = mapped_column(
        str_enum(DataClassification, length=16)
    )
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    external_exposure: Mapped[bool] = mapped_column(Boolean, default=False)
    sourcing: Mapped[Sourcing] = mapped_column(str_enum(Sourcing, length=16))
    vendor: Mapped[str | None] = mapped_column(String(200))
    estimated_cost_minor: Mapped[int | None] = mapped_column(BigInteger)
    estimated_cost_currency: Mapped[str | None] = mapped_column(String(3))
    effort_points: Mapped[int | None]
    risk_notes: Mapped[str | None] = mapped_column(Text)
    mitigation: Mapped[str | None] = mapped_column(Text)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    # Loaded with the assessment: whether approval may go ahead depends on it, and a
    # request's `allowed_actions` says so on every read.
    supplier: Mapped[Supplier | None] = relationship(lazy="selectin", viewonly=True)
    assessed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def review_required(self) -> bool:
        """The product rule: high risk, restricted data, or personal data exposed outside."""
        return (
            self.security_impact in (Impact.HIGH, Impact.CRITICAL)
            or self.data_classification is DataClassification.RESTRICTED
            or (self.personal_data and self.external_exposure)
        )


class SecurityReview(Base):
    __tablename__ = "security_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(str_enum(ReviewDecision, length=20))
    notes: Mapped[str | None] = mapped_column(Text)
    # Which assessment this review judged: a new assessment needs a new review.
    assessment_version: Mapped[int]
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
