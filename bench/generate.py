"""Create and fill a benchmark database: users, 5 teams and their sprints, requests, N items.

    python bench/generate.py --database-url postgresql://postgres@127.0.0.1/bb_bench_1k \
        --items 1000

Creates the database if it is missing, migrates it to head, creates users and teams through
`app.users.service` and `app.teams.service` (so the admin's token is a real one) and
bulk-loads sprints, requests and items (PostgreSQL: COPY; SQLite: batched INSERTs). Prints
the admin's token as the last line.

On PostgreSQL the load runs with `session_replication_role = replica` (no FK triggers; the
generated references are valid by construction) and with the item indexes dropped and
rebuilt from their own `pg_indexes` definitions afterwards; then VACUUM ANALYZE.
A database that already has items is refused; `--recreate` drops it first.
"""

import argparse
import asyncio
import itertools
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from fractional_indexing import validate_order_key
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem, compute_wsjf
from app.core.db import make_engine, make_sessionmaker
from app.core.migrations import upgrade
from app.core.urls import is_sqlite_url
from app.teams import service as teams_service
from app.teams.schemas import TeamCreate
from app.users import service as users_service
from app.users.models import Role
from app.users.schemas import UserCreate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rows  # a sibling module: bench/ is not a package

ADMIN = "bench-admin"
USERS = {
    ADMIN: Role.ADMIN,
    **{f"bench-it-{i}": Role.IT for i in range(1, 7)},
    **{f"bench-marketing-{i}": Role.MARKETING for i in range(1, 5)},
    "bench-security": Role.SECURITY,
}
TOKEN_TTL = timedelta(days=90)
SQLITE_BATCH = 20_000


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")


def asyncpg_dsn(database_url: str, database: str | None = None) -> str:
    """`postgresql+asyncpg://u@h/db` -> `postgresql://u@h/db` (or another database on it)."""
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def prepare_postgres(database_url: str, *, recreate: bool, drop: bool = False) -> None:
    name = make_url(database_url).database
    assert name, "the URL names no database"
    admin = await asyncpg.connect(asyncpg_dsn(database_url, "postgres"))
    try:
        if drop:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        if recreate:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")
    finally:
        await admin.close()


def prepare_sqlite(database_url: str, *, recreate: bool, drop: bool = False) -> None:
    path = make_url(database_url).database
    if (recreate or drop) and path:
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


async def create_people(database_url: str) -> tuple[rows.People, list[int], str]:
    """Users and teams, through the services (events and all); the admin's fresh token."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            if await session.scalar(select(func.count()).select_from(BacklogItem)):
                raise SystemExit("the database already has items; use --recreate to start over")
            ids: dict[Role, list[int]] = {}
            for name, role in USERS.items():
                data = UserCreate(name=name, role=role, email=f"{name}@example.com")
                user = await users_service.create_user(session, data=data)
                ids.setdefault(role, []).append(user.id)
            token = await _admin_token(session)
            teams = await _create_teams(session, it=ids[Role.IT])
            await session.commit()
    finally:
        await engine.dispose()
    return rows.People(marketing=ids[Role.MARKETING], it=ids[Role.IT]), teams, token


async def _create_teams(session: AsyncSession, *, it: list[int]) -> list[int]:
    admin = await users_service.get_user_by_name(session, name=ADMIN)
    teams = []
    for n, name in enumerate(rows.TEAM_NAMES):
        data = TeamCreate(
            name=name, default_capacity_points=50, stability_budget=2,
            timezone="Europe/Amsterdam", members=[it[n % len(it)], it[(n + 1) % len(it)]],
        )  # fmt: skip
        teams.append((await teams_service.create_team(session, data=data, actor=admin)).id)
    return teams


async def _admin_token(session: AsyncSession) -> str:
    admin = await users_service.get_user_by_name(session, name=ADMIN)
    _, secret = await users_service.create_token(session, user=admin, name="bench", ttl=TOKEN_TTL)
    return secret


Load = tuple[str, Sequence[str], Iterable[tuple[Any, ...]]]  # table, columns, rows


async def copy_postgres(database_url: str, loads: list[Load]) -> None:
    """COPY each table; the item indexes are dropped first and rebuilt after (much faster)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("SET maintenance_work_mem = '1GB'")
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'backlog_items'"
            " AND indexname <> 'pk_backlog_items'"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        for table, columns, records in loads:
            started = time.perf_counter()
            await connection.copy_records_to_table(table, records=records, columns=columns)
            log(f"copied {table} in {time.perf_counter() - started:.1f}s")
        for index in indexes:
            await connection.execute(index["indexdef"])
        for table, _, _ in loads:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
            await connection.execute(f"VACUUM ANALYZE {table}")
    finally:
        await connection.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite storage format, naive UTC
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return value


