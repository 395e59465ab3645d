from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum, utcnow


class Outcome(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    FAILED = "failed"


class Delivery(Base):
    """A webhook delivery as it arrived (the inbox): stored raw, processed later."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), index=True)
    delivery_id: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(str_enum(Outcome, length=16), default=Outcome.PENDING)
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]

    __table_args__ = (
        # A delivery id is stored once; redeliveries are recorded beside it as duplicates.
        Index(
            "uq_webhook_deliveries_first",
            "integration_id",
            "delivery_id",
            unique=True,
            postgresql_where=text("outcome <> 'duplicate'"),
            sqlite_where=text("outcome <> 'duplicate'"),
        ),
        Index("ix_webhook_deliveries_outcome_id", "outcome", "id"),
    )
