"""Security gates risky requests: each trigger of the rule; approval blocked until review."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.requests.models import RequestStatus
from app.users.models import Role
from tests.builders import LOW_RISK_ASSESSMENT, make_request, make_user

TRIGGERS: dict[str, dict[str, object]] = {
    "security high": {"security_impact": "high"},
    "security critical": {"security_impact": "critical"},
    "restricted data": {"data_classification": "restricted"},
    "personal data exposed": {"personal_data": True, "external_exposure": True},
}
NOT_TRIGGERS: dict[str, dict[str, object]] = {
    "security medium": {"security_impact": "medium"},
    "stability critical": {"stability_impact": "critical"},
    "confidential data": {"data_classification": "confidential"},
    "personal data, internal only": {"personal_data": True},
    "exposed, no personal data": {"external_exposure": True},
}


async def _assessed(session: AsyncSession, assessment: dict[str, object]) -> int:
    requester, _ = await make_user(session, role=Role.MARKETING)
    request = await make_request(
        session,
        requester=requester,
        status=RequestStatus.IN_ASSESSMENT,
        assessment=LOW_RISK_ASSESSMENT | assessment,
    )
    return request.id


@pytest.mark.parametrize("trigger", list(TRIGGERS))
async def test_trigger_routes_to_review_and_blocks_approval_until_approved(
    api: AsyncClient, session: AsyncSession, trigger: str
) -> None:
    request_id = await _assessed(session, TRIGGERS[trigger])
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    url = f"/api/v1/requests/{request_id}"
    assert (await api.get(url, headers=it)).json()["security_review_required"] is True

    first = await api.post(f"{url}/approve", headers=it)
    assert first.status_code == 200
    assert first.json()["status"] == "security_review"

    blocked = await api.post(f"{url}/approve", headers=it)
    assert blocked.status_code == 409
    assert blocked.json()["type"] == "/problems/security-review-required"
    assert (await api.get(url, headers=it)).json()["version"] == first.json()["version"]

    review = await api.post(
        f"{url}/security-review", json={"decision": "approved", "notes": "OK"}, headers=security
    )
    assert review.status_code == 200
    assert review.json()["status"] == "security_review"
    assert review.json()["security_review"]["decision"] == "approved"

    approved = await api.post(f"{url}/approve", headers=it)
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"


@pytest.mark.parametrize("case", list(NOT_TRIGGERS))
async def test_no_trigger_approves_directly(
    api: AsyncClient, session: AsyncSession, case: str
) -> None:
    request_id = await _assessed(session, NOT_TRIGGERS[case])
    _, it = await make_user(session, role=Role.IT)
    resp = await api.post(f"/api/v1/requests/{request_id}/approve", headers=it)
    assert resp.json()["status"] == "approved"
    assert resp.json()["security_review_required"] is False


async def test_changes_requested_returns_to_assessment_and_old_review_stops_counting(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _assessed(session, TRIGGERS["security high"])
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    url = f"/api/v1/requests/{request_id}"
    await api.post(f"{url}/approve", headers=it)
    changes = await api.post(
        f"{url}/security-review",
        json={"decision": "changes_requested", "notes": "Add WAF rules."},
        headers=security,
    )
    assert changes.json()["status"] == "in_assessment"
    # Approving again routes back to review: changes_requested is no approval.
    assert (await api.post(f"{url}/approve", headers=it)).json()["status"] == "security_review"
    await api.post(f"{url}/security-review", json={"decision": "approved"}, headers=security)
    # IT changes the assessment after the approval: that approval no longer counts.
    reassessed = await api.put(
        f"{url}/assessment",
        json=LOW_RISK_ASSESSMENT | {"security_impact": "critical"},
        headers=it,
    )
    assert reassessed.json()["status"] == "in_assessment"
    assert reassessed.json()["security_review"]["current"] is False
    assert (await api.post(f"{url}/approve", headers=it)).json()["status"] == "security_review"
    blocked = await api.post(f"{url}/approve", headers=it)
    assert blocked.json()["type"] == "/problems/security-review-required"


async def test_security_rejection_rejects_the_request(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _assessed(session, TRIGGERS["restricted data"])
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    url = f"/api/v1/requests/{request_id}"
    await api.post(f"{url}/approve", headers=it)
    resp = await api.post(
        f"{url}/security-review",
        json={"decision": "rejected", "notes": "PII to a third party."},
        headers=security,
    )
    assert resp.json()["status"] == "rejected"
    assert resp.json()["rejection_reason"] == "Rejected in security review."  # notes stay private
    assert resp.json()["security_review"]["notes"] == "PII to a third party."  # seen by security


async def test_admin_does_not_stand_in_for_security(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _assessed(session, TRIGGERS["security critical"])
    _, it = await make_user(session, role=Role.IT)
    _, admin = await make_user(session, role=Role.ADMIN)
    url = f"/api/v1/requests/{request_id}"
    await api.post(f"{url}/approve", headers=it)
    resp = await api.post(f"{url}/security-review", json={"decision": "approved"}, headers=admin)
    assert resp.status_code == 403
    assert (await api.get(url, headers=it)).json()["security_review"] is None


async def test_review_notes_and_risk_notes_are_hidden_from_marketing(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _assessed(session, TRIGGERS["security high"])
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    _, marketing = await make_user(session, role=Role.MARKETING)
    url = f"/api/v1/requests/{request_id}"
    await api.post(f"{url}/approve", headers=it)
    await api.post(
        f"{url}/security-review",
        json={"decision": "approved", "notes": "Secret pen test."},
        headers=security,
    )
    seen_by_it = (await api.get(url, headers=it)).json()
    seen_by_marketing = (await api.get(url, headers=marketing)).json()
    assert seen_by_it["assessment"]["risk_notes"] == LOW_RISK_ASSESSMENT["risk_notes"]
    assert seen_by_it["security_review"]["notes"] == "Secret pen test."
    assert seen_by_marketing["assessment"]["risk_notes"] is None
    assert seen_by_marketing["assessment"]["mitigation"] is None
    assert seen_by_marketing["security_review"]["notes"] is None
    history = (await api.get(f"{url}/history", headers=marketing)).json()["items"]
    assert "Secret pen test." not in str(history)
    assert "Checkout peak" not in str(history)
    feed = (await api.get("/api/v1/events?limit=200", headers=marketing)).json()["items"]
    assert "Secret pen test." not in str(feed)
    it_history = (await api.get(f"{url}/history", headers=it)).json()["items"]
    assert "Secret pen test." in str(it_history)
