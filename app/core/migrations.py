"""Alembic, driven from code: upgrade/downgrade and the readiness check against the head."""

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: run in a thread from async code (env.py runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    known: frozenset[str]

    @property
    def ready(self) -> bool:
        """At head, or ahead of it (expand/contract migrations keep old replicas working)."""
        if self.current is None:
            return False
        return self.current == self.head or self.current not in self.known


def script_revisions() -> tuple[str, frozenset[str]]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head, frozenset(rev.revision for rev in script.walk_revisions())


async def schema_state(
    connection: AsyncConnection, head: str, known: frozenset[str]
) -> SchemaState:
    try:
        async with connection.begin_nested():
            current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        current = None  # no alembic_version table: never migrated
    return SchemaState(current=current, head=head, known=known)
