"""A field a resource shows but a client may not write is a 403, whatever the resource."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_request, make_sprint, make_supplier, make_team, make_user
from tests.core.test_errors import assert_problem


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("team", "version"),
        ("team", "id"),
        ("sprint", "state"),
        ("sprint", "committed_points"),
        ("user", "id"),
        ("user", "created_at"),
        ("supplier", "security_approved"),
        ("assessment", "assessed_by"),
    ],
)
async def test_read_only_field_is_403(
    api: AsyncClient, session: AsyncSession, kind: str, field: str
) -> None:
    admin_user, admin = await make_user(session, role=Role.ADMIN)
    _, it = await make_user(session, role=Role.IT)
    if kind == "team":
        resp = await api.patch(f"/api/v1/teams/{(await make_team(session)).id}",
                               json={field: 3}, headers=it)  # fmt: skip
    elif kind == "sprint":
        sprint = await make_sprint(session, team=await make_team(session))
        resp = await api.patch(f"/api/v1/sprints/{sprint.id}", json={field: "closed"}, headers=it)
    elif kind == "user":
        resp = await api.patch(f"/api/v1/users/{admin_user.id}", json={field: 3}, headers=admin)
    elif kind == "supplier":
        supplier = await make_supplier(session)
        resp = await api.patch(f"/api/v1/suppliers/{supplier.id}", json={field: True}, headers=it)
    else:
        requester, _ = await make_user(session, role=Role.MARKETING)
        request = await make_request(session, requester=requester, status="submitted")
        resp = await api.put(
            f"/api/v1/requests/{request.id}/assessment", json={field: 1}, headers=it
        )
    body = assert_problem(resp, 403, "field-forbidden")
    assert body["fields"] == [field]
