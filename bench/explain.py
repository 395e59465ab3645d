"""EXPLAIN (ANALYZE, BUFFERS) of the SQL the app really sends for a backlog page and a move.

    python bench/explain.py --database-url postgresql://postgres@127.0.0.1/bb_bench_1m

Calls `app.backlog.service.list_items` (first page, and a cursor 80% down the
`sprint_id IS NULL` order) and `move_item` (rolled back) in-process, records their statements
with a `before_cursor_execute` listener, and explains each SELECT on `backlog_items` with the
same parameters: once as planned for those values (what the first executions of the app's
prepared statements get) and once as a generic plan (what PostgreSQL may switch a cached
prepared statement to after five executions, `plan_cache_mode = auto`). PostgreSQL only.
"""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem
from app.core.db import make_engine, make_sessionmaker
from app.core.pagination import Keyset
from app.users import service as users_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backlog_page import ADMIN  # a sibling module: bench/ is not a package

Statement = tuple[str, tuple[Any, ...]]
# GET /api/v1/items?sprint_id=none as app/backlog/router.py turns it into filters.
BACKLOG_FILTERS: dict[str, Any] = {
    "status": [], "type": None, "team_id": None, "backlog_only": True, "sprint_id": None,
    "request_id": None, "label": None, "assignee_id": None, "min_stability_impact": None,
    "min_security_impact": None, "q": None, "updated_since": None,
}  # fmt: skip
DEPTH = 0.8


async def captured(engine: AsyncEngine, work: Callable[[], Awaitable[object]]) -> list[Statement]:
    statements: list[Statement] = []

    def record(*args: Any) -> None:  # (conn, cursor, statement, parameters, context, many)
        statements.append((args[2], tuple(args[3] or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await work()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return statements


async def deep_cursor(session: AsyncSession) -> str:
    backlog = select(BacklogItem.id, BacklogItem.rank).where(BacklogItem.sprint_id.is_(None))
    count = await session.scalar(select(func.count()).select_from(backlog.subquery())) or 0
    row = (
        await session.execute(
            backlog.order_by(BacklogItem.rank, BacklogItem.id).offset(int(count * DEPTH)).limit(1)
        )
    ).one()
    return Keyset.parse("rank", backlog_service.SORTS, tie_breaker=BacklogItem.id).encode(row)


def literal(value: Any) -> str:
    """SQL text for a parameter (EXECUTE takes no bind parameters); ints and strings suffice."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"no literal for {value!r}")
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


async def explain(session: AsyncSession, statement: Statement) -> str:
    """Both plans of one statement, run for real (ANALYZE) with its own parameters."""
    sql, params = statement
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection  # the asyncpg connection
    options = "EXPLAIN (ANALYZE, BUFFERS)"
    custom = await driver.fetch(f"{options} {sql}", *params)
    out = [f"-- parameters: {params}", "-- plan for these values:"]
    out += [r[0] for r in custom]
    await driver.execute(f"PREPARE bench_generic AS {sql}")
    await driver.execute("SET plan_cache_mode = force_generic_plan")
    try:
        values = ", ".join(literal(value) for value in params)
        execute = f"EXECUTE bench_generic({values})" if params else "EXECUTE bench_generic"
        generic = await driver.fetch(f"{options} {execute}")
    finally:
        await driver.execute("RESET plan_cache_mode")
        await driver.execute("DEALLOCATE bench_generic")
    return "\n".join([*out, "-- generic plan:", *(r[0] for r in generic)])


def about_items(statements: list[Statement]) -> list[Statement]:
    return [s for s in statements if s[0].lstrip().startswith("SELECT") and "backlog_items" in s[0]]


async def report(database_url: str) -> str:
    engine = make_engine(database_url, pool_size=1)
    sections: list[str] = []
    try:
        async with make_sessionmaker(engine)() as session:
            for title, cursor in (("first page", None), ("deep page", await deep_cursor(session))):
                page = partial(backlog_service.list_items, session, filters=BACKLOG_FILTERS,
                               sort="rank", limit=50, cursor=cursor)  # fmt: skip
                statements = await captured(engine, page)
                for statement in about_items(statements):
                    sections.append(
                        f"## {title}\n\n{statement[0]}\n\n{await explain(session, statement)}"
                    )
            sections += await _move_sections(engine, session)
            await session.rollback()
    finally:
        await engine.dispose()
    return "\n\n".join(sections)


async def _move_sections(engine: AsyncEngine, session: AsyncSession) -> list[str]:
    """`move_item` before an item deep in the team-less backlog; rolled back by the caller."""
    actor = await users_service.get_user_by_name(session, name=ADMIN)
    ids = (
        await session.scalars(
            select(BacklogItem.id).where(BacklogItem.backlog == 0).order_by(func.random()).limit(2)
        )
    ).all()
    item = await backlog_service.get_item(session, item_id=ids[0])
    move = partial(backlog_service.move_item, session, item=item, before_id=ids[1],
                   after_id=None, position=None, actor=actor)  # fmt: skip
    statements = await captured(engine, move)
    return [
        f"## move (before_id)\n\n{s[0]}\n\n{await explain(session, s)}"
        for s in about_items(statements)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    sys.stdout.write(asyncio.run(report(args.database_url)) + "\n")


if __name__ == "__main__":
    main()
