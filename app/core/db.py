"""Async engine, declarative base and the one-session-per-request dependency."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Enum, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core.urls import async_database_url, is_sqlite_url

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 5000
PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "bb_idle_since"
SQLITE_BEGIN_OPTION = "sqlite_begin"
# Execution options for read-mostly work; a no-op on PostgreSQL.
READ_ONLY = {SQLITE_BEGIN_OPTION: "DEFERRED"}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[StrEnum], length: int = 32) -> Enum:
    """A StrEnum stored as its values in a plain string column (no native DB enum)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, enforced foreign keys, and transactions SQLAlchemy controls.

    pysqlite's own transaction handling breaks SAVEPOINTs; we emit BEGIN ourselves. Writers
    BEGIN IMMEDIATE: taking the write lock up front makes two writers wait on the busy timeout
    instead of failing with SQLITE_BUSY when a read transaction upgrades. Readers (GET
    requests, probes) use `READ_ONLY` below and BEGIN DEFERRED, so they never queue behind a
    writer in WAL mode.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool.

    `pool_pre_ping` costs a round trip on every checkout, that is on every request. A
    connection that was checked in less than `PING_AFTER_IDLE_S` ago was working then, so it is
    handed out as it is; an older one is pinged first and, if the ping fails, replaced (the
    pool retries the checkout on `DisconnectionError`), as `pool_pre_ping` would.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():  # the server closed it: free to see
            raise DisconnectionError("the pooled connection was closed by the server")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


def make_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = async_database_url(database_url)
    if is_sqlite_url(url):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Sessionmakers:
    """Sessions for writing requests, and for reading ones (GET/HEAD).

    On PostgreSQL a reading session runs in autocommit: under READ COMMITTED every statement
    takes its own snapshot anyway, so a transaction around a GET's reads bought only a BEGIN
    and a ROLLBACK round trip. (A token's `last_used_at` touch commits at once either way.)
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.write = make_sessionmaker(engine)
        reading = (
            READ_ONLY if engine.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
        )
        self.read = make_sessionmaker(engine.execution_options(**reading))


def on_postgresql(session: AsyncSession) -> bool:
    """The session's database is PostgreSQL (else SQLite, the embedded default)."""
    return session.get_bind().dialect.name == "postgresql"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session, one transaction per request; whatever was not committed is rolled back."""
    makers: Sessionmakers = request.app.state.sessionmakers
    reading = request.method in ("GET", "HEAD")
    async with (makers.read if reading else makers.write)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
# For a route that needs a session only sometimes (FastAPI's handling of a yield dependency
# costs ~0.1 ms of CPU even when the session goes unused): `async with open_session(request)`.
open_session = asynccontextmanager(get_session)
