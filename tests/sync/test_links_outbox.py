"""Links between items and remote issues, and the outbox jobs item changes queue."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.core.outbox import JobState, SyncJob
from app.sync import ssrf
from app.users.models import Role
from tests.builders import make_item, make_user
from tests.core.test_errors import assert_problem


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])


async def _integration(api: AsyncClient, it: dict[str, str], **fields: Any) -> int:
    body = {
        "kind": "github",
        "name": "repo",
        "repository": "acme/webshop",
        "auth": {"token": "t"},
    } | fields
    resp = await api.post("/api/v1/integrations", json=body, headers=it)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _jobs(session: AsyncSession, item_id: int) -> list[SyncJob]:
    query = select(SyncJob).where(SyncJob.item_id == item_id).order_by(SyncJob.id)
    return list(await session.scalars(query))


async def test_link_queues_a_push_and_changes_coalesce(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration_id = await _integration(api, it)
    item = await make_item(session)
    assert await _jobs(session, item.id) == []  # unlinked items queue nothing
    link = await api.post(
        f"/api/v1/items/{item.id}/links", json={"integration_id": integration_id}, headers=it
    )
    assert link.status_code == 201, link.text
    assert (link.json()["sync_state"], link.json()["remote_key"]) == ("pending", None)
    for title in ("One", "Two", "Three"):
        await api.patch(f"/api/v1/items/{item.id}", json={"title": title}, headers=it)
    jobs = await _jobs(session, item.id)
    assert [(j.kind, j.state, j.link_id) for j in jobs] == [
        ("push", JobState.PENDING, link.json()["id"])
    ]
    shown = (await api.get(f"/api/v1/items/{item.id}", headers=it)).json()["links"]
    assert [entry["id"] for entry in shown] == [link.json()["id"]]
    # A change while the job runs queues the next push (one in flight, one waiting).
    jobs[0].state = JobState.RUNNING
    await session.flush()
    await api.patch(f"/api/v1/items/{item.id}", json={"title": "Four"}, headers=it)
    assert [j.state for j in await _jobs(session, item.id)] == [JobState.RUNNING, JobState.PENDING]


async def test_a_remote_issue_links_to_one_item(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration_id = await _integration(api, it)
    first, second = await make_item(session), await make_item(session)
    body = {"integration_id": integration_id, "remote_key": "12"}
    assert (
        await api.post(f"/api/v1/items/{first.id}/links", json=body, headers=it)
    ).status_code == 201
    assert_problem(
        await api.post(f"/api/v1/items/{second.id}/links", json=body, headers=it),
        409,
        "already-linked",
    )
    assert_problem(
        await api.post(
            f"/api/v1/items/{first.id}/links", json={"integration_id": integration_id}, headers=it
        ),
        409,
        "already-linked",
    )
    links = (await api.get(f"/api/v1/items/{first.id}/links", headers=it)).json()
    assert [link["remote_key"] for link in links] == ["12"]
    removed = await api.delete(f"/api/v1/items/{first.id}/links/{links[0]['id']}", headers=it)
    assert removed.status_code == 204
    assert (await api.get(f"/api/v1/items/{first.id}/links", headers=it)).json() == []


async def test_disabled_integrations_take_no_links_and_marketing_links_nothing(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    _, marketing = await make_user(session, role=Role.MARKETING)
    integration_id = await _integration(api, it, enabled=False)
    item = await make_item(session)
    body = {"integration_id": integration_id}
    assert_problem(
        await api.post(f"/api/v1/items/{item.id}/links", json=body, headers=it),
        422,
        "validation-error",
    )
    assert_problem(
        await api.post(f"/api/v1/items/{item.id}/links", json=body, headers=marketing),
        403,
        "forbidden",
    )


async def test_failed_jobs_are_listed_and_retried(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration_id = await _integration(api, it)
    item = await make_item(session)
    await api.post(
        f"/api/v1/items/{item.id}/links", json={"integration_id": integration_id}, headers=it
    )
    [job] = await _jobs(session, item.id)
    job.state, job.attempts, job.last_error = JobState.FAILED, 8, "GitHub answered 502"
    await session.flush()
    url = f"/api/v1/integrations/{integration_id}/jobs"
    failed = (await api.get(f"{url}?state=failed", headers=it)).json()["items"]
    assert [(j["id"], j["attempts"], j["last_error"]) for j in failed] == [
        (job.id, 8, "GitHub answered 502")
    ]
    retried = await api.post(f"{url}/{job.id}/retry", headers=it)
    assert (retried.json()["state"], retried.json()["attempts"]) == ("pending", 0)
    assert_problem(await api.post(f"{url}/{job.id}/retry", headers=it), 409, "invalid-transition")
