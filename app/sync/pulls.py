"""Pulling issues from a tracker: an import of its open issues (asked for through the API) and
the periodic reconciliation that catches what a webhook missed (GitHub does not redeliver).

A pull is an outbox job that reads one page per run and stores each issue in the webhook inbox
as a delivery of event `import` or `reconcile`, so it is applied by exactly the rules a webhook
is (ownership, staleness, echoes, Definition of Ready) and shows up in the deliveries list. The
page cursor is saved with the page, so a crashed or stopped pull resumes where it was.
"""

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_postgresql, utcnow
from app.core.events import record_event
from app.core.outbox import JobKind, JobState, SyncJob
from app.sync.models import Integration, TrackerKind
from app.sync.tracker import IssuePage, clean_text
from app.users.models import User
from app.webhooks.models import Delivery

_ACTIVE = (JobState.PENDING, JobState.RUNNING)
# Each reconcile window starts a little before the last one ended: our clock and the
# tracker's need not agree, and an issue seen twice is stored once and applied once.
OVERLAP = timedelta(minutes=2)


@dataclass
class PullCursor:
    """Where a pull stands: the tracker's page cursor, and (reconcile) the window it reads."""

    started: str  # when the pull began (database time): the next reconcile reads from here
    since: str | None = None
    page: str | None = None

    @classmethod
    def of(cls, job: SyncJob, integration: Integration, now: datetime) -> "PullCursor":
        if job.cursor:
            return cls(**json.loads(job.cursor))
        since = None
        if job.kind is JobKind.RECONCILE:
            since = (
                (integration.reconciled_through or integration.created_at) - OVERLAP
            ).isoformat()
        return cls(started=now.isoformat(), since=since)

    def dump(self) -> str:
        return json.dumps(asdict(self))


def _active_pull(integration_id: Any, kind: JobKind) -> Any:
    """A pull of this kind is waiting or running for the integration (an id or a column)."""
    return and_(
        SyncJob.integration_id == integration_id,
        SyncJob.kind == kind,
        SyncJob.state.in_(_ACTIVE),
    )


async def request_import(
    session: AsyncSession, *, integration: Integration, actor: User
) -> SyncJob:
    """Queue an import of the tracker's issues; one already waiting or running is reused."""
    running = await session.scalar(
        select(SyncJob).where(_active_pull(integration.id, JobKind.IMPORT))
    )
    if running is not None:
        return running
    job = SyncJob(integration_id=integration.id, kind=JobKind.IMPORT, state=JobState.PENDING)
    session.add(job)
    await session.flush()
    record_event(
        session,
        type="integration.import_requested",
        entity="integration",
        entity_id=integration.id,
        actor_id=actor.id,
        data={"job_id": job.id},
    )
    return job


async def schedule_reconciles(session: AsyncSession, *, every_s: float, now: datetime) -> int:
    """Queue a reconcile job for each integration whose turn has come; how many. Several
    workers may run this at once: the conditional UPDATE lets exactly one of them win."""
    due = or_(Integration.next_reconcile_at.is_(None), Integration.next_reconcile_at <= now)
    candidates = select(Integration.id).where(
        Integration.enabled.is_(True),
        Integration.auth_sealed.is_not(None),
        due,
        ~exists().where(_active_pull(Integration.id, JobKind.RECONCILE)),
    )
    queued = 0
    for integration_id in list(await session.scalars(candidates)):
        claimed = await session.execute(
            update(Integration)
            .where(Integration.id == integration_id, due)
            .values(next_reconcile_at=now + timedelta(seconds=every_s))
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            session.add(
                SyncJob(
                    integration_id=integration_id,
                    kind=JobKind.RECONCILE,
                    state=JobState.PENDING,
                    next_attempt_at=now,
                )
            )
            queued += 1
    await session.flush()
    return queued


def _delivery_id(kind: JobKind, job_id: int, integration: Integration, issue: Any) -> str:
    """An import run takes every issue it sees; a reconcile stores each remote version once
    (overlapping windows and the webhook for the same change are settled as stale later)."""
    if integration.kind is TrackerKind.GITHUB:
        key, version = issue.get("number"), issue.get("updated_at")
    else:
        key, version = issue.get("key"), (issue.get("fields") or {}).get("updated")
    if kind is JobKind.IMPORT:
        return f"import:{job_id}:{key}"
    return f"reconcile:{key}@{version}"


async def store_pulled(
    session: AsyncSession, *, integration: Integration, job: SyncJob, issues: list[Any]
) -> None:
    """The page's issues into the inbox; an issue version already there is skipped."""
    rows = [
        {
            "integration_id": integration.id,
            # A tracker's key or timestamp could hold NUL, which PostgreSQL refuses in text.
            "delivery_id": clean_text(_delivery_id(job.kind, job.id, integration, issue))[:200],
            "event": job.kind.value,
            "body": json.dumps(issue),
        }
        for issue in issues
        if isinstance(issue, dict)
    ]
    if not rows:
        return
    dialect = postgresql if on_postgresql(session) else sqlite
    await session.execute(dialect.insert(Delivery.__table__).on_conflict_do_nothing(), rows)


async def finish_reconcile(
    session: AsyncSession, *, integration_id: int, cursor: PullCursor
) -> None:
    await session.execute(
        update(Integration)
        .where(Integration.id == integration_id)
        .values(reconciled_through=datetime.fromisoformat(cursor.started))
    )


async def save_page(
    session: AsyncSession,
    *,
    job: SyncJob,
    integration: Integration,
    fence: tuple[Any, ...],
    page: IssuePage,
    cursor: PullCursor,
    now: datetime,
) -> bool:
    """A page read: its issues into the inbox and the cursor past it, if `fence` (the job
    still held by this worker) holds; False when the job was taken over (its new owner reads
    this page again)."""
    saved = await session.execute(
        update(SyncJob)
        .where(*fence)
        .values(
            state=JobState.PENDING if page.next_cursor else JobState.DONE,
            cursor=cursor.dump(),
            attempts=0,
            lease_owner=None,
            last_error=None,
            next_attempt_at=now,
            updated_at=utcnow(),
        )
    )
    if saved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await store_pulled(session, integration=integration, job=job, issues=page.issues)
    if page.next_cursor is None and job.kind is JobKind.RECONCILE:
        await finish_reconcile(session, integration_id=integration.id, cursor=cursor)
    return True
