"""On PostgreSQL, each documented backlog filter + sort is an ordered index scan, no sort step,
for the first page and for a page deep in the cursor."""

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem, ItemStatus
from app.core.pagination import Keyset

NO_FILTERS: dict[str, Any] = {
    "status": [],
    "type": None,
    "team_id": None,
    "sprint_id": None,
    "backlog_only": False,
    "request_id": None,
    "label": None,
    "assignee_id": None,
    "min_stability_impact": None,
    "min_security_impact": None,
    "q": None,
    "updated_since": None,
}
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "backlog by rank": ({"backlog_only": True}, "rank"),
    "team backlog by rank": ({"team_id": 3, "backlog_only": True}, "rank"),
    "sprint by rank": ({"sprint_id": 7}, "rank"),
    "one status by rank": ({"status": [ItemStatus.READY]}, "rank"),
    "everything by rank": ({}, "rank"),
    "recently updated": ({}, "-updated_at"),
    "oldest first": ({}, "created_at"),
    "best wsjf": ({}, "-wsjf"),
}
DEEP_VALUES = {
    "rank": "a5",
    "updated_at": "2026-01-01T00:00:00+00:00",
    "created_at": "2026-01-01T00:00:00+00:00",
    "wsjf": 2.5,
}


def _nodes(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"]] + [n for child in plan.get("Plans", []) for n in _nodes(child)]


async def _plan(session: AsyncSession, filters: dict[str, Any], sort: str, deep: bool) -> list[str]:
    keyset = Keyset.parse(sort, backlog_service.SORTS, tie_breaker=BacklogItem.id)
    query = backlog_service.filtered(
        select(BacklogItem), **NO_FILTERS | filters, dialect="postgresql"
    )
    if keyset.nullable:
        query = query.where(keyset.column.is_not(None))
    if deep:
        value = keyset.decode(keyset.encode(_Row(keyset.name)))[0]
        query = query.where(keyset.beyond(value, 1000))
    query = query.order_by(*keyset.order_by(keyset.column)).limit(51)
    sql = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    # An empty test table has no telling statistics: rule out the alternatives instead, so a
    # plan without a Sort exists only if an index yields this order.
    for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
        await session.execute(text(f"SET LOCAL {setting} = off"))
    result = await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))
    plan = result.scalar_one()[0]["Plan"]
    return _nodes(plan)


class _Row:
    def __init__(self, name: str) -> None:
        setattr(self, name, DEEP_VALUES[name])
        self.id = 1000


@pytest.mark.parametrize("deep", [False, True], ids=["first page", "deep page"])
@pytest.mark.parametrize("case", list(CASES))
async def test_listing_is_an_ordered_index_scan(
    session: AsyncSession, database_url: str, case: str, deep: bool
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("query plans are checked on PostgreSQL, the production database")
    filters, sort = CASES[case]
    nodes = await _plan(session, filters, sort, deep)
    assert "Sort" not in nodes, nodes
    assert any(node.startswith("Index") for node in nodes), nodes
