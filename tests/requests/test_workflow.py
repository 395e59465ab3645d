"""Every (state, action, role): allowed moves land in the right state and write one event;
everything else is 403 or 409 problem+json and changes nothing.

The expectations are written out here from the API contract, independently of
app/requests/workflow.py.
"""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient, Response
from app.requests import actions
from app.requests.models import MarketingRequest, RequestStatus
from app.requests.schemas import SecurityReviewIn
from app.users.models import Role, User
from tests.builders import (
    HIGH_RISK_ASSESSMENT,
    LOW_RISK_ASSESSMENT,
    make_request,
    make_supplier,
    make_user,
)

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


# allowed_actions: every listed action succeeds when performed, every other one is refused.
# Cells: (state, security review) -> how to build a request there. "open": a review is
# required and none approved the current assessment; "supplier": reviewed, but bought from a
# supplier security has not approved.
ALL_ACTIONS = [*EVER_ALLOWED, "convert"]
CALLERS = ("requester", "other marketing", "it", "security", "admin")
CELLS = [
    (S.DRAFT, "none"),
    (S.SUBMITTED, "none"),
    (S.IN_ASSESSMENT, "none"),
    (S.IN_ASSESSMENT, "open"),
    (S.SECURITY_REVIEW, "open"),
    (S.SECURITY_REVIEW, "approved"),
    (S.SECURITY_REVIEW, "supplier"),
    (S.APPROVED, "none"),
    (S.APPROVED, "approved"),
    (S.PLANNED, "none"),
    (S.REJECTED, "none"),
    (S.WITHDRAWN, "none"),
]


async def _in_cell(
    session: AsyncSession, requester: User, state: S, review: str
) -> MarketingRequest:
    assessment: dict[str, Any] | None = None
    if review != "none":
        assessment = dict(HIGH_RISK_ASSESSMENT)
    if review == "supplier":
        supplier = await make_supplier(session)  # security_assessment: none
        assessment = HIGH_RISK_ASSESSMENT | {"sourcing": "purchased", "supplier_id": supplier.id}
    reviewed = review in ("approved", "supplier")
    first = S.SECURITY_REVIEW if reviewed else state
    request = await make_request(session, requester=requester, status=first, assessment=assessment)
    if reviewed:
        security, _ = await make_user(session, role=SEC)
        decision = SecurityReviewIn.model_validate({"decision": "approved"})
        await actions.record_security_review(
            session, request=request, data=decision, actor=security
        )
    if state is S.APPROVED and reviewed:
        it_user, _ = await make_user(session, role=IT)
        await actions.approve(session, request=request, actor=it_user)
    assert request.status is state
    needs_review = bool(request.assessment and request.assessment.review_required)
    assert needs_review == (review != "none") or state in (S.PLANNED, S.REJECTED, S.WITHDRAWN)
    return request


async def _caller(session: AsyncSession, caller: str, requester_headers: dict[str, str]) -> Any:
    if caller == "requester":
        return requester_headers
    role = {"other marketing": M, "it": IT, "security": SEC, "admin": A}[caller]
    return (await make_user(session, role=role))[1]


@pytest.mark.parametrize(("state", "review"), CELLS, ids=[f"{s}-{r}" for s, r in CELLS])
async def test_allowed_actions_are_exactly_what_succeeds(
    api: AsyncClient, session: AsyncSession, state: S, review: str
) -> None:
    requester, requester_headers = await make_user(session, role=M)
    for caller in CALLERS:
        headers = await _caller(session, caller, requester_headers)
        request = await _in_cell(session, requester, state, review)
        url = f"/api/v1/requests/{request.id}"
        listed = (await api.get(url, headers=headers)).json()["allowed_actions"]
        assert set(listed) <= set(ALL_ACTIONS)
        for action in ALL_ACTIONS:
            where = f"{caller} {action} on {state}/{review}"
            before = (await api.get(url, headers=headers)).json()["version"]
            if action == "convert":
                resp = await api.post(f"{url}/convert", headers=headers)
            else:
                resp = await _act(api, request.id, action, headers)
            if action in listed:
                assert resp.is_success, f"{where} was offered but refused: {resp.text}"
                request = await _in_cell(session, requester, state, review)  # a fresh one
                url = f"/api/v1/requests/{request.id}"
                continue
            assert resp.status_code in (403, 409), f"{where} was not offered: {resp.text}"
            assert resp.headers["content-type"] == "application/problem+json"
            after = (await api.get(url, headers=headers)).json()
            assert (after["status"], after["version"]) == (state, before), where


async def test_it_is_not_offered_approve_while_a_security_review_is_open(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=M)
    _, it = await make_user(session, role=IT)
    _, security = await make_user(session, role=SEC)
    request = await _in_cell(session, requester, S.IN_ASSESSMENT, "open")
    url = f"/api/v1/requests/{request.id}"
    assert "approve" in (await api.get(url, headers=it)).json()["allowed_actions"]
    routed = await api.post(f"{url}/approve", headers=it)
    assert routed.json()["status"] == "security_review"

    assert "approve" not in routed.json()["allowed_actions"]
    assert "security-review" in (await api.get(url, headers=security)).json()["allowed_actions"]
    reviewed = await api.post(
        f"{url}/security-review", json={"decision": "approved"}, headers=security
    )
    assert reviewed.status_code == 200, reviewed.text
    assert "approve" in (await api.get(url, headers=it)).json()["allowed_actions"]
