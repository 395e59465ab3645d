"""Every 2xx body the API answers matches openapi/openapi.json.

The suite's `api` client validates each 2xx JSON body against its operation's documented
schema (tests/contract.py). Here a realistic day's work drives many routes through it (a
plan with its horizon, created and replayed; a request from draft to delivery; items,
a team, a sprint, a supplier, comments, history, reports), and the checker itself is shown
to catch what it is there to catch.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient, Request, Response
from app.users.models import Role
from tests.builders import HIGH_RISK_ASSESSMENT, make_user
from tests.contract import ContractViolation, check_response, committed_contract

Seen = set[tuple[str, str, int]]
Step = Callable[[AsyncClient, dict[str, dict[str, str]], dict[str, Any]], Awaitable[None]]


def _recorder(seen: Seen) -> Callable[[Response], Awaitable[None]]:
    """A response hook noting which documented operation each 2xx answered."""

    async def record(response: Response) -> None:
        template = committed_contract().template_of(response.request.url.path)
        if response.is_success and template is not None:
            seen.add((response.request.method, template, response.status_code))

    return record


def _ok(resp: Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


async def _plan(api: AsyncClient, who: dict[str, dict[str, str]], ids: dict[str, Any]) -> None:
    body = {
        "title": "Loyalty 2027",
        "objective": "Grow repeat purchases with a loyalty programme.",
        "kpis": [{"name": "repeat purchase rate", "target": "+10", "unit": "%"}],
        "marketing_owner_id": ids["marketing_id"],
        "it_owner_id": ids["it_id"],
        "horizon": {"from": "2027-Q1", "to": "2027-Q2"},
        "budget": {"amount": "50000", "currency": "EUR"},
    }
    retry = who["marketing"] | {"Idempotency-Key": "plan-1"}
    created = _ok(await api.post("/api/v1/plans", json=body, headers=retry), 201)
    replayed = await api.post("/api/v1/plans", json=body, headers=retry)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert _ok(replayed, 201) == created
    assert created["horizon"] == {"from": "2027-Q1", "to": "2027-Q2"}
    url = f"/api/v1/plans/{created['id']}"
    assert _ok(await api.get(url, headers=who["it"]))["horizon"] == created["horizon"]
    _ok(
        await api.patch(
            url, json={"horizon": {"from": "2027-Q1", "to": "2027-Q3"}}, headers=who["it"]
        )
    )
    _ok(await api.post(f"{url}/agree", headers=who["marketing"]))
    _ok(await api.post(f"{url}/agree", headers=who["it"]))
    _ok(await api.post(f"{url}/activate", headers=who["it"]))
    _ok(await api.get("/api/v1/plans", headers=who["it"]))
    ids["plan_id"] = created["id"]


async def _request(api: AsyncClient, who: dict[str, dict[str, str]], ids: dict[str, Any]) -> None:
    body = {
        "title": "Loyalty in the webshop",
        "business_value": 8,
        "time_criticality": 6,
        "target_date": "2027-02-15",
        "budget": {"amount": "25000.50", "currency": "EUR"},
        "plan_id": ids["plan_id"],
    }
    created = _ok(await api.post("/api/v1/requests", json=body, headers=who["marketing"]), 201)
    url = f"/api/v1/requests/{created['id']}"
    _ok(await api.patch(url, json={"kpi": "repeat purchase rate"}, headers=who["marketing"]))
    _ok(await api.post(f"{url}/submit", headers=who["marketing"]))
    _ok(await api.put(f"{url}/assessment", json=HIGH_RISK_ASSESSMENT, headers=who["it"]))
    assert _ok(await api.post(f"{url}/approve", headers=who["it"]))["status"] == "security_review"
    review = {"decision": "approved", "notes": "Pen test booked."}
    _ok(await api.post(f"{url}/security-review", json=review, headers=who["security"]))
    _ok(await api.post(f"{url}/approve", headers=who["it"]))
    _ok(await api.post(f"{url}/comments", json={"body": "Go!"}, headers=who["marketing"]), 201)
    _ok(await api.get(f"{url}/comments", headers=who["marketing"]))
    items = {"items": [{"type": "epic", "title": "Loyalty"}, {"title": "Points page"}]}
    converted = _ok(await api.post(f"{url}/convert", json=items, headers=who["it"]), 201)
    ids["request_id"], ids["item_ids"] = created["id"], [i["id"] for i in converted["items"]]
    for reader in ("marketing", "security"):
        _ok(await api.get(url, headers=who[reader]))
        _ok(await api.get("/api/v1/requests", headers=who[reader]))
    _ok(await api.get(f"{url}/history", headers=who["it"]))


async def _sprint(api: AsyncClient, who: dict[str, dict[str, str]], ids: dict[str, Any]) -> None:
    it = who["it"]
    team = {"name": "Webshop", "default_capacity_points": 30, "stability_budget": 2}
    team_id = _ok(await api.post("/api/v1/teams", json=team, headers=it), 201)["id"]
    _ok(await api.patch(f"/api/v1/teams/{team_id}", json={"stability_budget": 3}, headers=it))
    epic_id, story_id = ids["item_ids"]
    item_url = f"/api/v1/items/{story_id}"
    _ok(await api.post(f"{item_url}/security-clearance", json={}, headers=who["security"]))
    ready = {"story_points": 5, "acceptance_criteria": ["Points show"], "team_id": team_id}
    _ok(await api.patch(item_url, json=ready | {"status": "ready"}, headers=it))
    _ok(await api.patch(f"/api/v1/items/{epic_id}", json={"story_points": 13}, headers=it))
    other = _ok(await api.post("/api/v1/items", json={"title": "Spike"}, headers=it), 201)
    _ok(await api.post(f"/api/v1/items/{other['id']}/move", json={"position": "top"}, headers=it))
    sprint = {
        "team_id": team_id,
        "name": "Sprint 1",
        "start_date": "2027-01-04",
        "end_date": "2027-01-15",
    }
    sprint_id = _ok(await api.post("/api/v1/sprints", json=sprint, headers=it), 201)["id"]
    url = f"/api/v1/sprints/{sprint_id}"
    _ok(await api.post(f"{url}/items", json={"item_ids": [story_id]}, headers=it))
    _ok(await api.post(f"{url}/start", headers=it))
    _ok(await api.patch(item_url, json={"status": "done"}, headers=it))
    _ok(await api.post(f"{url}/close", json={"carry_over": "backlog"}, headers=it))
    for path in (url, f"{url}/report", "/api/v1/sprints", f"/api/v1/teams/{team_id}/velocity"):
        _ok(await api.get(path, headers=who["marketing"]))
    ids["team_id"] = team_id


async def _reads(api: AsyncClient, who: dict[str, dict[str, str]], ids: dict[str, Any]) -> None:
    it, admin = who["it"], who["admin"]
    supplier = _ok(await api.post("/api/v1/suppliers", json={"name": "Acme"}, headers=it), 201)
    _ok(await api.patch(f"/api/v1/suppliers/{supplier['id']}", json={"notes": "x"}, headers=it))
    item_url = f"/api/v1/items/{ids['item_ids'][1]}"
    _ok(await api.post(f"{item_url}/comments", json={"body": "Shipped"}, headers=it), 201)
    for path in (
        item_url,
        f"{item_url}/comments",
        f"{item_url}/history",
        f"{item_url}/links",
        "/api/v1/items",
        f"/api/v1/items?team_id={ids['team_id']}&sort=-wsjf",
        "/api/v1/suppliers",
        f"/api/v1/suppliers/{supplier['id']}",
        f"/api/v1/plans/{ids['plan_id']}/report",
        "/api/v1/roadmap",
        "/api/v1/reports/budget",
        "/api/v1/reports/impact",
        "/api/v1/reports/lead-time",
        "/api/v1/events",
        "/api/v1/teams",
        "/api/v1/me",
        "/api/v1/integrations",
    ):
        _ok(await api.get(path, headers=it))
    _ok(await api.get("/api/v1/users", headers=admin))
    user = _ok(
        await api.post("/api/v1/users", json={"name": "Noor", "role": "it"}, headers=admin), 201
    )
    _ok(await api.patch(f"/api/v1/users/{user['id']}", json={"role": "security"}, headers=admin))
    tokens = f"/api/v1/users/{user['id']}/tokens"
    _ok(await api.post(tokens, json={"name": "laptop"}, headers=admin), 201)
    _ok(await api.get(tokens, headers=admin))
    assert (await api.get(f"/api/v1/requests/{ids['request_id']}", headers=it)).is_success


FLOW: list[Step] = [_plan, _request, _sprint, _reads]


async def test_a_days_work_answers_only_documented_bodies(
    api: AsyncClient, session: AsyncSession
) -> None:
    seen: Seen = set()
    api.event_hooks["response"].append(_recorder(seen))
    who, ids = {}, {}
    for role in Role:
        user, who[role.value] = await make_user(session, role=role)
        ids[f"{role.value}_id"] = user.id
    for step in FLOW:
        await step(api, who, ids)  # the suite's hook has validated every 2xx body on the way
    operations = {(method, template) for method, template, _ in seen}
    assert len(operations) >= 50, sorted(operations)  # 56 when written
    assert ("POST", "/api/v1/plans", 201) in seen


def _answer(method: str, path: str, status: int, body: Any) -> Response:
    request = Request(method, f"http://test{path}")
    return Response(status, json=body, request=request)


PLAN_BODY: dict[str, Any] = {
    "id": 1,
    "title": "Loyalty 2027",
    "objective": "More repeat purchases.",
    "kpis": [],
    "marketing_owner_id": 1,
    "it_owner_id": 2,
    "horizon": {"from": "2027-Q1", "to": "2027-Q2"},
    "budget": None,
    "status": "draft",
    "revision": 1,
    "agreements": [],
    "request_ids": [],
    "created_at": "2027-01-01T00:00:00Z",
    "updated_at": "2027-01-01T00:00:00Z",
    "version": 1,
}


async def test_the_checker_passes_a_documented_body() -> None:
    await check_response(_answer("POST", "/api/v1/plans", 201, PLAN_BODY))
    await check_response(_answer("GET", "/api/v1/plans/7", 200, PLAN_BODY))


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "said"),
    [
        (  # issue 16's item 10: the field's Python name leaked into the answer
            "POST",
            "/api/v1/plans",
            201,
            PLAN_BODY | {"horizon": {"from_": "2027-Q1", "to": "2027-Q2"}},
            "'from_' was unexpected",
        ),
        ("GET", "/api/v1/plans/7", 200, PLAN_BODY | {"version": "1"}, "at version"),
        ("GET", "/api/v1/plans/7", 200, {k: v for k, v in PLAN_BODY.items() if k != "id"}, "'id'"),
        ("GET", "/api/v1/plans", 200, {"items": [PLAN_BODY]}, "next_cursor"),
        ("POST", "/api/v1/plans", 200, PLAN_BODY, "status 200 is not documented"),
    ],
    ids=["from_", "mistyped", "missing field", "page without cursor", "undocumented status"],
)
async def test_the_checker_fails_a_body_the_document_does_not_allow(
    method: str, path: str, status: int, body: Any, said: str
) -> None:
    with pytest.raises(ContractViolation, match=said):
        await check_response(_answer(method, path, status, body))


async def test_the_checker_leaves_errors_and_other_media_alone() -> None:
    problem = _answer("POST", "/api/v1/plans", 422, {"type": "/problems/validation-error"})
    await check_response(problem)
    text = Response(200, text="# HELP", request=Request("GET", "http://test/metrics"))
    await check_response(text)
    await check_response(_answer("GET", "/openapi.json", 200, {"openapi": "3.1.0"}))
