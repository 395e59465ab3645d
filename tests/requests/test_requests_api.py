"""Filing, editing, reading and listing requests over the API."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.requests.models import MarketingRequest, RequestStatus
from app.users.models import Role
from tests.builders import make_request, make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem

NEXT_MONTH = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
VALID: dict[str, Any] = {
    "title": "Loyaltyprogramma koppelen aan de webshop",
    "description": "Punten sparen bij elke bestelling.",
    "business_goal": "Repeat purchases +10%",
    "kpi": "repeat purchase rate",
    "business_value": 8,
    "time_criticality": 6,
    "target_date": NEXT_MONTH,
    "budget": {"amount": "25000.5", "currency": "EUR"},
    "department": "CRM",
}


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(MarketingRequest))) or 0


async def test_marketing_files_a_draft(api: AsyncClient, session: AsyncSession) -> None:
    user, headers = await make_user(session, role=Role.MARKETING)
    resp = await api.post("/api/v1/requests", json=VALID, headers=headers)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["key"] == f"REQ-{body['id']}"
    assert body["status"] == "draft"
    assert body["requester_id"] == user.id
    assert body["budget"] == {"amount": "25000.50", "currency": "EUR"}
    assert body["assessment"] is None
    assert body["allowed_actions"] == ["edit", "submit", "withdraw"]
    assert resp.headers["etag"] == '"1"'
    assert resp.headers["location"] == f"/api/v1/requests/{body['id']}"
    got = await api.get(resp.headers["location"], headers=headers)
    assert got.json() == body
    assert got.headers["etag"] == '"1"'


async def test_security_users_do_not_file_requests(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    resp = await api.post("/api/v1/requests", json=VALID, headers=await login_as(Role.SECURITY))
    assert_problem(resp, 403, "forbidden")
    assert await _count(session) == 0


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"business_value": 0}, "business_value"),
        ({"time_criticality": 11}, "time_criticality"),
        ({"budget": {"amount": "-1", "currency": "EUR"}}, "budget"),
        ({"budget": {"amount": "1.234", "currency": "EUR"}}, "budget"),
        ({"budget": {"amount": 12.5, "currency": "EUR"}}, "budget"),
        ({"budget": {"amount": "10", "currency": "XYZ"}}, "budget"),
        ({"budget": {"amount": "10", "currency": "eur"}}, "budget"),
        ({"target_date": (date.today() - timedelta(days=2)).isoformat()}, "target_date"),
        ({"department": ""}, "department"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
async def test_invalid_input_is_422_and_creates_nothing(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs, change: dict[str, Any], loc: str
) -> None:
    resp = await api.post(
        "/api/v1/requests", json=VALID | change, headers=await login_as(Role.MARKETING)
    )
    body = assert_problem(resp, 422, "validation-error")
    errors: list[dict[str, Any]] = body["errors"]
    assert any(loc in error["loc"] for error in errors), body
    assert await _count(session) == 0


@pytest.mark.parametrize(
    "field",
    ["status", "assessment", "security_impact", "stability_impact", "requester_id", "risk_notes"],
)
async def test_known_fields_marketing_may_not_write_are_403(
    api: AsyncClient, session: AsyncSession, field: str
) -> None:
    owner, headers = await make_user(session, role=Role.MARKETING)
    body = VALID | {field: "high"}
    assert_problem(
        await api.post("/api/v1/requests", json=body, headers=headers), 403, "field-forbidden"
    )
    assert await _count(session) == 0
    request = await make_request(session, requester=owner)
    patch = await api.patch(f"/api/v1/requests/{request.id}", json={field: "x"}, headers=headers)
    assert_problem(patch, 403, "field-forbidden")
    await session.refresh(request)
    assert request.version == 1


async def test_requester_edits_draft_and_history_has_before_and_after(
    api: AsyncClient, session: AsyncSession
) -> None:
    owner, headers = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=owner)
    url = f"/api/v1/requests/{request.id}"
    resp = await api.patch(
        url, json={"title": "Cyber Monday too", "business_value": 9}, headers=headers
    )
    assert resp.status_code == 200
    assert resp.json()["title"] == "Cyber Monday too"
    assert resp.headers["etag"] == '"2"'
    history = (await api.get(f"{url}/history", headers=headers)).json()["items"]
    assert [e["type"] for e in history] == ["request.created", "request.updated"]
    assert history[1]["data"] == {
        "before": {"title": "Black Friday landing pages", "business_value": 7},
        "after": {"title": "Cyber Monday too", "business_value": 9},
    }
    assert history[1]["actor_id"] == owner.id
    assert history[1]["actor_kind"] == "user"


async def test_patch_null_title_is_422(api: AsyncClient, session: AsyncSession) -> None:
    owner, headers = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=owner)
    resp = await api.patch(f"/api/v1/requests/{request.id}", json={"title": None}, headers=headers)
    assert_problem(resp, 422, "validation-error")


async def test_submitted_request_is_no_longer_editable(
    api: AsyncClient, session: AsyncSession
) -> None:
    owner, headers = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=owner, status=RequestStatus.SUBMITTED)
    resp = await api.patch(f"/api/v1/requests/{request.id}", json={"title": "x"}, headers=headers)
    assert_problem(resp, 409, "invalid-transition")


async def test_if_match_mismatch_is_412_and_changes_nothing(
    api: AsyncClient, session: AsyncSession
) -> None:
    owner, headers = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=owner)
    url = f"/api/v1/requests/{request.id}"
    stale = await api.patch(url, json={"title": "A"}, headers=headers | {"If-Match": '"7"'})
    assert_problem(stale, 412, "precondition-failed")
    assert stale.headers["etag"] == '"1"'
    fresh = await api.patch(url, json={"title": "B"}, headers=headers | {"If-Match": '"1"'})
    assert fresh.status_code == 200
    submit = await api.post(f"{url}/submit", headers=headers | {"If-Match": '"1"'})
    assert_problem(submit, 412, "precondition-failed")
    assert (await api.get(url, headers=headers)).json()["status"] == "draft"


async def test_missing_request_is_404_everywhere(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.ADMIN)
    for resp in (
        await api.get("/api/v1/requests/424242", headers=headers),
        await api.patch("/api/v1/requests/424242", json={"title": "x"}, headers=headers),
        await api.post("/api/v1/requests/424242/submit", headers=headers),
        await api.get("/api/v1/requests/424242/history", headers=headers),
        await api.get("/api/v1/requests/424242/comments", headers=headers),
        await api.post("/api/v1/requests/424242/comments", json={"body": "x"}, headers=headers),
    ):
        assert_problem(resp, 404, "not-found")


async def test_listing_filters(api: AsyncClient, session: AsyncSession) -> None:
    anna, headers = await make_user(session, role=Role.MARKETING)
    bob, _ = await make_user(session, role=Role.MARKETING)
    brand = await make_request(
        session, requester=anna, department="Brand", title="Nieuwe huisstijl"
    )
    crm = await make_request(
        session,
        requester=bob,
        department="CRM",
        title="100% loyalty",
        status=RequestStatus.SUBMITTED,
    )
    shop = await make_request(
        session,
        requester=bob,
        department="E-commerce",
        title="Checkout",
        description="Sneller afrekenen met iDEAL",
        status=RequestStatus.IN_ASSESSMENT,
    )

    async def ids(query: str) -> set[int]:
        resp = await api.get(f"/api/v1/requests?{query}", headers=headers)
        assert resp.status_code == 200, resp.text
        return {r["id"] for r in resp.json()["items"]}

    assert await ids("status=submitted&status=in_assessment") == {crm.id, shop.id}
    assert await ids("department=Brand") == {brand.id}
    assert await ids(f"requester_id={bob.id}") == {crm.id, shop.id}
    assert await ids("q=ideal") == {shop.id}
    assert await ids("q=100%25") == {crm.id}
    assert await ids("q=huis") == {brand.id}
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert await ids(f"updated_since={future}") == set()
    assert_problem(
        await api.get("/api/v1/requests?sort=colour", headers=headers), 422, "validation-error"
    )
    assert_problem(
        await api.get("/api/v1/requests?status=bogus", headers=headers), 422, "validation-error"
    )


async def test_comments(api: AsyncClient, session: AsyncSession) -> None:
    owner, marketing = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    request = await make_request(session, requester=owner, status=RequestStatus.SUBMITTED)
    url = f"/api/v1/requests/{request.id}/comments"
    first = await api.post(url, json={"body": "Kan dit voor 1 december?"}, headers=marketing)
    assert first.status_code == 201
    assert first.json()["author_name"] == owner.name
    await api.post(url, json={"body": "We kijken ernaar."}, headers=it)
    assert_problem(await api.post(url, json={"body": ""}, headers=it), 422, "validation-error")
    listed = (await api.get(url, headers=marketing)).json()
    assert [c["body"] for c in listed["items"]] == ["Kan dit voor 1 december?", "We kijken ernaar."]
    history = (await api.get(f"/api/v1/requests/{request.id}/history", headers=it)).json()
    assert history["items"][-1]["type"] == "request.commented"


async def test_idempotency_key_replays_and_refuses_other_bodies(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, headers = await make_user(session, role=Role.MARKETING)
    _, other_user = await make_user(session, role=Role.MARKETING)
    keyed = headers | {"Idempotency-Key": "req-2026-11-27-001"}
    first = await api.post("/api/v1/requests", json=VALID, headers=keyed)
    again = await api.post("/api/v1/requests", json=VALID, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    conflict = await api.post("/api/v1/requests", json=VALID | {"title": "Other"}, headers=keyed)
    assert_problem(conflict, 422, "idempotency-conflict")
    # Keys are per user: the same key from someone else is a new request.
    theirs = await api.post(
        "/api/v1/requests",
        json=VALID,
        headers=other_user | {"Idempotency-Key": "req-2026-11-27-001"},
    )
    assert theirs.json()["id"] != first.json()["id"]
    assert await _count(session) == 2
