"""The API's refusal order: 401, then 404, then 403, then state (409), then the body (422)."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_item, make_request, make_sprint, make_team, make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem

GARBAGE = {"shoe_size": 44, "rank": "a0"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/items/999999"),
        ("PUT", "/api/v1/requests/999999/assessment"),
        ("POST", "/api/v1/requests/999999/reject"),
        ("PATCH", "/api/v1/teams/999999"),
        ("POST", "/api/v1/sprints/999999/items"),
        ("PATCH", "/api/v1/suppliers/999999"),
        ("PATCH", "/api/v1/plans/999999"),
        ("POST", "/api/v1/items/999999/comments"),
        ("PATCH", "/api/v1/users/999999"),
    ],
)
async def test_missing_before_forbidden_before_bad_body(
    api: AsyncClient, login_as: LoginAs, method: str, path: str
) -> None:
    assert_problem(await api.request(method, path, json=GARBAGE), 401, "unauthorized")
    marketing = await login_as(Role.MARKETING)
    resp = await api.request(method, path, json=GARBAGE, headers=marketing)
    assert_problem(resp, 404, "not-found")


async def test_forbidden_before_bad_body_and_preconditions(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, marketing = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=requester, status="submitted")
    item = await make_item(session)
    sprint = await make_sprint(session, team=await make_team(session))
    for method, path in (
        ("PUT", f"/api/v1/requests/{request.id}/assessment"),
        ("POST", f"/api/v1/requests/{request.id}/reject"),
        ("PATCH", f"/api/v1/items/{item.id}"),
        ("POST", f"/api/v1/items/{item.id}/move"),
        ("PATCH", f"/api/v1/sprints/{sprint.id}"),
        ("POST", f"/api/v1/sprints/{sprint.id}/items"),
        ("POST", "/api/v1/items"),
        ("POST", "/api/v1/teams"),
        ("POST", "/api/v1/sprints"),
        ("POST", "/api/v1/users"),
    ):
        resp = await api.request(
            method, path, json=GARBAGE, headers=marketing | {"If-Match": '"99"'}
        )
        assert_problem(resp, 403, "forbidden")


async def test_state_before_business_rules(api: AsyncClient, session: AsyncSession) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    request = await make_request(session, requester=requester, status="rejected")
    resp = await api.post(f"/api/v1/requests/{request.id}/convert", headers=it)
    assert_problem(resp, 409, "invalid-transition")