def insert_sqlite(database_url: str, loads: list[Load]) -> None:
    path = make_url(database_url).database
    assert path, "the URL names no file"
    connection = sqlite3.connect(path)
    try:
        for table, columns, records in loads:
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            batch: list[tuple[Any, ...]] = []
            for record in records:
                batch.append(tuple(_sqlite_value(value) for value in record))
                if len(batch) == SQLITE_BATCH:
                    connection.executemany(sql, batch)
                    batch.clear()
            connection.executemany(sql, batch)
        connection.commit()
        connection.execute("ANALYZE")
    finally:
        connection.close()


def check_sample(plan: rows.Layout, rnd: random.Random) -> None:
    """Ranks are valid keys, strictly increasing per backlog; WSJF agrees with the model's."""
    for index in rnd.sample(range(len(plan.ranks)), min(1000, len(plan.ranks))):
        validate_order_key(plan.ranks[index])
    by_backlog: dict[int, list[str]] = {}
    for team, rank in zip(plan.teams, plan.ranks, strict=True):
        by_backlog.setdefault(team or 0, []).append(rank)
    for ranks in by_backlog.values():
        ordered = sorted(ranks)
        assert all(a < b for a, b in itertools.pairwise(ordered)), "duplicate rank"
    for _ in range(200):
        points, parts = rnd.choice((None, 0, 1, 3, 8)), (rnd.choice((None, 1, 7)), None, 4)
        item = BacklogItem(
            story_points=points, business_value=parts[0], time_criticality=parts[1],
            risk_reduction=parts[2],
        )  # fmt: skip
        assert rows.compute_wsjf(points, parts) == compute_wsjf(item)


async def generate(args: argparse.Namespace) -> str:
    sqlite = is_sqlite_url(args.database_url)
    if sqlite:
        prepare_sqlite(args.database_url, recreate=args.recreate)
    else:
        await prepare_postgres(args.database_url, recreate=args.recreate)
    await asyncio.to_thread(upgrade, args.database_url)
    people, teams, token = await create_people(args.database_url)
    rnd = random.Random(args.seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    plan = rows.layout(rnd, args.items, team_ids=teams)
    check_sample(plan, random.Random(args.seed))
    log(f"laid out {args.items} items in {time.perf_counter() - started:.1f}s")
    sprints, by_team = rows.sprint_rows(rnd, teams=teams, now=now)
    requests = rows.request_rows(rnd, count=args.requests, people=people, now=now)
    items = rows.item_rows(
        rnd, plan=plan, sprints=by_team, people=people,
        request_ids=[request[0] for request in requests], now=now, sprint_share=args.sprint_share,
        sprint_items=args.sprint_items,
    )  # fmt: skip
    members = rows.SprintMembers({})
    history = rows.sprint_history(rnd, sprints=sprints, members=members, now=now)
    loads: list[Load] = [
        ("sprints", rows.SPRINT_COLUMNS, sprints),
        ("requests", rows.REQUEST_COLUMNS, requests),
        ("backlog_items", rows.ITEM_COLUMNS, members.note(items)),
        ("events", rows.EVENT_COLUMNS, history),  # lazy: read after the items went past
    ]
    if sqlite:
        await asyncio.to_thread(insert_sqlite, args.database_url, loads)
    else:
        await copy_postgres(args.database_url, loads)
    log(f"loaded {args.items} items in {time.perf_counter() - started:.1f}s")
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--sprint-share", type=float, default=rows.SPRINT_SHARE,
        help=f"share of items in sprints (at most {1 - rows.TEAMLESS_SHARE:.2f})",
    )  # fmt: skip
    parser.add_argument(
        "--sprint-items", type=int, default=rows.SPRINT_ITEMS,
        help="most items one sprint holds (the rest of the share stays in the backlog)",
    )  # fmt: skip
    parser.add_argument("--recreate", action="store_true", help="drop the database first")
    parser.add_argument("--drop", action="store_true", help="only drop the database")
    args = parser.parse_args()
    if args.drop:
        if is_sqlite_url(args.database_url):
            prepare_sqlite(args.database_url, recreate=False, drop=True)
        else:
            asyncio.run(prepare_postgres(args.database_url, recreate=False, drop=True))
        return
    token = asyncio.run(generate(args))
    sys.stdout.write(f"token of {ADMIN} follows\n{token}\n")


if __name__ == "__main__":
    main()
