"""The transactional outbox: a change to a linked item queues a push in the same transaction.

Domains call `queue_item_push` (through their event recording); the sync worker claims and
delivers the jobs. One *pending* job per link at a time: later changes coalesce into it, since
the worker pushes the item as it is when the job runs. A change made while a job runs queues a
new one, which the worker starts only after the running one ends (one in flight per link).
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    column,
    exists,
    func,
    insert,
    select,
    table,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, on_postgresql, str_enum, utcnow


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobKind(StrEnum):
    PUSH = "push"  # create the remote issue if the link has none, else update it
    IMPORT = "import"  # pull the tracker's issues into the backlog (POST .../import)
    RECONCILE = "reconcile"  # pull what changed remotely since the last pull (periodic)


class SyncJob(Base):
    __tablename__ = "sync_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("backlog_items.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("item_links.id", ondelete="CASCADE"))
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind, length=16), default=JobKind.PUSH)
    state: Mapped[JobState] = mapped_column(str_enum(JobState, length=16), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    # Where a pull (import, reconcile) goes on: JSON, written after each page it stored.
    cursor: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_sync_jobs_state_next_attempt_at", "state", "next_attempt_at"),
        # At most one pending job per link: the database settles races between replicas.
        Index(
            "uq_sync_jobs_one_pending_per_link",
            "link_id",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock: every worker's leases are judged by the same one. (SQLite is one
    machine's file, so its host clock is that clock, and finer than CURRENT_TIMESTAMP.)"""
    if not on_postgresql(session):
        return utcnow()
    value = await session.scalar(select(func.current_timestamp()))
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _held_by(owner: str, job_ids: list[int]) -> tuple[Any, ...]:
    return (
        SyncJob.id.in_(job_ids),
        SyncJob.lease_owner == owner,
        SyncJob.state == JobState.RUNNING,
    )


async def renew_leases(
    session: AsyncSession, *, job_ids: list[int], owner: str, lease: timedelta
) -> None:
    """The leases `owner` still holds on these jobs run `lease` from now (database time)."""
    now = await db_now(session)
    await session.execute(
        update(SyncJob).where(*_held_by(owner, job_ids)).values(lease_expires_at=now + lease)
    )


async def release_leases(session: AsyncSession, *, job_ids: list[int], owner: str) -> None:
    """Jobs `owner` claimed but never started go back to the queue, their attempt not spent."""
    await session.execute(
        update(SyncJob)
        .where(*_held_by(owner, job_ids))
        .values(
            state=JobState.PENDING,
            lease_owner=None,
            lease_expires_at=None,
            attempts=SyncJob.attempts - 1,
        )
    )


_links = table("item_links", column("id"), column("item_id"), column("integration_id"))


async def queue_item_push(session: AsyncSession, *, item_id: int) -> None:
    """A push job for every link of the item without a pending one (one INSERT ... SELECT)."""
    pending = exists().where(
        and_(SyncJob.link_id == _links.c.id, SyncJob.state == JobState.PENDING)
    )
    links = select(
        _links.c.integration_id, _links.c.item_id, _links.c.id, text("'push'"), text("'pending'")
    ).where(_links.c.item_id == item_id, ~pending)
    try:
        async with session.begin_nested():
            await session.execute(
                insert(SyncJob).from_select(
                    ["integration_id", "item_id", "link_id", "kind", "state"], links
                )
            )
    except IntegrityError:
        pass  # a concurrent change queued the same link's job: it will push this change too


_link_view = table(
    "item_links",
    column("id"),
    column("item_id"),
    column("integration_id"),
    column("remote_key"),
    column("url"),
    column("sync_state"),
    column("last_synced_at"),
)
_LINKS_OF_ITEMS = (  # built once: building it cost a third of running it
    select(_link_view)
    .where(_link_view.c.item_id.in_(bindparam("item_ids", expanding=True)))
    .order_by(_link_view.c.id)
)


async def links_by_item(session: AsyncSession, item_ids: list[int]) -> dict[int, list[Any]]:
    """Each item's tracker links, for many items in one query (items show them inline)."""
    found: dict[int, list[Any]] = {item_id: [] for item_id in item_ids}
    if item_ids:
        rows = await session.execute(_LINKS_OF_ITEMS, {"item_ids": item_ids})
        for row in rows.mappings():
            found[row["item_id"]].append(dict(row))
    return found
