"""`migrate`, `migrate --check`, `worker` and `demo`."""

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo
from app.cli_support import about_database, checked_secret_box, run_in_session, shown_url
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.migrations import SchemaState, schema_state, script_revisions, upgrade
from app.sync import runner

BEHIND = 1  # `migrate --check`: the database needs `migrate`


def run_ops_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        return check_schema(settings) if args.check else migrate(settings)
    if settings.is_sqlite:
        migrate(settings)  # the embedded database is ours to keep current
    if args.command == "demo":
        return load_demo(settings)
    with about_database(settings.database_url):
        return asyncio.run(_work(settings, once=args.once))


def migrate(settings: Settings) -> int:
    with about_database(settings.database_url):
        upgrade(settings.database_url)
    return 0


def check_schema(settings: Settings) -> int:
    """Print where the schema stands; exit 1 when it is behind this release (changes nothing)."""
    url = settings.database_url
    if settings.is_sqlite and not _sqlite_file_exists(url):
        print(f"database {shown_url(url)} does not exist yet: run `backlog-bridge migrate`")
        return BEHIND
    with about_database(url):
        state = asyncio.run(_schema_state(url))
    if state.current is None:
        print(f"database has no schema yet (head is {state.head}): run `backlog-bridge migrate`")
        return BEHIND
    if state.current == state.head:
        print(f"database is at head {state.head}")
        return 0
    if state.ready:  # a newer release migrated it: expand/contract keeps this one working
        print(f"database is at {state.current}, ahead of this release's head {state.head}")
        return 0
    print(f"database is at {state.current}, behind head {state.head}: run `backlog-bridge migrate`")
    return BEHIND


def _sqlite_file_exists(url: str) -> bool:
    """Connecting would create the file: a check must not leave an empty database behind."""
    database = make_url(url).database
    return not database or database == ":memory:" or Path(database).exists()


async def _schema_state(url: str) -> SchemaState:
    head, known = script_revisions()
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await schema_state(connection, head, known)
    finally:
        await engine.dispose()


async def _work(settings: Settings, *, once: bool) -> int:
    box = checked_secret_box(settings)
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        sessions = make_sessionmaker(engine)
        async with runner.worker_for(settings, sessions, box) as worker:
            if once:
                print(f"delivered {await runner.drain(worker)} jobs")
            else:
                await _until_stopped(worker.run_forever())
    finally:
        await engine.dispose()
    return 0


async def _until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """SIGTERM or SIGINT cancel the work: the worker hands back the jobs it has not started."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def load_demo(settings: Settings) -> int:
    token = run_in_session(settings, lambda s: _demo_once(s, settings))
    if token is None:
        print("demo data is already loaded (its users exist); nothing changed")
        return 0
    admin = demo.USERS[demo.ADMIN]
    print(
        f"loaded demo data: {len(demo.USERS)} users, {len(demo.REQUESTS)} requests; "
        f"token of demo admin {admin.name!r} follows"
    )
    print(token)
    return 0


async def _demo_once(session: AsyncSession, settings: Settings) -> str | None:
    if await demo.is_loaded(session):
        return None
    return await demo.load_demo(session, settings=settings)
