"""Every documented item filter, and listing cost independent of page size."""

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.backlog.models import BacklogItem
from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_item, make_sprint, make_team, make_user
from tests.statements import recorded


async def test_each_filter(api: AsyncClient, session: AsyncSession) -> None:
    dev, it = await make_user(session, role=Role.IT)
    team = await make_team(session)
    sprint = await make_sprint(session, team=team)
    seo = await make_item(
        session,
        title="SEO audit",
        labels=["seo", "q1"],
        type="spike",
        stability_impact="high",
        security_impact="low",
        team_id=team.id,
        assignee_id=dev.id,
    )
    pay = await make_item(
        session,
        title="iDEAL betalen",
        description="PSP wissel",
        stability_impact="medium",
        security_impact="critical",
    )
    bug = await make_item(session, title="Checkout bug", type="bug", labels=["q1"])
    planned = await session.get(BacklogItem, bug.id)
    assert planned is not None
    planned.sprint_id = sprint.id
    await session.flush()

    async def ids(query: str) -> list[int]:
        resp = await api.get(f"/api/v1/items?{query}", headers=it)
        assert resp.status_code == 200, resp.text
        return [i["id"] for i in resp.json()["items"]]

    assert await ids("type=bug") == [bug.id]
    assert await ids(f"team_id={team.id}") == [seo.id]
    assert await ids("sprint_id=none") == [seo.id, pay.id]
    assert await ids(f"sprint_id={sprint.id}") == [bug.id]
    assert await ids("label=q1") == [seo.id, bug.id]
    assert await ids("label=seo") == [seo.id]
    assert await ids(f"assignee_id={dev.id}") == [seo.id]
    assert await ids("min_stability_impact=medium") == [seo.id, pay.id]
    assert await ids("min_stability_impact=high") == [seo.id]
    assert await ids("min_security_impact=high") == [pay.id]
    assert await ids("q=psp") == [pay.id]
    assert await ids(f"q=BB-{bug.id}") == [bug.id]
    assert await ids("status=new&status=ready") == [seo.id, pay.id, bug.id]
    assert await ids("status=done") == []
    assert (await api.get("/api/v1/items?sprint_id=soon", headers=it)).status_code == 422
    assert (await api.get("/api/v1/items?sort=title", headers=it)).status_code == 422


async def test_a_page_costs_the_same_few_queries_whatever_its_size(
    api: AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    actor, it = await make_user(session, role=Role.IT)
    epic = await make_item(session, actor=actor, type="epic", title="Epic")
    for n in range(60):
        await make_item(
            session, actor=actor, title=f"item {n}", parent_id=epic.id if n % 2 else None
        )
    await api.get("/api/v1/me", headers=it)

    async def selects_for(limit: int) -> int:
        with recorded(engine, starting="SELECT") as selects:
            resp = await api.get(f"/api/v1/items?limit={limit}", headers=it)
            assert len(resp.json()["items"]) == limit
        return len(selects)

    # token, items, epic roll-ups, tracker links: never one per item
    assert await selects_for(5) == await selects_for(50) <= 4
