"""Running the sync worker: as its own process (`backlog-bridge worker`) or inside `serve`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.crypto import SecretBox
from app.core.http import tracker_client
from app.sync import ssrf
from app.sync.worker import Worker, WorkerSettings

logger = logging.getLogger("app.sync.runner")


@contextlib.asynccontextmanager
async def worker_for(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], box: SecretBox
) -> AsyncIterator[Worker]:
    check = ssrf.peer_check(settings.tracker_allowed_hosts)
    async with tracker_client(timeout_s=settings.tracker_timeout_s, check_peer=check) as client:
        yield Worker(
            sessions,
            box,
            client,
            WorkerSettings(
                tracker_timeout_s=settings.tracker_timeout_s,
                public_url=settings.public_url,
                reconcile_every_s=settings.reconcile_interval_s,
            ),
        )


async def drain(worker: Worker) -> int:
    """Deliver everything due now; how many jobs were handled (`worker --once`)."""
    total = 0
    while handled := await worker.run_once():
        total += handled
    return total


@contextlib.asynccontextmanager
async def in_process(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], box: SecretBox
) -> AsyncIterator[None]:
    """A worker task beside the API (SQLite, or `BB_RUN_WORKER=true`), stopped with it."""
    async with worker_for(settings, sessions, box) as worker:
        task = asyncio.create_task(worker.run_forever(), name="sync-worker")
        logger.info("sync worker running in-process")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
