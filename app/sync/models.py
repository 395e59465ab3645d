from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum, utcnow
from app.sync.tracker import github_key_ok, jira_key_ok


class TrackerKind(StrEnum):
    JIRA = "jira"
    GITHUB = "github"


class SyncState(StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    BROKEN = "broken"


class Integration(Base):
    """A Jira project or GitHub repository items are kept in sync with."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TrackerKind] = mapped_column(str_enum(TrackerKind, length=16))
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(500))
    project_key: Mapped[str | None] = mapped_column(String(50))
    repository: Mapped[str | None] = mapped_column(String(200))
    # Fernet tokens (app/core/crypto.py); never returned, never logged.
    auth_sealed: Mapped[str | None] = mapped_column(Text)
    webhook_secret_sealed: Mapped[str | None] = mapped_column(Text)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    status_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    push_impact: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_import: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # A tracker's rate-limit pause, shared by every worker through the database.
    paused_until: Mapped[datetime | None]
    # Reconciliation: remote changes up to this moment were pulled; when the next pull is due.
    reconciled_through: Mapped[datetime | None]
    next_reconcile_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def scope(self) -> str:
        """What a remote key is unique within: one repository or project on one host."""
        where = self.repository if self.kind is TrackerKind.GITHUB else self.project_key
        return f"{self.kind}:{self.base_url.lower()}/{(where or '').lower()}"

    def owns_key(self, remote_key: str) -> bool:
        """Whether `remote_key` can name an issue of this repository or project, and so be
        put in a URL of its (a key from a client, a webhook or a pull is checked so)."""
        if self.kind is TrackerKind.GITHUB:
            return github_key_ok(remote_key)
        return jira_key_ok(remote_key, self.project_key or "")


class ItemLink(Base):
    """An item and its issue in a tracker. A remote issue links to one item."""

    __tablename__ = "item_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("backlog_items.id", ondelete="CASCADE"), index=True
    )
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), index=True)
    remote_scope: Mapped[str] = mapped_column(String(800))
    remote_key: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(1000))
    sync_state: Mapped[SyncState] = mapped_column(
        str_enum(SyncState, length=16), default=SyncState.PENDING
    )
    last_synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The remote timestamp of the last inbound change applied: older ones are stale.
    last_remote_at: Mapped[datetime | None]
    # Set when a create's outcome is unknown: until the marker search finds the issue or a
    # grace period passes, no second create is sent.
    create_uncertain_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("remote_scope", "remote_key"),
        UniqueConstraint("item_id", "integration_id"),
    )
