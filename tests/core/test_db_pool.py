"""The pool on PostgreSQL: pooled connections that died are replaced, read sessions hold no
transaction open (and so send no BEGIN/ROLLBACK)."""

from pathlib import Path

import pytest
from sqlalchemy import text

from app.core import db
from app.core.db import Sessionmakers, make_engine
from tests.databases import throwaway_database


async def test_a_killed_pooled_connection_is_replaced_after_idling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    async with throwaway_database("postgresql", tmp_path) as url:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            async with make_engine(url, pool_size=1).connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await killer.commit()
                await killer.engine.dispose()
            async with engine.connect() as connection:
                assert await connection.scalar(text("SELECT pg_backend_pid()")) != pid
        finally:
            await engine.dispose()


async def test_read_sessions_autocommit_and_write_sessions_do_not(tmp_path: Path) -> None:
    async with throwaway_database("postgresql", tmp_path) as url:
        engine = make_engine(url, pool_size=2)
        makers = Sessionmakers(engine)
        try:
            for maker, one_transaction in ((makers.read, False), (makers.write, True)):
                async with maker() as session:
                    first = await session.scalar(text("SELECT now() FROM pg_sleep(0.01)"))
                    second = await session.scalar(text("SELECT now()"))
                    assert (first == second) is one_transaction
        finally:
            await engine.dispose()
