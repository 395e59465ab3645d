from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum, utcnow


class SupplierAssessment(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Supplier(Base):
    """A company IT buys from or outsources to."""

    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact: Mapped[str | None] = mapped_column(String(500))
    contract_end: Mapped[date | None]
    security_assessment: Mapped[SupplierAssessment] = mapped_column(
        str_enum(SupplierAssessment, length=16), default=SupplierAssessment.NONE
    )
    assessed_at: Mapped[datetime | None]
    valid_until: Mapped[date | None]
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def approved_on(self, day: date) -> bool:
        """Approved, and not expired: an expired assessment counts as not approved."""
        return self.security_assessment is SupplierAssessment.APPROVED and (
            self.valid_until is None or self.valid_until >= day
        )
