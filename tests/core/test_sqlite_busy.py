"""SQLite, the embedded default, has one writer at a time: a write that waits past the busy
timeout is a 503 the client may retry, and it changed nothing (not a 500)."""

import sqlite3
from pathlib import Path

import pytest

from app.core import db
from app.users.models import Role
from tests.core.test_errors import assert_problem
from tests.live import live_app


async def test_a_write_that_waits_past_the_busy_timeout_is_503_and_changes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    async with live_app(database_url, tmp_path) as live:
        marketing = await live.user(Role.MARKETING)
        path = live.app.state.engine.url.database
        other_writer = sqlite3.connect(path, isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")
        try:
            body = {"title": "Spring campaign page", "business_goal": "Leads"}
            resp = await live.api.post("/api/v1/requests", headers=marketing, json=body)
        finally:
            other_writer.execute("ROLLBACK")
            other_writer.close()
        assert_problem(resp, 503, "busy")
        assert resp.headers["retry-after"] == "1"
        listed = await live.api.get("/api/v1/requests", headers=marketing)
        assert listed.json()["items"] == []
