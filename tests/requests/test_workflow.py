"""Every (state, action, role): allowed moves land in the right state and write one event;
everything else is 403 or 409 problem+json and changes nothing.

The expectations are written out here from DESIGN.md, independently of app/requests/workflow.py.
"""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient, Response
from app.requests.models import MarketingRequest, RequestStatus
from app.users.models import Role
from tests.builders import LOW_RISK_ASSESSMENT, make_request, make_user

S = RequestStatus
M, IT, A, SEC = Role.MARKETING, Role.IT, Role.ADMIN, Role.SECURITY
OWNER = {M, A}  # the requester is a marketing user; admins may act for them
IT_ROLES = {IT, A}

# (state, action) -> (roles that may, resulting state or a problem slug)
EXPECTED: dict[tuple[S, str], tuple[set[Role], str]] = {
    (S.DRAFT, "edit"): (OWNER, S.DRAFT),
    (S.DRAFT, "submit"): (OWNER, S.SUBMITTED),
    (S.DRAFT, "withdraw"): (OWNER, S.WITHDRAWN),
    (S.SUBMITTED, "withdraw"): (OWNER, S.WITHDRAWN),
    (S.SUBMITTED, "return"): (IT_ROLES, S.DRAFT),
    (S.SUBMITTED, "assess"): (IT_ROLES, S.IN_ASSESSMENT),
    (S.SUBMITTED, "reject"): (IT_ROLES, S.REJECTED),
    (S.IN_ASSESSMENT, "withdraw"): (OWNER, S.WITHDRAWN),
    (S.IN_ASSESSMENT, "return"): (IT_ROLES, S.DRAFT),
    (S.IN_ASSESSMENT, "assess"): (IT_ROLES, S.IN_ASSESSMENT),
    (S.IN_ASSESSMENT, "reject"): (IT_ROLES, S.REJECTED),
    (S.IN_ASSESSMENT, "approve"): (IT_ROLES, S.APPROVED),  # low-risk assessment
    (S.SECURITY_REVIEW, "withdraw"): (OWNER, S.WITHDRAWN),
    (S.SECURITY_REVIEW, "assess"): (IT_ROLES, S.IN_ASSESSMENT),
    (S.SECURITY_REVIEW, "reject"): (IT_ROLES, S.REJECTED),
    (S.SECURITY_REVIEW, "approve"): (IT_ROLES, "security-review-required"),
    (S.SECURITY_REVIEW, "security-review"): ({SEC}, S.SECURITY_REVIEW),
    (S.APPROVED, "withdraw"): (OWNER, S.WITHDRAWN),
}
# Who could ever do an action (in some state): anyone else is 403 whatever the state.
EVER_ALLOWED = {
    "edit": OWNER,
    "submit": OWNER,
    "withdraw": OWNER,
    "return": IT_ROLES,
    "assess": IT_ROLES,
    "reject": IT_ROLES,
    "approve": IT_ROLES,
    "security-review": {SEC},
}
BODIES: dict[str, Any] = {
    "return": {"reason": "Please add the KPI."},
    "reject": {"reason": "Not this year."},
    "assess": LOW_RISK_ASSESSMENT,
    "security-review": {"decision": "approved", "notes": "Pen test booked."},
    "edit": {"title": "Renamed"},
}


async def _act(api: AsyncClient, request_id: int, action: str, headers: dict[str, str]) -> Response:
    url = f"/api/v1/requests/{request_id}"
    if action == "edit":
        return await api.patch(url, json=BODIES["edit"], headers=headers)
    if action == "assess":
        return await api.put(f"{url}/assessment", json=BODIES["assess"], headers=headers)
    return await api.post(f"{url}/{action}", json=BODIES.get(action), headers=headers)


async def _event_count(session: AsyncSession, request_id: int) -> int:
    query = select(func.count()).where(Event.entity == "request", Event.entity_id == request_id)
    return (await session.scalar(query)) or 0


@pytest.mark.parametrize("role", [M, IT, SEC, A], ids=str)
@pytest.mark.parametrize("action", list(EVER_ALLOWED))
@pytest.mark.parametrize("state", list(S), ids=str)
async def test_every_state_action_role(
    api: AsyncClient, session: AsyncSession, state: S, action: str, role: Role
) -> None:
    requester, requester_headers = await make_user(session, role=M)
    request = await make_request(session, requester=requester, status=state)
    headers = requester_headers if role is M else (await make_user(session, role=role))[1]
    version, events = request.version, await _event_count(session, request.id)

    resp = await _act(api, request.id, action, headers)

    roles, outcome = EXPECTED.get((state, action), (EVER_ALLOWED[action], "invalid-transition"))
    await session.refresh(request)
    if role in roles and outcome in set(S):
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == outcome
        assert request.status == outcome
        assert await _event_count(session, request.id) == events + 1
        return
    if role not in EVER_ALLOWED[action] or (role not in roles and (state, action) in EXPECTED):
        expected_status, slug = 403, "forbidden"
    else:
        expected_status, slug = 409, outcome
    assert resp.status_code == expected_status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["type"] == f"/problems/{slug}"
    assert (request.status, request.version) == (state, version)
    assert await _event_count(session, request.id) == events


async def test_invalid_transition_names_state_and_allowed_actions(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, headers = await make_user(session, role=M)
    request = await make_request(session, requester=requester, status=S.SUBMITTED)
    resp = await api.post(f"/api/v1/requests/{request.id}/submit", headers=headers)
    assert resp.status_code == 409
    body = resp.json()
    assert body["state"] == "submitted"
    assert body["allowed_actions"] == ["withdraw"]
    assert "submitted" in body["detail"]


async def test_another_marketing_users_draft_is_off_limits(
    api: AsyncClient, session: AsyncSession
) -> None:
    owner, _ = await make_user(session, role=M)
    _, stranger = await make_user(session, role=M)
    request = await make_request(session, requester=owner)
    for resp in (
        await api.patch(f"/api/v1/requests/{request.id}", json={"title": "Mine"}, headers=stranger),
        await api.post(f"/api/v1/requests/{request.id}/submit", headers=stranger),
        await api.post(f"/api/v1/requests/{request.id}/withdraw", headers=stranger),
    ):
        assert resp.status_code == 403, resp.text
    await session.refresh(request)
    assert (request.title, request.status, request.version) == (
        "Black Friday landing pages",
        S.DRAFT,
        1,
    )


async def test_nobody_approves_their_own_request(api: AsyncClient, session: AsyncSession) -> None:
    it_requester, headers = await make_user(session, role=IT)
    request = await make_request(session, requester=it_requester, status=S.IN_ASSESSMENT)
    resp = await api.post(f"/api/v1/requests/{request.id}/approve", headers=headers)
    assert resp.status_code == 403
    assert "requested" in resp.json()["detail"]
    assert (await session.get(MarketingRequest, request.id)).status == S.IN_ASSESSMENT  # type: ignore[union-attr]
