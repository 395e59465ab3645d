"""Business plans: joint agreement by both owners to one revision, amendments, roles, report."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient
from app.users.models import Role, User
from tests.builders import LOW_RISK_ASSESSMENT, make_request, make_supplier, make_user
from tests.core.test_errors import assert_problem

PLAN: dict[str, Any] = {
    "title": "Loyalty 2027",
    "objective": "Grow repeat purchases with a loyalty programme across shop and app.",
    "kpis": [{"name": "repeat purchase rate", "target": "+10", "unit": "%"}],
    "horizon": {"from": "2027-Q1", "to": "2027-Q2"},
    "budget": {"amount": "50000", "currency": "EUR"},
}


async def _owners(session: AsyncSession) -> tuple[User, dict[str, str], User, dict[str, str]]:
    marketing, m_headers = await make_user(session, role=Role.MARKETING)
    it, it_headers = await make_user(session, role=Role.IT)
    return marketing, m_headers, it, it_headers


async def _plan(api: AsyncClient, marketing: User, it: User, headers: dict[str, str]) -> Any:
    body = PLAN | {"marketing_owner_id": marketing.id, "it_owner_id": it.id}
    resp = await api.post("/api/v1/plans", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_agreement_needs_both_owners_on_the_same_revision(
    api: AsyncClient, session: AsyncSession
) -> None:
    marketing, m, it, i = await _owners(session)
    _, stranger = await make_user(session, role=Role.ADMIN)
    plan = await _plan(api, marketing, it, m)
    assert (plan["status"], plan["revision"], plan["agreements"]) == ("draft", 1, [])
    url = f"/api/v1/plans/{plan['id']}"
    assert_problem(await api.post(f"{url}/agree", headers=stranger), 403, "forbidden")
    half = await api.post(f"{url}/agree", headers=m)
    assert half.json()["status"] == "draft"
    assert [a["user_id"] for a in half.json()["agreements"]] == [marketing.id]
    # The objective changes before IT agrees: marketing's agreement was to revision 1.
    changed = await api.patch(
        url, json={"objective": "Grow repeat purchases in the app."}, headers=i
    )
    assert (changed.json()["revision"], changed.json()["agreements"]) == (2, [])
    assert (await api.post(f"{url}/agree", headers=i)).json()["status"] == "draft"
    agreed = await api.post(f"{url}/agree", headers=m)
    assert agreed.json()["status"] == "agreed"
    assert {a["user_id"] for a in agreed.json()["agreements"]} == {marketing.id, it.id}
    again = await api.post(f"{url}/agree", headers=m)
    assert again.status_code == 200
    assert again.json()["status"] == "agreed"
    events = await session.scalars(
        select(Event.type).where(Event.entity == "plan", Event.entity_id == plan["id"])
    )
    types = list(events)
    assert types.count("plan.agreement") == 3
    assert types.count("plan.agreed") == 1


async def test_amending_agreed_content_returns_to_draft_but_title_does_not(
    api: AsyncClient, session: AsyncSession
) -> None:
    marketing, m, it, i = await _owners(session)
    plan = await _plan(api, marketing, it, m)
    url = f"/api/v1/plans/{plan['id']}"
    await api.post(f"{url}/agree", headers=m)
    await api.post(f"{url}/agree", headers=i)
    active = await api.post(f"{url}/activate", headers=i)
    assert active.json()["status"] == "active"
    renamed = await api.patch(url, json={"title": "Loyalty 2027 (app first)"}, headers=m)
    assert (renamed.json()["status"], renamed.json()["revision"]) == ("active", 1)
    changes: list[dict[str, Any]] = [
        {"budget": {"amount": "60000", "currency": "EUR"}},
        {"horizon": {"from": "2027-Q1", "to": "2027-Q3"}},
        {"kpis": []},
    ]
    for change in changes:
        amended = await api.patch(url, json=change, headers=m)
        assert amended.json()["status"] == "draft", change
        await api.post(f"{url}/agree", headers=m)
        assert (await api.post(f"{url}/agree", headers=i)).json()["status"] == "agreed"
    assert_problem(await api.post(f"{url}/activate", headers=m), 403, "forbidden")
    assert (await api.post(f"{url}/close", headers=i)).json()["status"] == "closed"
    assert_problem(await api.patch(url, json={"title": "x"}, headers=i), 409, "plan-closed")
    assert_problem(await api.post(f"{url}/agree", headers=m), 409, "invalid-transition")
    assert_problem(await api.post(f"{url}/activate", headers=i), 409, "invalid-transition")


async def test_owners_must_be_two_people_of_the_right_roles(
    api: AsyncClient, session: AsyncSession
) -> None:
    marketing, m, it, _ = await _owners(session)
    security, _ = await make_user(session, role=Role.SECURITY)
    for owners in (
        {"marketing_owner_id": marketing.id, "it_owner_id": marketing.id},
        {"marketing_owner_id": it.id, "it_owner_id": marketing.id},
        {"marketing_owner_id": marketing.id, "it_owner_id": security.id},
        {"marketing_owner_id": marketing.id, "it_owner_id": 999999},
    ):
        resp = await api.post("/api/v1/plans", json=PLAN | owners, headers=m)
        assert_problem(resp, 422, "validation-error")
    bad_horizon = PLAN | {
        "marketing_owner_id": marketing.id,
        "it_owner_id": it.id,
        "horizon": {"from": "2027-Q3", "to": "2027-Q1"},
    }
    assert_problem(
        await api.post("/api/v1/plans", json=bad_horizon, headers=m), 422, "validation-error"
    )
    _, security_headers = await make_user(session, role=Role.SECURITY)
    body = PLAN | {"marketing_owner_id": marketing.id, "it_owner_id": it.id}
    assert_problem(
        await api.post("/api/v1/plans", json=body, headers=security_headers), 403, "forbidden"
    )


async def test_requests_join_plans_until_delivered(api: AsyncClient, session: AsyncSession) -> None:
    marketing, m, it, i = await _owners(session)
    plan = await _plan(api, marketing, it, m)
    other, other_headers = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=marketing, status="in_assessment")
    url = f"/api/v1/requests/{request.id}"
    joined = await api.patch(url, json={"plan_id": plan["id"]}, headers=m)
    assert joined.status_code == 200, joined.text
    assert joined.json()["plan_id"] == plan["id"]
    assert_problem(
        await api.patch(url, json={"plan_id": None}, headers=other_headers), 403, "forbidden"
    )
    assert_problem(
        await api.patch(url, json={"plan_id": plan["id"], "title": "x"}, headers=m),
        409,
        "invalid-transition",
    )
    assert_problem(
        await api.patch(url, json={"plan_id": 999999}, headers=i), 422, "validation-error"
    )
    got = (await api.get(f"/api/v1/plans/{plan['id']}", headers=m)).json()
    assert got["request_ids"] == [request.id]
    _ = other


async def test_plan_report_on_a_scripted_data_set(api: AsyncClient, session: AsyncSession) -> None:
    marketing, m, it, i = await _owners(session)
    plan = await _plan(api, marketing, it, m)
    vendor = await make_supplier(
        session, name="Loyalty SaaS", contract_end="2027-08-01", security_assessment="approved"
    )
    costs = [
        ("2027-02-10", "in_house", "30000", None),
        ("2027-05-01", "purchased", "25000.50", vendor.id),
        ("2028-01-01", "in_house", "1000", None),
    ]
    ids = []
    for target, sourcing, cost, supplier_id in costs:
        assessment = LOW_RISK_ASSESSMENT | {
            "sourcing": sourcing,
            "supplier_id": supplier_id,
            "estimated_cost": {"amount": cost, "currency": "EUR"},
            "stability_impact": "high" if sourcing == "purchased" else "low",
        }
        request = await make_request(
            session,
            requester=marketing,
            target_date=target,
            status="approved",
            assessment=assessment,
            plan_id=plan["id"],
        )
        ids.append(request.id)
    converted = await api.post(f"/api/v1/requests/{ids[1]}/convert", headers=i)
    item = converted.json()["items"][0]
    await api.patch(
        f"/api/v1/items/{item['id']}",
        json={"acceptance_criteria": ["ok"], "status": "done"},
        headers=i,
    )
    report = (await api.get(f"/api/v1/plans/{plan['id']}/report", headers=m)).json()
    assert [q["quarter"] for q in report["quarters"]] == ["2027-Q1", "2027-Q2"]
    assert [r["id"] for r in report["quarters"][0]["requests"]] == [ids[0]]
    assert [r["id"] for r in report["quarters"][1]["requests"]] == [ids[1]]
    assert [r["id"] for r in report["unscheduled"]] == [ids[2]]
    assert report["progress"] == {"done_points": 8, "total_points": 8}
    assert report["money"] == {
        "budget": {"amount": "50000.00", "currency": "EUR"},
        "estimated_in_budget_currency": "56000.50",
        "by_sourcing": [
            {"sourcing": "in_house", "currency": "EUR", "estimated": "31000.00"},
            {"sourcing": "purchased", "currency": "EUR", "estimated": "25000.50"},
        ],
        "over_budget": True,
    }
    assert report["stability"]["high"] == 1
    assert report["lead_time"]["count"] == 1
    assert report["supplier_flags"] == [
        {
            "supplier_id": vendor.id,
            "name": "Loyalty SaaS",
            "contract_end": "2027-08-01",
            "reason": "ends within 90 days after the horizon",
        }
    ]
    roadmap = (await api.get("/api/v1/roadmap?from=2027-Q1&to=2027-Q2", headers=m)).json()
    assert roadmap["plans"][0]["id"] == plan["id"]
    assert roadmap["plans"][0]["request_ids"] == ids[:2]
