"""An in-process app on a seeded database of its own, for schemathesis to fuzz.

Schemathesis calls ASGI apps from an event loop thread of its own, so the app gets a lifespan
of its own here: its engine is made, used and disposed on that loop, and no sync worker runs
(it would try to reach whatever trackers fuzzed integrations name). The database is migrated
and seeded with the demo data set beforehand, on the test's loop with an engine of its own;
integrations, a link (and so an outbox job) and webhook deliveries are then added over HTTP.
"""

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg
import requests
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from schemathesis.python import asgi
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import Sessionmakers, make_engine
from app.core.fastlane import FastLane
from app.core.migrations import upgrade_async
from app.demo import load_demo
from app.main import create_app
from app.users.models import Role
from app.webhooks.signatures import sign
from tests.builders import make_user
from tests.databases import SharedSession, throwaway_database

WEBHOOK_SECRET = "fuzz-webhook-secret"
FIXTURES = Path(__file__).parent / "fixtures"
Headers = dict[str, str]


@dataclass(frozen=True)
class FuzzDatabase:
    url: str
    settings: Settings
    headers: dict[Role, Headers]  # a fresh user of each role, and a token of theirs


@dataclass(frozen=True)
class FuzzTarget:
    app: FastAPI
    headers: dict[Role, Headers]


def fuzz_settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        secret_key=SecretStr(Fernet.generate_key().decode()),
        tracker_allowed_hosts=["127.0.0.1", "localhost"],
        log_level="WARNING",  # no access line for each of thousands of requests
        rate_limit="0",  # thousands of requests per token: the limit has tests of its own
    )


async def _seed_demo(url: str, settings: Settings) -> dict[Role, Headers]:
    engine = make_engine(url, pool_size=1)
    try:
        async with Sessionmakers(engine).write() as session:
            await load_demo(session, settings=settings)
            headers = {role: (await make_user(session, role=role))[1] for role in Role}
            await session.commit()
    finally:
        await engine.dispose()
    return headers


@asynccontextmanager
async def fuzz_database(backend: str, tmp_dir: Path) -> AsyncIterator[FuzzDatabase]:
    """A migrated database with the demo data and one user of each role; dropped afterwards."""
    async with throwaway_database(backend, tmp_dir) as url:
        await upgrade_async(url)
        settings = fuzz_settings(url)
        yield FuzzDatabase(url, settings, await _seed_demo(url, settings))


def _lifespan(settings: Settings) -> Callable[[FastAPI], Any]:
    """The app's database, made once: schemathesis may end the lifespan when a client closes
    and start it again mid-scenario, and what `rolled_back` put in place must stay."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "engine", None) is None:
            app.state.secret_box = secret_box(settings)
            engine = make_engine(settings.database_url, pool_size=2)
            app.state.engine = engine
            app.state.sessionmakers = Sessionmakers(engine)
            if not settings.is_sqlite:
                app.state.fast_lane = await FastLane.open(settings.database_url, size=2)
        yield

    return lifespan


async def _close(app: FastAPI) -> None:
    if app.state.fast_lane is not None:
        await app.state.fast_lane.close()
    if getattr(app.state, "engine", None) is not None:
        await app.state.engine.dispose()


@contextmanager
def fuzz_target(database: FuzzDatabase) -> Iterator[FuzzTarget]:
    """The app on `database`, its tracker side seeded; its lifespan ends on the way out."""
    app = create_app(database.settings)
    app.router.lifespan_context = _lifespan(database.settings)
    try:
        with client_for(app) as client:
            _seed_trackers(client, database.headers[Role.ADMIN])
        yield FuzzTarget(app, database.headers)
    finally:
        asgi.shutdown_lifespans()
        asgi._get_portal().call(_close, app)


@contextmanager
def rolled_back(app: FastAPI) -> Iterator[None]:
    """Whatever the app commits meanwhile is rolled back afterwards: its sessions join one outer
    transaction through SAVEPOINTs (as in conftest), so every stateful scenario starts from the
    same data and Hypothesis sees the same answers when it replays one."""
    portal = asgi._get_portal()  # the loop the app and its engine run on
    connection: AsyncConnection = portal.call(app.state.engine.connect)
    transaction = portal.call(connection.begin)
    session = AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    sessionmakers, lane = app.state.sessionmakers, app.state.fast_lane
    app.state.sessionmakers = SharedSession(session)
    if lane is not None:  # the lane's statements join the transaction too
        raw = portal.call(connection.get_raw_connection)
        app.state.fast_lane = FastLane.on(cast(asyncpg.Connection, raw.driver_connection))
    try:
        yield
    finally:
        app.state.sessionmakers, app.state.fast_lane = sessionmakers, lane
        portal.call(session.close)
        portal.call(transaction.rollback)
        portal.call(connection.close)


def client_for(app: FastAPI) -> asgi.ASGIClient:
    """Schemathesis' own in-process client: its requests run on the loop the app's engine uses."""
    return asgi.get_client(cast(asgi.ASGIApp, app))


def _created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


def _seed_trackers(client: requests.Session, admin: Headers) -> None:
    """A GitHub and a Jira integration with webhook secrets, a link, and a delivery each."""
    github = _created(
        client.post(
            "/api/v1/integrations",
            headers=admin,
            json={
                "kind": "github",
                "name": "fuzz github",
                "base_url": "http://127.0.0.1:9",
                "repository": "acme/web",
                "auth": {"token": "ghp-fuzz"},
                "webhook_secret": WEBHOOK_SECRET,
            },
        )
    )
    jira = _created(
        client.post(
            "/api/v1/integrations",
            headers=admin,
            json={
                "kind": "jira",
                "name": "fuzz jira",
                "base_url": "http://127.0.0.1:9",
                "project_key": "MKT",
                "auth": {"token": "jira-fuzz", "email": "fuzz@example.com"},
                "webhook_secret": WEBHOOK_SECRET,
            },
        )
    )
    items = _created(client.get("/api/v1/items", headers=admin, params={"limit": 2}))["items"]
    _created(
        client.post(
            f"/api/v1/items/{items[0]['id']}/links",
            headers=admin,
            json={"integration_id": github["id"], "remote_key": "12"},
        )
    )
    issue = (FIXTURES / "github/webhooks/issues/opened.payload.json").read_bytes()
    _created(deliver(client, f"/api/v1/webhooks/github/{github['id']}", issue, delivery="d-1"))
    jira_issue = (FIXTURES / "jira/webhooks/webhook-issue-created.json").read_bytes()
    _created(deliver(client, f"/api/v1/webhooks/jira/{jira['id']}", jira_issue, delivery="j-1"))


def deliver(
    client: requests.Session,
    path: str,
    body: bytes,
    *,
    delivery: str,
    headers: Headers | None = None,
) -> requests.Response:
    """POST a delivery signed as GitHub (and Jira) sign them."""
    signature = sign(WEBHOOK_SECRET, body)
    signed = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "X-Atlassian-Webhook-Identifier": delivery,
        **(headers or {}),
        "X-Hub-Signature-256": signature,
        "X-Hub-Signature": signature,
    }
    return client.post(path, data=body, headers=signed)


def json_bytes(body: object) -> bytes:
    """A generated body as sent: JSON, unless it is raw bytes already (malformed on purpose)."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()
