from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, utcnow


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    default_capacity_points: Mapped[int] = mapped_column(Integer, default=0)
    # How many high/critical stability-impact items one sprint may hold.
    stability_budget: Mapped[int] = mapped_column(Integer, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    members: Mapped[list["TeamMember"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="TeamMember.user_id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def member_ids(self) -> list[int]:
        return [member.user_id for member in self.members]


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
