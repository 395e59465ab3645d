"""Approved requests become items; the request then follows its items' progress."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.requests.models import RequestStatus
from app.users.models import Role
from tests.builders import HIGH_RISK_ASSESSMENT, READY_FIELDS, make_request, make_user
from tests.core.test_errors import assert_problem


async def _approved(session: AsyncSession, **assessment: object) -> int:
    requester, _ = await make_user(session, role=Role.MARKETING)
    request = await make_request(
        session,
        requester=requester,
        status=RequestStatus.APPROVED,
        target_date="2027-05-20",
        **({"assessment": assessment} if assessment else {}),
    )
    return request.id


async def test_default_conversion_inherits_value_impact_and_link(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _approved(session)
    _, it = await make_user(session, role=Role.IT)
    resp = await api.post(f"/api/v1/requests/{request_id}/convert", headers=it)
    assert resp.status_code == 201, resp.text
    [item] = resp.json()["items"]
    assert item["title"] == "Black Friday landing pages"
    assert item["request_id"] == request_id
    assert (item["business_value"], item["time_criticality"]) == (7, 5)
    assert (item["stability_impact"], item["security_impact"]) == ("low", "low")
    assert item["data_classification"] == "internal"
    assert item["story_points"] == 8  # the assessment's effort, a valid point value
    assert item["target"] == "2027-Q2"
    assert item["status"] == "new"
    request = (await api.get(f"/api/v1/requests/{request_id}", headers=it)).json()
    assert request["status"] == "planned"
    assert request["item_ids"] == [item["id"]]
    history = (await api.get(f"/api/v1/requests/{request_id}/history", headers=it)).json()
    assert history["items"][-1]["type"] == "request.convert"


async def test_conversion_into_given_items_and_review_carries_clearance(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    request = await make_request(session, requester=requester, status=RequestStatus.SECURITY_REVIEW)
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    url = f"/api/v1/requests/{request.id}"
    await api.post(f"{url}/security-review", json={"decision": "approved"}, headers=security)
    await api.post(f"{url}/approve", headers=it)
    body = {"items": [{"title": "Design", "story_points": 3}, {"title": "Build", "type": "task"}]}
    resp = await api.post(f"{url}/convert", json=body, headers=it)
    items = resp.json()["items"]
    assert [i["title"] for i in items] == ["Design", "Build"]
    assert [i["story_points"] for i in items] == [3, None]
    assert all(i["security_impact"] == HIGH_RISK_ASSESSMENT["security_impact"] for i in items)
    assert all(i["security_cleared"] for i in items)


async def test_only_approved_requests_convert_and_only_it_converts(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, marketing = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    submitted = await make_request(session, requester=requester, status=RequestStatus.SUBMITTED)
    resp = await api.post(f"/api/v1/requests/{submitted.id}/convert", headers=it)
    assert_problem(resp, 409, "invalid-transition")
    approved_id = await _approved(session)
    resp = await api.post(f"/api/v1/requests/{approved_id}/convert", headers=marketing)
    assert_problem(resp, 403, "forbidden")
    assert_problem(await api.post("/api/v1/requests/999999/convert", headers=it), 404, "not-found")
    again = await api.post(f"/api/v1/requests/{approved_id}/convert", headers=it)
    assert again.status_code == 201
    assert_problem(
        await api.post(f"/api/v1/requests/{approved_id}/convert", headers=it),
        409,
        "invalid-transition",
    )


async def test_request_follows_its_items_there_and_back(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _approved(session)
    _, it = await make_user(session, role=Role.IT)
    body = {"items": [{"title": "One"}, {"title": "Two"}, {"title": "Three"}]}
    one, two, three = (
        await api.post(f"/api/v1/requests/{request_id}/convert", json=body, headers=it)
    ).json()["items"]

    async def status_after(item: dict[str, object], new_status: str) -> str:
        resp = await api.patch(
            f"/api/v1/items/{item['id']}", json=READY_FIELDS | {"status": new_status}, headers=it
        )
        assert resp.status_code == 200, resp.text
        request = await api.get(f"/api/v1/requests/{request_id}", headers=it)
        return str(request.json()["status"])

    assert await status_after(one, "ready") == "planned"
    assert await status_after(one, "in_progress") == "in_delivery"
    assert await status_after(one, "done") == "in_delivery"
    assert await status_after(two, "done") == "in_delivery"
    assert await status_after(three, "cancelled") == "delivered"  # cancelled items do not count
    assert await status_after(two, "in_progress") == "in_delivery"  # reopened
    assert await status_after(two, "done") == "delivered"
    history = (await api.get(f"/api/v1/requests/{request_id}/history", headers=it)).json()
    derived = [e for e in history["items"] if e["type"] == "request.delivery_status_changed"]
    assert [e["data"]["after"]["status"] for e in derived] == [
        "in_delivery",
        "delivered",
        "in_delivery",
        "delivered",
    ]


async def test_an_epic_made_by_convert_can_be_finished_and_delivers_its_request(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _approved(session)
    _, it = await make_user(session, role=Role.IT)
    body = {"items": [{"type": "epic", "title": "Spring campaign"}]}
    resp = await api.post(f"/api/v1/requests/{request_id}/convert", json=body, headers=it)
    assert resp.status_code == 201, resp.text
    [epic] = resp.json()["items"]
    assert (epic["type"], epic["story_points"], epic["acceptance_criteria"]) == ("epic", 8, [])

    # No children: its own points (the assessment's effort) size it.
    done = await api.patch(f"/api/v1/items/{epic['id']}", json={"status": "done"}, headers=it)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    request = (await api.get(f"/api/v1/requests/{request_id}", headers=it)).json()
    assert request["status"] == "delivered"


async def test_an_epic_without_points_or_children_is_not_ready_until_sized(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _approved(session)
    _, it = await make_user(session, role=Role.IT)
    body = {"items": [{"type": "epic", "title": "Loyalty"}, {"title": "Points page"}]}
    resp = await api.post(f"/api/v1/requests/{request_id}/convert", json=body, headers=it)
    epic = resp.json()["items"][0]
    url = f"/api/v1/items/{epic['id']}"

    refused = await api.patch(url, json={"status": "ready"}, headers=it)
    assert_problem(refused, 422, "not-ready")
    assert refused.json()["missing"] == ["story_points"]
    assert (await api.get(url, headers=it)).json()["status"] == "new"  # unchanged

    resp = await api.patch(url, json={"story_points": 13, "status": "ready"}, headers=it)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ready"


async def test_an_epic_with_children_is_as_ready_as_they_are(
    api: AsyncClient, session: AsyncSession
) -> None:
    request_id = await _approved(session)
    _, it = await make_user(session, role=Role.IT)
    body = {"items": [{"type": "epic", "title": "Checkout"}, {"title": "Other"}]}
    resp = await api.post(f"/api/v1/requests/{request_id}/convert", json=body, headers=it)
    epic_id = resp.json()["items"][0]["id"]
    ready_child = await api.post(
        "/api/v1/items", json=READY_FIELDS | {"title": "Pay", "parent_id": epic_id}, headers=it
    )
    unsized = await api.post(
        "/api/v1/items",
        json=READY_FIELDS | {"title": "Ship", "parent_id": epic_id, "story_points": None},
        headers=it,
    )
    assert (ready_child.status_code, unsized.status_code) == (201, 201), unsized.text
    url = f"/api/v1/items/{epic_id}"

    # Its children size it, not its own (absent) points; the unsized child holds it back.
    refused = await api.patch(url, json={"status": "ready"}, headers=it)
    assert_problem(refused, 422, "not-ready")
    assert refused.json()["missing"] == [f"{unsized.json()['key']}: story_points"]

    cancelled = await api.patch(
        f"/api/v1/items/{unsized.json()['id']}", json={"status": "cancelled"}, headers=it
    )
    assert cancelled.status_code == 200, cancelled.text  # a cancelled child does not count
    resp = await api.patch(url, json={"status": "ready"}, headers=it)
    assert resp.status_code == 200, resp.text
    assert resp.json()["story_points"] is None
