"""Every DB-touching test runs on SQLite and on PostgreSQL, schema built by Alembic.

Each test runs inside an outer transaction that is rolled back at the end; the app's
session joins it through SAVEPOINTs, so routes may commit freely.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import asyncpg
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import make_engine
from app.core.fastlane import FastLane
from app.core.http import ASGITransport, AsyncClient
from app.core.migrations import upgrade_async
from app.main import create_app
from app.users.models import Role
from tests.builders import make_user
from tests.contract import check_response
from tests.databases import BACKENDS, SharedSession, throwaway_database

LoginAs = Callable[[Role], Awaitable[dict[str, str]]]


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with throwaway_database(request.param, tmp_path_factory.mktemp("db")) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        yield session


TEST_SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        tracker_allowed_hosts=["127.0.0.1", "localhost"],
        rate_limit="0",  # tests make many calls with one token; tests/core/test_rate_limit.py
    )


@pytest.fixture
async def app(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection, session: AsyncSession
) -> FastAPI:
    app = create_app(settings)
    app.state.engine = engine
    app.state.secret_box = secret_box(settings)
    if engine.dialect.name == "postgresql":  # the fast lane runs in the test's transaction
        raw = await connection.get_raw_connection()
        app.state.fast_lane = FastLane.on(cast(asyncpg.Connection, raw.driver_connection))
    app.state.sessionmakers = SharedSession(session)
    return app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    hooks = {"response": [check_response]}  # every 2xx body is held to the OpenAPI document
    async with AsyncClient(
        transport=transport, base_url="http://test", event_hooks=hooks
    ) as client:
        yield client


@pytest.fixture
def login_as(session: AsyncSession) -> LoginAs:
    """`headers = await login_as(Role.IT)`: a new user of that role and their auth headers."""

    async def login(role: Role) -> dict[str, str]:
        _, headers = await make_user(session, role=role)
        return headers

    return login
