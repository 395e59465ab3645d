import asyncio
from pathlib import Path

from fastapi import FastAPI

from app.core.config import Settings
from app.core.db import make_engine
from app.core.http import ASGITransport, AsyncClient
from app.core.migrations import downgrade, upgrade
from app.main import create_app
from app.users.models import Role
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem
from tests.databases import throwaway_database


async def test_healthz_needs_no_database(api: AsyncClient) -> None:
    resp = await api.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readyz_is_200_at_migration_head(api: AsyncClient, app: FastAPI) -> None:
    resp = await api.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["schema"] == app.state.migration_head


async def test_readyz_is_503_while_the_database_is_unreachable_and_200_once_back(
    app: FastAPI, api: AsyncClient
) -> None:
    dead = make_engine("postgresql://postgres@127.0.0.1:1/nothing")
    alive, app.state.engine = app.state.engine, dead
    try:
        resp = await api.get("/readyz")
    finally:
        app.state.engine = alive
        await dead.dispose()
    body = assert_problem(resp, 503, "not-ready")
    assert "unreachable" in str(body["detail"])
    assert (await api.get("/readyz")).status_code == 200  # the database is back


async def test_readyz_is_503_behind_head_and_200_ahead(database_url: str, tmp_path: Path) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    async with throwaway_database(backend, tmp_path) as url:
        app = _app_on(url)
        async with _client(app) as api:
            body = assert_problem(await api.get("/readyz"), 503, "not-ready")
            assert "nothing" in str(body["detail"])
            await asyncio.to_thread(upgrade, url)
            assert (await api.get("/readyz")).status_code == 200
            # A newer release migrated past us: still ready (expand/contract migrations).
            async with app.state.engine.begin() as conn:
                await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'future1'")
            assert (await api.get("/readyz")).status_code == 200
            async with app.state.engine.begin() as conn:
                await conn.exec_driver_sql(
                    f"UPDATE alembic_version SET version_num = '{app.state.migration_head}'"
                )
            await asyncio.to_thread(downgrade, url)
            assert (await api.get("/readyz")).status_code == 503
        await app.state.engine.dispose()


def _app_on(url: str) -> FastAPI:
    app = create_app(Settings(database_url=url))
    app.state.engine = make_engine(url)
    return app


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


async def test_metrics_count_requests_by_route_and_show_the_outbox(
    api: AsyncClient, login_as: LoginAs
) -> None:
    headers = await login_as(Role.IT)
    await api.get("/api/v1/items/424242", headers=headers)
    resp = await api.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert (
        'bb_http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="404"}' in text
    )
    assert "bb_http_request_duration_seconds_bucket" in text
    assert 'bb_outbox_jobs{state="pending"}' in text
    assert "bb_outbox_oldest_pending_seconds" in text
