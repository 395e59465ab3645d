"""Per-token rate limits: 429 with `Retry-After`, RateLimit headers, one count per token
shared by every replica on PostgreSQL (and counted in process on SQLite)."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import Sessionmakers, make_engine
from app.core.fastlane import FastLane
from app.core.http import ASGITransport, AsyncClient
from app.core.migrations import upgrade_async
from app.core.ratelimit import RateLimiter
from app.main import create_app
from app.users.models import Role
from tests.builders import make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem
from tests.databases import throwaway_database

WINDOW_S = 60
T0 = 1_800_000_000  # the start of a window (a multiple of 60)
WINDOWS = "SELECT window_start, hits FROM rate_limit_windows ORDER BY window_start"


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 10

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """Three requests per minute per token, on a clock the test moves."""
    clock = Clock()
    app.state.rate_limiter = limiter = RateLimiter(limit=3, window_s=WINDOW_S)
    limiter.clock = clock
    return clock


async def test_the_fourth_call_in_a_window_is_429_with_retry_after(
    api: AsyncClient, login_as: LoginAs, clock: Clock
) -> None:
    headers = await login_as(Role.MARKETING)
    remaining = []
    for _ in range(3):
        resp = await api.get("/api/v1/me", headers=headers)
        assert resp.status_code == 200
        assert resp.headers["RateLimit-Limit"] == "3"
        assert resp.headers["RateLimit-Reset"] == "50"
        remaining.append(resp.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    resp = await api.get("/api/v1/me", headers=headers)
    assert_problem(resp, 429, "rate-limited")
    assert resp.headers["Retry-After"] == "50"
    assert resp.headers["RateLimit-Remaining"] == "0"


async def test_other_tokens_keep_their_own_quota(
    api: AsyncClient, login_as: LoginAs, clock: Clock
) -> None:
    spent, fresh = await login_as(Role.IT), await login_as(Role.IT)
    for _ in range(4):
        await api.get("/api/v1/items", headers=spent)
    assert (await api.get("/api/v1/items", headers=spent)).status_code == 429
    resp = await api.get("/api/v1/items", headers=fresh)
    assert resp.status_code == 200
    assert resp.headers["RateLimit-Remaining"] == "2"


async def test_the_next_window_restores_the_quota(
    api: AsyncClient, login_as: LoginAs, clock: Clock
) -> None:
    headers = await login_as(Role.SECURITY)
    for _ in range(4):
        await api.get("/api/v1/me", headers=headers)
    clock.now += 55  # 5 s into the next window
    resp = await api.get("/api/v1/me", headers=headers)
    assert resp.status_code == 200
    assert (resp.headers["RateLimit-Remaining"], resp.headers["RateLimit-Reset"]) == ("2", "55")


async def test_refusals_count_too_and_come_after_401_before_404(
    api: AsyncClient, login_as: LoginAs, clock: Clock
) -> None:
    headers = await login_as(Role.MARKETING)
    for status in (404, 404, 403):  # a missing request, twice; creating a user
        path, method = ("/api/v1/requests/999999", "GET")
        if status == 403:
            path, method = "/api/v1/users", "POST"
        resp = await api.request(method, path, headers=headers, json={"name": "x"})
        assert resp.status_code == status
        assert "RateLimit-Remaining" in resp.headers
    assert_problem(await api.get("/api/v1/requests/999999", headers=headers), 429, "rate-limited")
    resp = await api.get("/api/v1/me", headers={"Authorization": "Bearer bb_nonsense"})
    assert_problem(resp, 401, "unauthorized")
    assert "RateLimit-Limit" not in resp.headers


async def test_unauthenticated_and_signed_routes_are_not_counted(
    api: AsyncClient, clock: Clock
) -> None:
    for _ in range(5):
        assert (await api.get("/healthz")).status_code == 200
    resp = await api.post("/api/v1/webhooks/github/999999", content=b"{}")
    assert resp.status_code in (401, 404, 422)
    assert "RateLimit-Limit" not in resp.headers


async def test_off_means_no_headers_and_no_limit(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.ADMIN)  # the suite's settings switch limits off
    for _ in range(5):
        resp = await api.get("/api/v1/me", headers=headers)
        assert resp.status_code == 200
        assert "RateLimit-Limit" not in resp.headers


@pytest.mark.parametrize(
    ("setting", "policy"), [("600/60", (600, 60)), ("100", (100, 60)), ("0", (0, 60))]
)
def test_setting(setting: str, policy: tuple[int, int]) -> None:
    assert Settings(rate_limit=setting).rate_limit_policy == policy
    assert Settings().rate_limit_policy == (600, 60)


@pytest.mark.parametrize("setting", ["", "ten", "10/0", "-1", "10/", "10 / 60"])
def test_bad_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValidationError):
        Settings(rate_limit=setting)


async def test_two_replicas_on_postgresql_share_one_count(tmp_path: Path) -> None:
    """Two apps with pools of their own (two replicas) draw on one quota per token."""
    async with throwaway_database("postgresql", tmp_path) as url:
        await upgrade_async(url)
        settings = Settings(
            database_url=url, secret_key=SecretStr(Fernet.generate_key().decode()), rate_limit="3"
        )
        engine = make_engine(url, pool_size=2)
        lanes = [await FastLane.open(url, size=2) for _ in range(2)]
        try:
            async with Sessionmakers(engine).write() as session:
                _, headers = await make_user(session, role=Role.IT)
                await session.commit()
            replicas = []
            for lane in lanes:
                app = create_app(settings)
                app.state.engine, app.state.sessionmakers = engine, Sessionmakers(engine)
                app.state.secret_box = secret_box(settings)
                app.state.fast_lane = lane
                replicas.append(AsyncClient(transport=ASGITransport(app=app), base_url="http://r"))
            a, b = replicas
            statuses = [
                (await client.get("/api/v1/me", headers=headers)).status_code
                for client in (a, b, a, b)
            ]
            assert statuses == [200, 200, 200, 429]
            async with engine.connect() as connection:
                windows = (await connection.execute(text(WINDOWS))).all()
            assert [hits for _, hits in windows] == [4]  # one row, counted in the database
        finally:
            for lane in lanes:
                await lane.close()
            await engine.dispose()


async def test_windows_before_the_last_are_pruned_on_postgresql(
    api: AsyncClient, login_as: LoginAs, clock: Clock, session: AsyncSession
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("on SQLite the count is kept in process")
    headers = await login_as(Role.IT)
    for minutes in (0, 1, 2):
        clock.now = T0 + 10 + 60 * minutes
        assert (await api.get("/api/v1/me", headers=headers)).status_code == 200
    windows = (await session.execute(text(WINDOWS))).all()
    assert [start for start, _ in windows] == [T0 + 60, T0 + 120]


async def test_browsers_may_read_the_headers_when_cors_is_on() -> None:
    app = create_app(Settings(cors_origins=["https://ui.example"]))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://cors") as api:
        resp = await api.get("/healthz", headers={"Origin": "https://ui.example"})
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"} <= exposed


async def test_the_backlog_page_counts_and_refuses_like_any_call(
    api: AsyncClient, login_as: LoginAs, clock: Clock
) -> None:
    """On PostgreSQL the plain backlog page is answered before FastAPI's routing (its own
    statement counts the call); the quota and the 429 are the same as everywhere."""
    headers = await login_as(Role.IT)
    remaining = []
    for _ in range(3):
        resp = await api.get("/api/v1/items?sprint_id=none", headers=headers)
        assert resp.status_code == 200
        remaining.append(resp.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    resp = await api.get("/api/v1/items?sprint_id=none", headers=headers)
    assert_problem(resp, 429, "rate-limited")
    assert resp.headers["Retry-After"] == "50"
