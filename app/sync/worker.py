"""The sync worker: claims outbox jobs under a lease, pushes items to trackers, records results.

Safe with many workers on PostgreSQL: claims use `FOR UPDATE SKIP LOCKED`; a lease (in
database time) expires if its worker dies, and a worker whose lease was taken over cannot
record a result (every write is fenced on `lease_owner`). One job per link runs at a time.
"""

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.backlog.models import BacklogItem
from app.core.crypto import SecretBox
from app.core.db import utcnow
from app.core.http import AsyncClient
from app.core.outbox import (
    JobKind,
    JobState,
    SyncJob,
    db_now,
    release_leases,
    renew_leases,
)
from app.core.pagination import row_limit
from app.sync import pulls, service
from app.sync.models import Integration, ItemLink, SyncState
from app.sync.snapshot import snapshot, tracker_for
from app.sync.tracker import RemoteIssue, Tracker, TrackerError, error_text
from app.webhooks import processing

logger = logging.getLogger("app.sync.worker")


@dataclass
class WorkerSettings:
    tracker_timeout_s: float = 10.0
    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 900.0
    search_grace_s: float = 120.0  # how long a tracker's search may lag behind a create
    batch: int = 20
    public_url: str = "http://localhost:8000"
    reconcile_every_s: float = 0.0  # 0: no periodic pulls (the runner sets the configured one)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=3 * self.tracker_timeout_s)  # three times the tracker timeout


