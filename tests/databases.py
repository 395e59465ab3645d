"""Throwaway databases for tests: a temp SQLite file, or a fresh database on the test server."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.urls import async_database_url

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get("BB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def throwaway_database(backend: str, tmp_dir: Path) -> AsyncIterator[str]:
    """Yield the plain URL of an empty database that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'bb-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"bb_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(async_database_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


class SharedSession:
    """An app's `sessionmakers` in a test: every request gets `session`, which joins the test's
    outer transaction (routes may commit; all is rolled back at the end) and is left open."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @asynccontextmanager
    async def _shared(self) -> AsyncIterator[AsyncSession]:
        yield self._session

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._shared()

    write = read
