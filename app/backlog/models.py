from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, query_expression

from app.core.db import Base, str_enum, utcnow
from app.requests.models import DataClassification, Impact


class ItemType(StrEnum):
    STORY = "story"
    TASK = "task"
    BUG = "bug"
    SPIKE = "spike"
    EPIC = "epic"


class ItemStatus(StrEnum):
    NEW = "new"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    IN_REVIEW = "in_review"
    DONE = "done"
    CANCELLED = "cancelled"


# What makes an item need a security review (besides personal data exposed to the outside).
REVIEW_IMPACTS = (Impact.HIGH, Impact.CRITICAL)
REVIEW_CLASSIFICATION = DataClassification.RESTRICTED
STORY_POINTS = (0, 1, 2, 3, 5, 8, 13, 20, 40, 100)
# Ranks are base-62 fractional keys compared byte by byte: PostgreSQL must not use a locale.
RankType = String(128).with_variant(String(128, collation="C"), "postgresql")
LabelsType = JSON().with_variant(JSONB(), "postgresql")


class BacklogItem(Base):
    __tablename__ = "backlog_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[ItemType] = mapped_column(str_enum(ItemType, length=16), default=ItemType.STORY)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    acceptance_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ItemStatus] = mapped_column(
        str_enum(ItemStatus, length=16), default=ItemStatus.NEW
    )
    story_points: Mapped[int | None]
    business_value: Mapped[int | None]
    time_criticality: Mapped[int | None]
    risk_reduction: Mapped[int | None]
    # Stored so that `sort=wsjf` is an index scan; written whenever its inputs change.
    wsjf: Mapped[float | None] = mapped_column(Float)
    stability_impact: Mapped[Impact | None] = mapped_column(str_enum(Impact, length=16))
    security_impact: Mapped[Impact | None] = mapped_column(str_enum(Impact, length=16))
    data_classification: Mapped[DataClassification | None] = mapped_column(
        str_enum(DataClassification, length=16)
    )
    personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    external_exposure: Mapped[bool] = mapped_column(Boolean, default=False)
    security_cleared: Mapped[bool] = mapped_column(Boolean, default=False)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("backlog_items.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    sprint_id: Mapped[int | None] = mapped_column(ForeignKey("sprints.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    labels: Mapped[list[str]] = mapped_column(LabelsType, default=list)
    # Items without a team share backlog 0: a NOT NULL key lets the unique rank constraint bite.
    backlog: Mapped[int] = mapped_column(Integer, default=0)
    rank: Mapped[str] = mapped_column(RankType)
    target: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)
    # Epics: the sum of their children's points; filled only by queries that ask for it
    # (`with_expression`, see `service.WITH_ROLLUP`), None otherwise.
    rollup_points: Mapped[int | None] = query_expression()

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        Index("uq_backlog_items_backlog_rank", "backlog", "rank", unique=True),
        Index("ix_backlog_items_rank_id", "rank", "id"),
        Index("ix_backlog_items_sprint_id_rank_id", "sprint_id", "rank", "id"),
        # The backlog proper (no sprint) in rank order: PostgreSQL does not treat
        # `sprint_id IS NULL` as an equality when it picks an index for ORDER BY, so these are
        # partial indexes (see bench/README.md: 3.2 s -> 0.04 ms for an empty team backlog).
        Index(
            "ix_backlog_items_unplanned_rank_id",
            "rank",
            "id",
            postgresql_where=text("sprint_id IS NULL"),
            sqlite_where=text("sprint_id IS NULL"),
        ),
        Index(
            "ix_backlog_items_unplanned_team_id_rank_id",
            "team_id",
            "rank",
            "id",
            postgresql_where=text("sprint_id IS NULL"),
            sqlite_where=text("sprint_id IS NULL"),
        ),
        Index("ix_backlog_items_status_rank_id", "status", "rank", "id"),
        Index("ix_backlog_items_wsjf_id", "wsjf", "id"),
        Index("ix_backlog_items_created_at_id", "created_at", "id"),
        Index("ix_backlog_items_updated_at_id", "updated_at", "id"),
        Index(
            "ix_backlog_items_labels",
            "labels",
            postgresql_using="gin",
            postgresql_ops={"labels": "jsonb_path_ops"},
        ),
    )

    @property
    def key(self) -> str:
        return f"BB-{self.id}"

    @property
    def review_required(self) -> bool:
        return review_required(
            self.security_impact,
            self.data_classification,
            self.personal_data,
            self.external_exposure,
        )


def review_required(
    security_impact: str | None,
    data_classification: str | None,
    personal_data: bool,
    external_exposure: bool,
) -> bool:
    """The same triggers as a request's security review; plain column values do."""
    return (
        security_impact in REVIEW_IMPACTS
        or data_classification == REVIEW_CLASSIFICATION
        or (personal_data and external_exposure)
    )


def compute_wsjf(item: BacklogItem) -> float | None:
    """Cost of delay / size: (value + criticality + risk reduction) / points; none without size."""
    if not item.story_points:
        return None
    parts = (item.business_value, item.time_criticality, item.risk_reduction)
    if all(part is None for part in parts):
        return None
    return round(sum(part or 0 for part in parts) / item.story_points, 4)