class Worker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        client: AsyncClient,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.sessions, self.box, self.client = sessions, box, client
        self.settings = settings or WorkerSettings()
        self.id = uuid.uuid4().hex

    async def run_once(self) -> int:
        """Apply waiting webhook deliveries, then claim and push what is due; how many."""
        handled = await processing.process_pending(self.sessions)
        if self.settings.reconcile_every_s > 0:
            async with self.sessions() as session:
                await pulls.schedule_reconciles(
                    session, every_s=self.settings.reconcile_every_s, now=await db_now(session)
                )
                await session.commit()
        jobs = await self._claim()
        held = set(jobs)  # claimed and not yet finished: their leases are kept alive
        heartbeat = asyncio.create_task(self._keep_leases(held))
        try:
            for done, job_id in enumerate(jobs):
                try:
                    await self._attempt(job_id)
                except asyncio.CancelledError:  # shutting down: hand back what we did not start
                    await asyncio.shield(self._release(jobs[done + 1 :]))
                    raise
                finally:
                    held.discard(job_id)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return handled + len(jobs)

    async def _attempt(self, job_id: int) -> None:
        """One job in isolation: whatever goes wrong with it (a bug, a database error) is its
        own recorded error, retried with backoff and `failed` at the attempt limit."""
        try:
            await self._deliver(job_id)
        except Exception as exc:  # one bad job must never stop the rest of the batch
            logger.warning("sync job %s failed", job_id, exc_info=True)
            error = TrackerError(error_text(exc, prefix="internal error"))
            try:
                await self._record_error(job_id, error)
            except Exception:  # the database is away: the lease runs out, a later round retries
                logger.exception("sync job %s: could not record its error", job_id)

    async def _record_error(self, job_id: int, error: TrackerError) -> None:
        async with self.sessions() as session:
            job = await session.get(SyncJob, job_id)
            now = await db_now(session)
        if job is not None:
            link_id = job.link_id if job.kind is JobKind.PUSH else None
            await self._failed(job_id, job.attempts, error, now, link_id=link_id)

    async def _keep_leases(self, held: set[int]) -> None:
        """Renew the leases of the batch's unfinished jobs (a third of a lease apart), so no
        job waiting its turn, or running long, loses its lease to another worker; a finished
        one is not renewed, so a job can stay `running` only while this round is alive."""
        while held:
            await asyncio.sleep(self.settings.lease.total_seconds() / 3)
            try:
                async with self.sessions() as session:
                    lease = self.settings.lease
                    await renew_leases(session, job_ids=sorted(held), owner=self.id, lease=lease)
                    await session.commit()
            except Exception:  # the next beat tries again; a lease left to expire is safe
                logger.warning("sync worker: could not renew leases", exc_info=True)

    async def _release(self, job_ids: list[int]) -> None:
        """Claimed jobs return to the queue at once instead of waiting out their lease."""
        if job_ids:
            async with self.sessions() as session:
                await release_leases(session, job_ids=job_ids, owner=self.id)
                await session.commit()

    async def run_forever(self, *, poll_s: float = 1.0) -> None:
        while True:
            try:
                if await self.run_once() == 0:
                    await asyncio.sleep(poll_s)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad moment (database away): log, wait, go on
                logger.exception("sync worker round failed")
                await asyncio.sleep(poll_s * 5)

    async def _claim(self) -> list[int]:
        async with self.sessions() as session:
            now = await db_now(session)
            busy = select(SyncJob.link_id).where(
                SyncJob.state == JobState.RUNNING,
                SyncJob.lease_expires_at > now,
                SyncJob.link_id.is_not(None),
            )
            due = or_(
                and_(SyncJob.state == JobState.PENDING, SyncJob.next_attempt_at <= now),
                and_(SyncJob.state == JobState.RUNNING, SyncJob.lease_expires_at <= now),
            )
            query = (
                select(SyncJob)
                .join(Integration, Integration.id == SyncJob.integration_id)
                .where(
                    due,
                    Integration.enabled.is_(True),
                    or_(SyncJob.link_id.is_(None), SyncJob.link_id.not_in(busy)),
                    or_(Integration.paused_until.is_(None), Integration.paused_until <= now),
                )
                .order_by(SyncJob.id)
                .limit(row_limit(self.settings.batch))
                .with_for_update(skip_locked=True, of=SyncJob)
            )
            claimed, links = [], set()
            for job in await session.scalars(query):
                if job.link_id is not None and job.link_id in links:
                    continue  # one job per link in flight
                links.add(job.link_id)
                job.state, job.lease_owner = JobState.RUNNING, self.id
                job.lease_expires_at, job.attempts = now + self.settings.lease, job.attempts + 1
                claimed.append(job.id)
            await session.commit()
            return claimed

    async def _deliver(self, job_id: int) -> None:
        async with self.sessions() as session:
            job = await session.get(SyncJob, job_id)
            link = await session.get(ItemLink, job.link_id) if job and job.link_id else None
            item = await session.get(BacklogItem, link.item_id) if link else None
            integration = await session.get(Integration, job.integration_id) if job else None
            now = await db_now(session)
        if job is None or integration is None:
            return
        if job.kind is not JobKind.PUSH:
            await self._pull(job, integration, now)
            return
        if link is None or item is None:  # unlinked or deleted since: nothing left to push
            await self._finish(job_id, None)
            return
        try:
            remote = await self._push(job_id, link, item, integration, now)
        except TrackerError as error:
            await self._failed(job_id, job.attempts, error, now, link_id=link.id)
            return
        if remote is None:  # waiting for the tracker's search to catch up
            await self._later(job_id, self.settings.base_delay_s, "waiting for search", now)
            return
        await self._finish(job_id, remote, link_id=link.id)

    async def _pull(self, job: SyncJob, integration: Integration, now: datetime) -> None:
        """One page of an import or a reconcile: stored in the inbox with its cursor, fenced."""
        cursor = pulls.PullCursor.of(job, integration, now)
        since = datetime.fromisoformat(cursor.since) if cursor.since else None
        try:
            tracker = tracker_for(integration, self.box, self.client)
            page = await tracker.list_issues(
                since=since, cursor=cursor.page, open_only=job.kind is JobKind.IMPORT
            )
        except TrackerError as error:
            await self._failed(job.id, job.attempts, error, now, link_id=None)
            return
        cursor.page = page.next_cursor
        async with self.sessions() as session:
            if await pulls.save_page(
                session,
                job=job,
                integration=integration,
                fence=self._fenced(job.id),
                page=page,
                cursor=cursor,
                now=now,
            ):
                await session.commit()

    async def _push(
        self,
        job_id: int,
        link: ItemLink,
        item: BacklogItem,
        integration: Integration,
        now: datetime,
    ) -> RemoteIssue | None:
        tracker = tracker_for(integration, self.box, self.client)
        if link.remote_key is not None and link.last_synced_at is None:
            # An existing issue, linked just now: take in its side first, then push.
            adopted = await self._adopt(job_id, link, integration, tracker)
            if adopted is None:
                return None  # our lease was taken over
            item = adopted
        data = snapshot(item, integration, public_url=self.settings.public_url)
        if link.remote_key is not None:
            return await tracker.update_issue(link.remote_key, data)
        if link.create_uncertain_since is not None:  # a create may have gone through
            if found := await tracker.find_by_marker(data):
                return await tracker.update_issue(found.key, data)  # adopt it, bring it up to date
            waited = (now - link.create_uncertain_since).total_seconds()
            if waited < self.settings.search_grace_s:
                return None
        else:  # written ahead: a worker killed mid-create leaves this behind for the next one
            await self._set_uncertain(link.id, now)
        try:
            return await tracker.create_issue(data)
        except TrackerError as error:
            if not error.outcome_unknown and link.create_uncertain_since is None:
                await self._set_uncertain(link.id, None)  # surely not created: no lookup needed
            raise

    async def _adopt(
        self, job_id: int, link: ItemLink, integration: Integration, tracker: Tracker
    ) -> BacklogItem | None:
        """Apply the linked issue as it is now, through the inbox and by the webhook rules
        (title, description, labels, status), so that linking loses nothing of either side.
        A link made by a Jira issue id keeps the issue's key from now on, as webhooks name it."""
        assert link.remote_key is not None
        key, issue = await tracker.get_issue(link.remote_key)
        async with self.sessions() as session:
            ours = await session.scalar(
                select(SyncJob.id).where(*self._fenced(job_id)).with_for_update()  # type: ignore[arg-type]
            )
            if ours is None:
                return None
            if key != link.remote_key:
                await service.rekey_link(session, link, key)
            await processing.apply_now(
                session, integration_id=integration.id, link_id=link.id, issue=issue
            )
            item = await session.get(BacklogItem, link.item_id, populate_existing=True)
            await session.commit()
            return item

    async def _set_uncertain(self, link_id: int, since: datetime | None) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(ItemLink)
                .where(ItemLink.id == link_id, ItemLink.remote_key.is_(None))
                .values(create_uncertain_since=since)
            )
            await session.commit()

    def _fenced(self, job_id: int) -> tuple[object, ...]:
        return (
            SyncJob.id == job_id,
            SyncJob.lease_owner == self.id,
            SyncJob.state == JobState.RUNNING,
        )

    async def _finish(
        self, job_id: int, remote: RemoteIssue | None, *, link_id: int | None = None
    ) -> None:
        async with self.sessions() as session:
            done = await session.execute(
                update(SyncJob)
                .where(*self._fenced(job_id))  # type: ignore[arg-type]
                .values(state=JobState.DONE, lease_owner=None, last_error=None, updated_at=utcnow())
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return  # our lease was taken over: the new owner records the outcome
            if remote is not None and link_id is not None:
                await service.record_synced(session, link_id=link_id, remote=remote)
            await session.commit()

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, never sooner than the tracker asked."""
        ceiling = min(self.settings.max_delay_s, self.settings.base_delay_s * 2**attempts)
        return max(random.uniform(0, ceiling), retry_after or 0.0)

    async def _later(self, job_id: int, delay: float, reason: str, now: datetime) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(SyncJob)
                .where(*self._fenced(job_id))  # type: ignore[arg-type]
                .values(
                    state=JobState.PENDING,
                    lease_owner=None,
                    last_error=reason,
                    next_attempt_at=now + timedelta(seconds=delay),
                    updated_at=utcnow(),
                )
            )
            await session.commit()

    async def _failed(
        self, job_id: int, attempts: int, error: TrackerError, now: datetime, *, link_id: int | None
    ) -> None:
        give_up = error.permanent or attempts >= self.settings.max_attempts
        if not give_up:
            if error.retry_after:
                await self._pause(job_id, error.retry_after, now)
            await self._later(job_id, self._delay(attempts, error.retry_after), str(error), now)
            return
        async with self.sessions() as session:
            failed = await session.execute(
                update(SyncJob)
                .where(*self._fenced(job_id))  # type: ignore[arg-type]
                .values(
                    state=JobState.FAILED,
                    lease_owner=None,
                    last_error=str(error),
                    updated_at=utcnow(),
                )
            )
            if failed.rowcount == 1 and link_id is not None:  # type: ignore[attr-defined]
                await session.execute(
                    update(ItemLink)
                    .where(ItemLink.id == link_id)
                    .values(sync_state=SyncState.FAILED, last_error=str(error))
                )
            await session.commit()

    async def _pause(self, job_id: int, seconds: float, now: datetime) -> None:
        """A rate limit holds for the whole credential: every worker waits, not just this job."""
        async with self.sessions() as session:
            job = await session.get(SyncJob, job_id)
            if job is not None:
                await session.execute(
                    update(Integration)
                    .where(Integration.id == job.integration_id)
                    .values(paused_until=now + timedelta(seconds=seconds))
                )
                await session.commit()
