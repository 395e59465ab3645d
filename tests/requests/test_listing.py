"""Cursor pagination walks every request exactly once, in order, under every sort."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.http import AsyncClient
from app.requests.models import MarketingRequest, RequestStatus
from app.users.models import Role
from tests.builders import make_user
from tests.statements import recorded

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SORTS = ["created_at", "updated_at", "target_date", "business_value", "title", "id"]


def _expected_order(rows: list[dict[str, Any]], sort: str) -> list[int]:
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    present = [r for r in rows if r[field] is not None]
    missing = [r for r in rows if r[field] is None]
    # Ties by id in the same direction; nulls last in both directions.
    present.sort(key=lambda r: (r[field], r["id"]), reverse=descending)
    return [r["id"] for r in present] + sorted((r["id"] for r in missing), reverse=descending)


async def _seed(session: AsyncSession, count: int) -> list[dict[str, Any]]:
    requester, _ = await make_user(session, role=Role.MARKETING)
    requests = [
        MarketingRequest(
            title=f"request {n % 50:03d}",
            requester_id=requester.id,
            status=RequestStatus.DRAFT,
            created_at=BASE + timedelta(minutes=n % 7),  # many ties
            updated_at=BASE + timedelta(seconds=n * 13 % 101),
            target_date=None if n % 5 == 0 else date(2027, 1, 1) + timedelta(days=n % 11),
            business_value=None if n % 4 == 0 else n % 10 + 1,
        )
        for n in range(count)
    ]
    session.add_all(requests)
    await session.flush()
    return [{field: getattr(r, field) for field in SORTS} for r in requests]


@pytest.mark.parametrize("sort", SORTS + [f"-{s}" for s in SORTS])
async def test_walk_500_requests(api: AsyncClient, session: AsyncSession, sort: str) -> None:
    rows = await _seed(session, 500)
    _, headers = await make_user(session, role=Role.IT)
    seen: list[int] = []
    url: str | None = f"/api/v1/requests?sort={sort}&limit=37"
    while url:
        resp = await api.get(url, headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen += [r["id"] for r in body["items"]]
        url = resp.headers.get("link", "").partition("<")[2].partition(">")[0] or None
        assert (url is None) == (body["next_cursor"] is None)
    assert len(seen) == len(set(seen)) == 500
    assert seen == _expected_order(rows, sort)


async def test_a_cursor_from_another_sort_is_400(api: AsyncClient, session: AsyncSession) -> None:
    await _seed(session, 5)
    _, headers = await make_user(session, role=Role.IT)
    first = await api.get("/api/v1/requests?sort=title&limit=2", headers=headers)
    cursor = first.json()["next_cursor"]
    resp = await api.get(f"/api/v1/requests?sort=created_at&cursor={cursor}", headers=headers)
    assert resp.status_code == 400
    assert resp.json()["type"] == "/problems/invalid-cursor"


async def test_a_page_costs_the_same_few_queries_whatever_its_size(
    api: AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    await _seed(session, 120)
    _, headers = await make_user(session, role=Role.IT)
    await api.get("/api/v1/me", headers=headers)  # token last_used_at written once, up front

    async def statements_for(limit: int) -> int:
        with recorded(engine, starting="SELECT") as selects:
            resp = await api.get(f"/api/v1/requests?limit={limit}", headers=headers)
            assert len(resp.json()["items"]) == limit
        return len(selects)

    # token, requests, assessments (+ reviews when any): never one per row
    assert await statements_for(5) == await statements_for(100) <= 4
