"""A real app on a database of its own, for tests of concurrency and committed data.

Rolled-back test transactions cannot host these: here every request commits for real.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import Sessionmakers, make_engine
from app.core.fastlane import FastLane
from app.core.http import ASGITransport, AsyncClient
from app.core.migrations import upgrade_async
from app.main import create_app
from app.users.models import Role
from tests.builders import make_user
from tests.databases import throwaway_database


@dataclass
class LiveApp:
    app: FastAPI
    api: AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    backend: str

    async def user(self, role: Role) -> dict[str, str]:
        async with self.sessions() as session:
            _, headers = await make_user(session, role=role)
            await session.commit()
        return headers


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@asynccontextmanager
async def live_app(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    backend = backend_of(database_url)
    async with throwaway_database(backend, tmp_path) as url:
        await upgrade_async(url)
        settings = Settings(
            database_url=url,
            secret_key=SecretStr(Fernet.generate_key().decode()),
            tracker_allowed_hosts=["127.0.0.1", "localhost"],
            rate_limit="0",
        )
        app = create_app(settings)
        app.state.secret_box = secret_box(settings)
        engine = make_engine(url, pool_size=12)
        app.state.engine = engine
        app.state.sessionmakers = Sessionmakers(engine)
        if backend == "postgresql":
            app.state.fast_lane = await FastLane.open(url, size=12)
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with AsyncClient(transport=transport, base_url="http://live") as api:
                yield LiveApp(app, api, app.state.sessionmakers.write, backend)
        finally:
            if app.state.fast_lane is not None:
                await app.state.fast_lane.close()
            await engine.dispose()
