"""Migrations go up, down and up again, and agree with the models, on both databases."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.core.db import Base, make_engine
from app.core.migrations import downgrade, upgrade
from app.models import import_all_models
from tests.databases import throwaway_database


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_downgrade_upgrade_and_models_match(
    database_url: str, tmp_path: Path
) -> None:
    import_all_models()
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    async with throwaway_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            await asyncio.to_thread(upgrade, url)
            async with engine.connect() as conn:
                assert await conn.run_sync(_schema_diff) == []
                assert {"users", "api_tokens"} <= await conn.run_sync(_tables)
            await asyncio.to_thread(downgrade, url)
            async with engine.connect() as conn:
                assert await conn.run_sync(_tables) <= {"alembic_version"}
            await asyncio.to_thread(upgrade, url)
            async with engine.connect() as conn:
                assert await conn.run_sync(_schema_diff) == []
        finally:
            await engine.dispose()
