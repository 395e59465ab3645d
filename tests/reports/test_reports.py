"""Roadmap and reports on known data sets."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import conversion
from app.backlog import service as backlog_service
from app.backlog.schemas import ConvertIn, ItemUpdate
from app.core.events import Event
from app.core.http import AsyncClient
from app.reports.service import nearest_rank
from app.requests.models import MarketingRequest, RequestStatus
from app.users.models import Role, User
from tests.builders import (
    LOW_RISK_ASSESSMENT,
    READY_FIELDS,
    make_item,
    make_ready_item,
    make_request,
    make_sprint,
    make_supplier,
    make_team,
    make_user,
)
from tests.core.test_errors import assert_problem

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


async def _deliver(session: AsyncSession, request: MarketingRequest, it: User) -> None:
    [item] = await conversion.convert_request(session, request_id=request.id, data=ConvertIn(),
                                              actor=it)  # fmt: skip
    done = ItemUpdate.model_validate(READY_FIELDS | {"status": "done"})
    await backlog_service.update_item(session, item=item, data=done, actor=it)


async def _dated(session: AsyncSession, request_id: int, submitted: datetime, days: float) -> None:
    for event_type, at in (
        ("request.submit", submitted),
        ("request.delivery_status_changed", submitted + timedelta(days=days)),
    ):
        await session.execute(update(Event).where(
            Event.entity == "request", Event.entity_id == request_id, Event.type == event_type
        ).values(at=at))  # fmt: skip


async def test_lead_time_percentiles_by_nearest_rank(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, headers = await make_user(session, role=Role.MARKETING)
    it, _ = await make_user(session, role=Role.IT)
    cases = [("Brand", 2), ("Brand", 4), ("Brand", 10), ("CRM", 1), ("CRM", 3)]
    for department, days in cases:
        request = await make_request(session, requester=requester, department=department,
                                     status=RequestStatus.APPROVED)  # fmt: skip
        await _deliver(session, request, it)
        assert request.status is RequestStatus.DELIVERED
        await _dated(session, request.id, T0, days)
    await make_request(session, requester=requester, department="CRM",
                       status=RequestStatus.APPROVED)  # not delivered: not counted  # fmt: skip
    report = (await api.get("/api/v1/reports/lead-time", headers=headers)).json()
    assert report["overall"] == {"department": None, "count": 5, "p50_days": 3.0,
                                 "p85_days": 10.0}  # fmt: skip
    assert report["by_department"] == [
        {"department": "Brand", "count": 3, "p50_days": 4.0, "p85_days": 10.0},
        {"department": "CRM", "count": 2, "p50_days": 1.0, "p85_days": 3.0},
    ]
    window = (await api.get("/api/v1/reports/lead-time?since=2026-06-04&until=2026-06-10",
                            headers=headers)).json()  # fmt: skip
    assert window["overall"]["count"] == 2  # delivered June 4 (3 days) and June 5 (4 days)
    crm = (await api.get("/api/v1/reports/lead-time?department=CRM", headers=headers)).json()
    assert crm["overall"]["count"] == 2


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 85) == 7.0
    assert nearest_rank([15, 20, 35, 40, 50], 30) == 20
    assert nearest_rank([15, 20, 35, 40, 50], 40) == 20
    assert nearest_rank([15, 20, 35, 40, 50], 50) == 35
    assert nearest_rank([15, 20, 35, 40, 50], 100) == 50


async def test_budget_per_department_and_sourcing_per_currency(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, headers = await make_user(session, role=Role.MARKETING)
    agency = await make_supplier(session, name="Bureau Noord")
    specs: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("Brand", {"amount": "1000.50", "currency": "EUR"},
         {"sourcing": "in_house", "estimated_cost": {"amount": "800", "currency": "EUR"}}),
        ("Brand", {"amount": "200", "currency": "EUR"},
         {"sourcing": "outsourced", "supplier_id": agency.id,
          "estimated_cost": {"amount": "300", "currency": "EUR"}}),
        ("CRM", {"amount": "5000", "currency": "USD"},
         {"sourcing": "in_house", "estimated_cost": {"amount": "4500.25", "currency": "USD"}}),
    ]  # fmt: skip
    for department, budget, assessment in specs:
        await make_request(session, requester=requester, department=department, budget=budget,
                           status=RequestStatus.IN_ASSESSMENT,
                           assessment=LOW_RISK_ASSESSMENT | assessment)  # fmt: skip
    draft = {"amount": "99", "currency": "EUR"}  # a draft's budget is not counted
    await make_request(session, requester=requester, department="CRM", budget=draft)
    report = (await api.get("/api/v1/reports/budget", headers=headers)).json()
    assert report["by_department"] == [
        {"key": "Brand", "currency": "EUR", "requested": "1200.50", "estimated": "1100.00",
         "requests": 2, "assessed": 2},
        {"key": "CRM", "currency": "USD", "requested": "5000.00", "estimated": "4500.25",
         "requests": 1, "assessed": 1},
    ]  # fmt: skip
    assert report["by_sourcing"] == [
        {"key": "in_house", "currency": "EUR", "requested": "1000.50", "estimated": "800.00",
         "requests": 1, "assessed": 1},
        {"key": "in_house", "currency": "USD", "requested": "5000.00", "estimated": "4500.25",
         "requests": 1, "assessed": 1},
        {"key": "outsourced", "currency": "EUR", "requested": "200.00", "estimated": "300.00",
         "requests": 1, "assessed": 1},
    ]  # fmt: skip


async def test_roadmap_by_quarter_with_progress(api: AsyncClient, session: AsyncSession) -> None:
    requester, headers = await make_user(session, role=Role.MARKETING)
    it, _ = await make_user(session, role=Role.IT)
    spring = await make_request(session, requester=requester, target_date="2027-04-15",
                                status=RequestStatus.APPROVED)  # fmt: skip
    body = ConvertIn.model_validate({"items": [{"title": "A", "story_points": 3},
                                               {"title": "B", "story_points": 5}]})  # fmt: skip
    a, _b = await conversion.convert_request(session, request_id=spring.id, data=body, actor=it)
    await backlog_service.update_item(
        session, item=a, data=ItemUpdate.model_validate(READY_FIELDS | {"story_points": 3,
                                                                        "status": "done"}),
        actor=it,
    )  # fmt: skip
    winter = await make_request(session, requester=requester, target_date="2027-01-10",
                                status=RequestStatus.SUBMITTED)  # fmt: skip
    await make_request(session, requester=requester, target_date="2027-02-01")  # draft: hidden
    loose = await make_item(session, title="Platform upgrade", target="2027-Q2")
    resp = await api.get("/api/v1/roadmap?from=2027-Q1&to=2027-Q2", headers=headers)
    assert resp.status_code == 200, resp.text
    q1, q2 = resp.json()["quarters"]
    assert (q1["quarter"], [r["id"] for r in q1["requests"]]) == ("2027-Q1", [winter.id])
    assert [r["id"] for r in q2["requests"]] == [spring.id]
    assert q2["requests"][0]["progress"] == {"done_points": 3, "total_points": 8}
    assert q2["requests"][0]["estimated_cost"] == {"amount": "4000.00", "currency": "EUR"}
    assert [i["id"] for i in q2["items"]] == [loose.id]
    for query in ("from=2027-Q3&to=2027-Q1", "from=2027-Q5", "from=2020-Q1&to=2027-Q1"):
        assert_problem(await api.get(f"/api/v1/roadmap?{query}", headers=headers), 422,
                       "validation-error")  # fmt: skip


async def test_impact_per_sprint(api: AsyncClient, session: AsyncSession) -> None:
    _, headers = await make_user(session, role=Role.SECURITY)
    team = await make_team(session, stability_budget=5)
    sprint = await make_sprint(session, team=team)
    for stability, security in (("high", "low"), ("high", "critical"), ("low", "low")):
        item = await make_ready_item(session, team=team, stability_impact=stability,
                                     security_impact=security)  # fmt: skip
        item.sprint_id = sprint.id
    await session.flush()
    report = (await api.get(f"/api/v1/reports/impact?team_id={team.id}", headers=headers)).json()
    [row] = report["sprints"]
    assert row["sprint_id"] == sprint.id
    assert (row["stability"]["high"], row["stability"]["low"]) == (2, 1)
    assert (row["security"]["critical"], row["security"]["low"]) == (1, 2)
