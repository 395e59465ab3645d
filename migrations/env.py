"""Alembic environment: async engine, batch mode on SQLite, an advisory lock on PostgreSQL."""

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.core.config import Settings
from app.core.db import Base, make_engine
from app.models import import_all_models

import_all_models()
target_metadata = Base.metadata

# An arbitrary constant: every `migrate` on one PostgreSQL database queues on the same lock.
MIGRATION_LOCK_ID = 0x6262_6D69


def _do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


async def _run_async_migrations(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _do_run_migrations(connection)
        return
    database_url = context.config.attributes.get("database_url") or Settings().database_url
    asyncio.run(_run_async_migrations(database_url))


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
run_migrations_online()
