"""`backlog-bridge` command line: serve, migrate, users, tokens, openapi, demo."""

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo
from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import AppError
from app.core.logging import configure_logging
from app.core.migrations import upgrade
from app.sync import runner
from app.users import service as users_service
from app.users.models import Role
from app.users.schemas import UserCreate

T = TypeVar("T")
# How `serve` runs uvicorn (bench/refapps.py serves its reference apps the same way).
UVICORN_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False, "proxy_headers": False}


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP API (migrates first on SQLite)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        help="seconds an idle keep-alive connection stays open (uvicorn's; default 5)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        help="answer 503 beyond this many open connections per process (default: no limit)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backlog-bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    commands.add_parser("migrate", help="bring the database schema to the newest revision")
    worker = commands.add_parser("worker", help="deliver outbox jobs to Jira and GitHub")
    worker.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    commands.add_parser(
        "demo", help="load demo users and requests; prints the demo admin's token last"
    )

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create_user = users.add_parser("create", help="create a user; prints its token last")
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--role", required=True, choices=[r.value for r in Role])
    create_user.add_argument("--email")

    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create_token = tokens.add_parser("create", help="issue a token for a user; prints it last")
    create_token.add_argument("--user", required=True, help="the user's name")
    create_token.add_argument("--name", default="cli")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        return _dispatch(args, settings)
    except AppError as exc:
        print(f"error: {exc.detail or exc.title}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "migrate":
        upgrade(settings.database_url)
        return 0
    if args.command == "openapi":
        print(openapi_json())
        return 0
    if settings.is_sqlite:
        upgrade(settings.database_url)  # the embedded database is ours to keep current
    if args.command == "demo":
        return _load_demo(settings)
    if args.command == "worker":
        return asyncio.run(_work(settings, once=args.once))
    if args.command == "users":
        token = _run_in_session(settings, lambda s: _create_user(s, args, settings))
    else:
        token = _run_in_session(settings, lambda s: _create_token(s, args, settings))
    print(token)
    return 0


async def _work(settings: Settings, *, once: bool) -> int:
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        sessions = make_sessionmaker(engine)
        async with runner.worker_for(settings, sessions, secret_box(settings)) as worker:
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


def _load_demo(settings: Settings) -> int:
    token = _run_in_session(settings, lambda s: _demo_once(s, settings))
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


def openapi_json() -> str:
    from app.main import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if settings.is_sqlite:
        upgrade(settings.database_url)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_keep_alive=args.timeout_keep_alive,
        limit_concurrency=args.limit_concurrency,
        **UVICORN_OPTIONS,
    )
    return 0


def _run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _create_user(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> str:
    data = UserCreate(name=args.name, role=Role(args.role), email=args.email)
    user = await users_service.create_user(session, data=data)
    print(f"created user {user.name} (id {user.id}, role {user.role})")
    return await _issue(session, user_name=user.name, token_name="cli", settings=settings)


async def _create_token(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> str:
    return await _issue(session, user_name=args.user, token_name=args.name, settings=settings)


async def _issue(
    session: AsyncSession, *, user_name: str, token_name: str, settings: Settings
) -> str:
    user = await users_service.get_user_by_name(session, name=user_name)
    ttl = timedelta(days=settings.token_ttl_days)
    _, secret = await users_service.create_token(session, user=user, name=token_name, ttl=ttl)
    return secret


if __name__ == "__main__":
    sys.exit(main())
