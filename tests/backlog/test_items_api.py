"""Backlog items over the API: create, edit, Definition of Ready, clearance, epics."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import READY_FIELDS, make_item, make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(BacklogItem))) or 0


async def test_it_creates_an_item_at_the_bottom(api: AsyncClient, login_as: LoginAs) -> None:
    it = await login_as(Role.IT)
    first = await api.post("/api/v1/items", json={"title": "A"}, headers=it)
    second = await api.post(
        "/api/v1/items", json={"title": "B", "labels": ["seo", "seo"]}, headers=it
    )
    assert first.status_code == second.status_code == 201
    body = second.json()
    assert body["key"] == f"BB-{body['id']}"
    assert body["status"] == "new"
    assert body["type"] == "story"
    assert body["labels"] == ["seo"]
    assert body["wsjf"] is None
    assert first.json()["rank"] < body["rank"]
    assert second.headers["etag"] == '"1"'
    listed = (await api.get("/api/v1/items", headers=it)).json()["items"]
    assert [i["title"] for i in listed] == ["A", "B"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"title": ""}, "title"),
        ({"title": "x", "story_points": 4}, "story_points"),
        ({"title": "x", "risk_reduction": 11}, "risk_reduction"),
        ({"title": "x", "target": "2027-Q5"}, "target"),
        ({"title": "x", "type": "saga"}, "type"),
        ({"title": "x", "status": "ready"}, "status"),
        ({"title": "x", "parent_id": 99999}, "parent_id"),
        ({"title": "x", "assignee_id": 99999}, "assignee_id"),
        ({"title": "x", "labels": ["x" * 51]}, "labels"),
        ({"title": "x", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_items_are_422_and_nothing_is_created(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs, body: dict[str, Any], loc: str
) -> None:
    resp = await api.post("/api/v1/items", json=body, headers=await login_as(Role.IT))
    problem = assert_problem(resp, 422, "validation-error")
    errors: list[dict[str, Any]] = problem["errors"]
    assert any(loc in e["loc"] for e in errors), problem
    assert await _count(session) == 0


@pytest.mark.parametrize("field", ["rank", "sprint_id", "security_cleared", "wsjf", "request_id"])
async def test_read_only_fields_are_403(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs, field: str
) -> None:
    it = await login_as(Role.IT)
    resp = await api.post("/api/v1/items", json={"title": "x", field: 1}, headers=it)
    assert_problem(resp, 403, "field-forbidden")
    item = await make_item(session)
    patch = await api.patch(f"/api/v1/items/{item.id}", json={field: 1}, headers=it)
    assert_problem(patch, 403, "field-forbidden")


async def test_marketing_reads_but_does_not_write(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    marketing = await login_as(Role.MARKETING)
    item = await make_item(session)
    assert (await api.get(f"/api/v1/items/{item.id}", headers=marketing)).status_code == 200
    assert_problem(
        await api.post("/api/v1/items", json={"title": "x"}, headers=marketing), 403, "forbidden"
    )
    patch = await api.patch(f"/api/v1/items/{item.id}", json={"title": "y"}, headers=marketing)
    assert_problem(patch, 403, "forbidden")
    move = await api.post(
        f"/api/v1/items/{item.id}/move", json={"position": "top"}, headers=marketing
    )
    assert_problem(move, 403, "forbidden")


async def test_wsjf_is_cost_of_delay_over_size(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    item = await make_item(session, business_value=8, time_criticality=5, risk_reduction=2)
    url = f"/api/v1/items/{item.id}"
    assert (await api.get(url, headers=it)).json()["wsjf"] is None  # no size, no score
    resp = await api.patch(url, json={"story_points": 5}, headers=it)
    assert resp.json()["wsjf"] == 3.0
    resp = await api.patch(url, json={"story_points": 0}, headers=it)
    assert resp.json()["wsjf"] is None


async def test_sort_by_wsjf_descending_puts_unscored_last(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    low = await make_item(session, title="low", business_value=2, story_points=8)
    none = await make_item(session, title="none")
    high = await make_item(
        session, title="high", business_value=9, time_criticality=9, story_points=2
    )
    items = (await api.get("/api/v1/items?sort=-wsjf", headers=it)).json()["items"]
    assert [i["id"] for i in items] == [high.id, low.id, none.id]


async def test_ready_needs_the_definition_of_ready(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    item = await make_item(session, story_points=3)
    url = f"/api/v1/items/{item.id}"
    resp = await api.patch(url, json={"status": "ready"}, headers=it)
    body = assert_problem(resp, 422, "not-ready")
    assert body["missing"] == ["acceptance_criteria", "stability_impact", "security_impact"]
    assert (await api.get(url, headers=it)).json()["status"] == "new"
    # Leaving `new` straight for work is the same gate; cancelling is not.
    assert_problem(
        await api.patch(url, json={"status": "in_progress"}, headers=it), 422, "not-ready"
    )
    fields = {k: v for k, v in READY_FIELDS.items() if k != "story_points"}
    ready = await api.patch(url, json=fields | {"status": "ready"}, headers=it)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    for status in ("in_progress", "in_review", "done", "in_progress", "new", "cancelled"):
        resp = await api.patch(url, json={"status": status}, headers=it)
        assert resp.json()["status"] == status, resp.text


async def test_high_security_items_need_clearance_by_security(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it_h, security_h, admin_h = [await login_as(r) for r in (Role.IT, Role.SECURITY, Role.ADMIN)]
    item = await make_item(session, **READY_FIELDS | {"security_impact": "high"})
    url = f"/api/v1/items/{item.id}"
    body = assert_problem(
        await api.patch(url, json={"status": "ready"}, headers=it_h), 422, "not-ready"
    )
    assert body["missing"] == ["security_cleared"]
    for headers in (it_h, admin_h):
        assert_problem(
            await api.post(f"{url}/security-clearance", headers=headers), 403, "forbidden"
        )
    cleared = await api.post(
        f"{url}/security-clearance", json={"notes": "WAF in place"}, headers=security_h
    )
    assert cleared.json()["security_cleared"] is True
    assert (await api.patch(url, json={"status": "ready"}, headers=it_h)).status_code == 200


async def test_lowering_impact_needs_security_and_raising_withdraws_clearance(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it, security = await login_as(Role.IT), await login_as(Role.SECURITY)
    item = await make_item(session, **READY_FIELDS | {"security_impact": "high"})
    url = f"/api/v1/items/{item.id}"
    lowered = await api.patch(url, json={"security_impact": "low"}, headers=it)
    assert_problem(lowered, 403, "field-forbidden")
    assert (await api.get(url, headers=it)).json()["security_impact"] == "high"
    by_security = await api.patch(url, json={"security_impact": "medium"}, headers=security)
    assert by_security.json()["security_impact"] == "medium"
    assert_problem(
        await api.patch(url, json={"title": "x"}, headers=security), 403, "field-forbidden"
    )
    await api.post(f"{url}/security-clearance", headers=security)
    raised = await api.patch(
        url, json={"personal_data": True, "external_exposure": True}, headers=it
    )
    assert raised.json()["security_cleared"] is False
    assert raised.json()["security_review_required"] is True


async def test_epics_roll_up_their_childrens_points(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    epic = await make_item(session, type="epic", title="Loyalty")
    await make_item(session, parent_id=epic.id, story_points=5)
    await make_item(session, parent_id=epic.id, story_points=8)
    story = await make_item(session, story_points=3)
    got = (await api.get(f"/api/v1/items/{epic.id}", headers=it)).json()
    assert got["rollup_points"] == 13
    assert (await api.get(f"/api/v1/items/{story.id}", headers=it)).json()["rollup_points"] is None
    resp = await api.patch(f"/api/v1/items/{story.id}", json={"parent_id": story.id}, headers=it)
    assert_problem(resp, 422, "validation-error")
    resp = await api.patch(f"/api/v1/items/{epic.id}", json={"type": "story"}, headers=it)
    assert_problem(resp, 422, "validation-error")
    assert_problem(await api.delete(f"/api/v1/items/{epic.id}", headers=it), 409, "item-in-use")


async def test_item_history_comments_and_delete(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    item = await make_item(session)
    url = f"/api/v1/items/{item.id}"
    await api.patch(url, json={"title": "Renamed"}, headers=it)
    await api.post(f"{url}/comments", json={"body": "Design klaar?"}, headers=it)
    comments = (await api.get(f"{url}/comments", headers=it)).json()["items"]
    assert [c["body"] for c in comments] == ["Design klaar?"]
    history = (await api.get(f"{url}/history", headers=it)).json()["items"]
    assert [e["type"] for e in history] == ["item.created", "item.updated", "item.commented"]
    assert history[1]["data"] == {
        "before": {"title": "Landing page"},
        "after": {"title": "Renamed"},
    }
    stale = await api.delete(url, headers=it | {"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    assert (await api.delete(url, headers=it)).status_code == 204
    assert_problem(await api.get(url, headers=it), 404, "not-found")


async def test_if_match_and_idempotency_on_items(api: AsyncClient, login_as: LoginAs) -> None:
    it = await login_as(Role.IT)
    keyed = it | {"Idempotency-Key": "item-1"}
    first = await api.post("/api/v1/items", json={"title": "Once"}, headers=keyed)
    again = await api.post("/api/v1/items", json={"title": "Once"}, headers=keyed)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    url = first.headers["location"]
    resp = await api.patch(url, json={"title": "x"}, headers=it | {"If-Match": '"9"'})
    assert_problem(resp, 412, "precondition-failed")


async def test_null_for_a_required_field_is_422(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    item = await make_item(session)
    resp = await api.patch(
        f"/api/v1/items/{item.id}", json={"title": None}, headers=await login_as(Role.IT)
    )
    assert_problem(resp, 422, "validation-error")


async def test_assignee_must_be_an_active_user(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    it = await login_as(Role.IT)
    dev, _ = await make_user(session, role=Role.IT)
    item = await make_item(session)
    resp = await api.patch(f"/api/v1/items/{item.id}", json={"assignee_id": dev.id}, headers=it)
    assert resp.json()["assignee_id"] == dev.id


async def test_what_a_write_answers_is_what_a_read_then_shows(
    api: AsyncClient, session: AsyncSession
) -> None:
    """Writes answer from the flushed item without reading it back: nothing in the answer may
    be stale (version, updated_at, wsjf, rank, links), nor the ETag."""
    _, it = await make_user(session, role=Role.IT)
    epic = await make_item(session, type="epic")
    item = await make_item(session, story_points=3)
    url = f"/api/v1/items/{item.id}"
    writes = [
        ("PATCH", url, {"business_value": 8, "parent_id": epic.id, "labels": ["b", "a"]}),
        ("POST", f"{url}/move", {"position": "top"}),
        ("PATCH", f"/api/v1/items/{epic.id}", {"title": "Epic, renamed"}),
    ]
    for method, path, body in writes:
        written = await api.request(method, path, json=body, headers=it)
        assert written.status_code == 200, written.text
        read = await api.get(path.removesuffix("/move"), headers=it)
        assert written.json() == read.json()
        assert written.headers["etag"] == read.headers["etag"]
