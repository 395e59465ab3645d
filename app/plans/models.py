from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, str_enum, utcnow


class PlanStatus(StrEnum):
    DRAFT = "draft"
    AGREED = "agreed"
    ACTIVE = "active"
    CLOSED = "closed"


class Plan(Base):
    """A business plan marketing and IT write, and agree to, together."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str] = mapped_column(Text)
    kpis: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    marketing_owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    it_owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    horizon_from: Mapped[str] = mapped_column(String(7))
    horizon_to: Mapped[str] = mapped_column(String(7))
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[PlanStatus] = mapped_column(
        str_enum(PlanStatus, length=16), default=PlanStatus.DRAFT
    )
    # The content both owners agree to: bumped by any change to objective, KPIs, horizon,
    # budget or owners, never by agreeing itself.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    agreements: Mapped[list["PlanAgreement"]] = relationship(
        lazy="selectin", order_by="PlanAgreement.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def agreed_by(self) -> set[int]:
        return {a.user_id for a in self.agreements if a.revision == self.revision}


class PlanAgreement(Base):
    __tablename__ = "plan_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revision: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("plan_id", "user_id", "revision"),)
