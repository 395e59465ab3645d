"""Any sequence of creates and moves orders the backlog like a plain list, writing O(1) rows."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.backlog import ranking
from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem
from app.core.http import AsyncClient
from app.users.models import Role, User
from tests.builders import make_item, make_team, make_user
from tests.statements import recorded

Op = tuple[str, int, int]  # (kind, item index, anchor index)
OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "top", "bottom", "before", "after"]),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
    min_size=1,
    max_size=25,
)


async def _order(session: AsyncSession, team_id: int) -> list[int]:
    rows = await session.scalars(
        select(BacklogItem.id).where(BacklogItem.team_id == team_id).order_by(BacklogItem.rank)
    )
    return list(rows)


async def _apply(
    session: AsyncSession, engine: AsyncEngine, actor: User, team_id: int, ops: list[Op]
) -> list[int]:
    """Run the ops against the service and a plain list; return the list model."""
    model: list[int] = []
    for kind, i, j in ops:
        if kind == "create" or not model:
            item = await make_item(session, actor=actor, team_id=team_id)
            model.append(item.id)
            continue
        item = await backlog_service.get_item(session, item_id=model[i % len(model)])
        model.remove(item.id)
        anchor_id = model[j % len(model)] if model and kind in ("before", "after") else None
        if anchor_id is None and kind in ("before", "after"):
            kind = "top"
        with recorded(engine, starting="UPDATE backlog_items") as updates:
            await backlog_service.move_item(
                session,
                item=item,
                actor=actor,
                before_id=anchor_id if kind == "before" else None,
                after_id=anchor_id if kind == "after" else None,
                position=kind if kind in ("top", "bottom") else None,  # type: ignore[arg-type]
            )
            await session.flush()  # the move's writes, which wait for the request's flush
        assert len(updates) <= 1, updates  # the moved row (none if it did not move)
        at = {"top": 0, "bottom": len(model)}.get(kind)
        if at is None:
            at = model.index(anchor_id) + (kind == "after")  # type: ignore[arg-type]
        model.insert(at, item.id)
    return model


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
async def test_moves_match_a_list_model(
    session: AsyncSession, engine: AsyncEngine, ops: list[Op]
) -> None:
    actor, _ = await make_user(session, role=Role.IT)
    team_id = (await make_team(session)).id  # a backlog of its own for every example
    model = await _apply(session, engine, actor, team_id, ops)
    assert await _order(session, team_id) == model


async def test_crowded_gap_rebalances_a_bounded_window(
    session: AsyncSession, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "MAX_RANK_LENGTH", 4)
    monkeypatch.setattr(ranking, "REBALANCE_WINDOW", 3)
    actor, _ = await make_user(session, role=Role.IT)
    team_id = (await make_team(session)).id
    ops: list[Op] = [("create", 0, 0)] * 12
    model = await _apply(session, engine, actor, team_id, ops)
    first = model[0]
    most = 0
    for n in range(30):  # keep squeezing items in right after the first one
        mover = model[-2] if n % 2 else model[-1]
        item = await backlog_service.get_item(session, item_id=mover)
        with recorded(engine, starting="UPDATE backlog_items") as updates:
            await backlog_service.move_item(
                session, item=item, actor=actor, after_id=first, before_id=None, position=None
            )
        most = max(most, len(updates))
        model.remove(mover)
        model.insert(1, mover)
    assert await _order(session, team_id) == model
    assert model[0] == first
    ranks = await session.scalars(select(BacklogItem.rank).where(BacklogItem.team_id == team_id))
    assert max(len(rank) for rank in ranks) <= 6  # keys stay short
    assert 1 < most <= 2 * (2 * 3) + 1  # rebalances happened, each within the window (x2 writes)


async def test_move_anchor_must_be_in_the_same_backlog(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    one, two = (await make_team(session)).id, (await make_team(session)).id
    a = await make_item(session, team_id=one)
    b = await make_item(session, team_id=two)
    for body in (
        {"before_id": b.id},
        {"after_id": a.id},
        {"before_id": 999999},
        {},
        {"position": "top", "before_id": b.id},
        {"position": "middle"},
    ):
        resp = await api.post(f"/api/v1/items/{a.id}/move", json=body, headers=it)
        assert resp.status_code == 422, (body, resp.text)
    c = await make_item(session, team_id=two)
    top = await api.post(f"/api/v1/items/{c.id}/move", json={"position": "top"}, headers=it)
    assert top.status_code == 200
    assert top.json()["version"] == 2
    assert await _order(session, two) == [c.id, b.id]


async def test_changing_team_moves_the_item_to_the_bottom_of_that_backlog(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    team, other = (await make_team(session)).id, (await make_team(session)).id
    existing = [await make_item(session, team_id=team) for _ in range(3)]
    newcomer = await make_item(session, team_id=other)
    await api.patch(f"/api/v1/items/{newcomer.id}", json={"team_id": team}, headers=it)
    assert await _order(session, team) == [i.id for i in existing] + [newcomer.id]


async def test_a_lock_lost_with_a_rolled_back_savepoint_is_taken_again(
    session: AsyncSession, engine: AsyncEngine, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("ranking locks are PostgreSQL's")
    with recorded(engine, starting="SELECT pg_advisory_xact_lock") as asked:
        await ranking.lock_backlog(session, 7)
        await ranking.lock_backlog(session, 7)  # held: not asked again
        nested = await session.begin_nested()
        await ranking.lock_backlog(session, 8)
        await nested.rollback()  # PostgreSQL released the lock on 8 with the savepoint
        await ranking.lock_backlog(session, 8)
    assert len(asked) == 3, asked
