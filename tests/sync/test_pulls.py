"""Pulling from the trackers: `POST /integrations/{id}/import` and the periodic reconciliation
that catches what a webhook missed, against fakes that check every request."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.core.events import Event
from app.core.http import AsyncClient, Response
from app.core.outbox import JobKind, JobState, SyncJob
from app.sync.models import Integration
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from tests.fakes import FakeGitHub, FakeJira
from tests.live import LiveApp, live_app


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def _integration(live: LiveApp, it: dict[str, str], kind: str, **extra: Any) -> int:
    target = (
        {"repository": "acme/webshop", "base_url": "http://127.0.0.1:9"}
        if kind == "github"
        else {"project_key": "MKT", "base_url": "http://127.0.0.1:9"}
    )
    resp = await live.api.post(
        "/api/v1/integrations",
        headers=it,
        json={"kind": kind, "name": kind, "auth": {"token": "t", "email": "a@b.example"}}
        | target
        | extra,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _drain(worker: Worker) -> None:
    for _ in range(100):
        if await worker.run_once() == 0:
            return
    raise AssertionError("the worker never ran out of work")


async def _items(live: LiveApp, it: dict[str, str]) -> list[dict[str, Any]]:
    resp = await live.api.get("/api/v1/items?sort=created_at", headers=it)
    return list(resp.json()["items"])


def _worker(live: LiveApp, client: AsyncClient, **settings: Any) -> Worker:
    return Worker(
        live.sessions,
        live.app.state.secret_box,
        client,
        WorkerSettings(search_grace_s=0, base_delay_s=0.01, **settings),
    )


async def test_import_brings_every_github_issue_in_once(live: LiveApp) -> None:
    github = FakeGitHub()
    github.page_size = 2  # two pages for three open issues and a pull request
    for n in range(4):
        github.create({"title": f"Remote {n}", "body": f"Text {n}", "labels": ["web"]})
    github.issues[3]["state"], github.issues[3]["state_reason"] = "closed", "completed"
    github.issues[99] = github.issues[1] | {"number": 99, "title": "A PR", "pull_request": {}}
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")

    first = await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
    again = await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
    assert first.status_code == again.status_code == 202, first.text
    assert first.json()["kind"] == "import"
    assert first.json()["state"] == "pending"
    assert again.json()["id"] == first.json()["id"]  # one import at a time

    async with AsyncClient(transport=github.transport()) as client:
        await _drain(_worker(live, client))
        items = await _items(live, it)
        # open issues only: no closed one (#3), no pull request
        assert [i["title"] for i in items] == ["Remote 0", "Remote 1", "Remote 3"]
        assert items[0]["description"] == "Text 0"
        assert items[0]["labels"] == ["web"]
        links = (await live.api.get(f"/api/v1/items/{items[2]['id']}/links", headers=it)).json()
        assert [(lk["remote_key"], lk["sync_state"]) for lk in links] == [("4", "synced")]
        jobs = (await live.api.get(f"/api/v1/integrations/{integration}/jobs", headers=it)).json()
        assert [(j["kind"], j["state"]) for j in jobs["items"]] == [("import", "done")]

        again = await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
        assert again.json()["id"] != first.json()["id"]
        await _drain(_worker(live, client))
        assert len(await _items(live, it)) == 3  # idempotent: nothing imported twice
    assert github.violations == []
    async with live.sessions() as session:  # nothing of an import is pushed back to GitHub
        pushes = await session.scalar(
            select(func.count()).select_from(SyncJob).where(SyncJob.kind == JobKind.PUSH)
        )
    assert pushes == 0
    assert [r.method for r in github.requests] == ["GET"] * len(github.requests)


async def test_import_from_jira_reads_adf_and_pages_by_token(live: LiveApp) -> None:
    jira = FakeJira()
    jira.page_size = 1
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Checkout is slow."}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Fix it."}]},
        ],
    }
    for title in ("Speed up checkout", "Old launch", "New banner"):
        jira.create(
            {
                "fields": {
                    "summary": title,
                    "description": adf,
                    "labels": ["web-shop"],
                    "project": {"key": "MKT"},
                    "issuetype": {"name": "Task"},
                }
            }
        )
    jira.issues["MKT-2"]["status"] = "Done"  # done work is not imported into a backlog
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "jira")
    resp = await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
    assert resp.status_code == 202, resp.text
    async with AsyncClient(transport=jira.transport()) as client:
        await _drain(_worker(live, client))
    items = await _items(live, it)
    assert [(i["title"], i["description"], i["labels"]) for i in items] == [
        ("Speed up checkout", "Checkout is slow.\nFix it.", ["web-shop"]),
        ("New banner", "Checkout is slow.\nFix it.", ["web-shop"]),
    ]
    searches = [r for r in jira.requests if r.url.path.endswith("/search/jql")]
    assert [r.url.params.get("nextPageToken") for r in searches] == [None, "1"]


async def test_import_is_for_it_and_needs_an_enabled_integration(live: LiveApp) -> None:
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github", enabled=False)
    marketing = await live.user(Role.MARKETING)
    path = f"/api/v1/integrations/{integration}/import"
    assert (await live.api.post(path, headers=marketing)).status_code == 403
    disabled = await live.api.post(path, headers=it)
    assert disabled.status_code == 409
    assert disabled.headers["content-type"] == "application/problem+json"
    assert (
        await live.api.post("/api/v1/integrations/999999/import", headers=it)
    ).status_code == 404
    async with live.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SyncJob)) == 0


async def _due_now(live: LiveApp) -> None:
    async with live.sessions() as session:
        await session.execute(update(Integration).values(next_reconcile_at=None))
        await session.commit()


async def test_reconciliation_catches_a_missed_github_change_and_applies_it_once(
    live: LiveApp,
) -> None:
    github = FakeGitHub()
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    item = (await live.api.post("/api/v1/items", headers=it, json={"title": "Ours"})).json()
    await live.api.post(
        f"/api/v1/items/{item['id']}/links", headers=it, json={"integration_id": integration}
    )
    async with AsyncClient(transport=github.transport()) as client:
        worker = _worker(live, client, reconcile_every_s=300)
        await _drain(worker)  # the create, and a first reconcile that finds only our echo
        assert (await live.api.get(f"/api/v1/items/{item['id']}", headers=it)).json()[
            "title"
        ] == "Ours"

        github.edit(1, {"title": "Renamed on GitHub"})  # ... and its webhook never arrives
        await _drain(worker)
        assert (await live.api.get(f"/api/v1/items/{item['id']}", headers=it)).json()[
            "title"
        ] == "Ours"  # not due yet: one pull per interval
        await _due_now(live)
        await _drain(worker)
        got = (await live.api.get(f"/api/v1/items/{item['id']}", headers=it)).json()
        assert got["title"] == "Renamed on GitHub"

        await _due_now(live)
        await _drain(worker)  # the same remote version again: stored once, applied once
    async with live.sessions() as session:
        updates = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.entity_id == item["id"], Event.type == "item.updated")
        )
        reconciles = list(
            await session.scalars(select(SyncJob.state).where(SyncJob.kind == JobKind.RECONCILE))
        )
        integration_row = await session.get(Integration, integration)
    assert updates == 1
    assert reconciles == [JobState.DONE] * 3
    assert integration_row is not None
    assert integration_row.reconciled_through is not None
    shown = (await live.api.get(f"/api/v1/integrations/{integration}", headers=it)).json()
    assert shown["reconciled_through"] is not None
    deliveries = (
        await live.api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)
    ).json()["items"]
    assert [d["event"] for d in deliveries] == ["reconcile"] * len(deliveries)
    assert "applied" in [d["outcome"] for d in deliveries]
    listings = [r for r in github.requests if r.method == "GET" and r.url.path.endswith("/issues")]
    assert "since" in listings[-1].url.params  # only what changed since the last pull
    assert github.violations == []


async def test_a_failing_pull_is_visible_as_a_failed_job(live: LiveApp) -> None:
    github = FakeGitHub()
    github.faults.append(lambda _: Response(404, json={"message": "Not Found"}))
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
    async with AsyncClient(transport=github.transport()) as client:
        await _drain(_worker(live, client))
    failed = await live.api.get(f"/api/v1/integrations/{integration}/jobs?state=failed", headers=it)
    [job] = failed.json()["items"]
    assert job["kind"] == "import"
    assert "404" in job["last_error"]


@pytest.mark.parametrize("newer", ["remote", "ours"])
async def test_linking_an_existing_issue_loses_nothing_of_either_side(
    live: LiveApp, newer: str
) -> None:
    github = FakeGitHub()
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    item = (
        await live.api.post(
            "/api/v1/items", headers=it, json={"title": "Our title", "acceptance_criteria": ["A"]}
        )
    ).json()
    github.create({"title": "Their title", "body": "Their description", "labels": ["bug"]})
    github.issues[1]["updated_at"] = (
        "2020-01-01T00:00:00Z" if newer == "ours" else "2099-01-01T00:00:00Z"
    )
    link = await live.api.post(
        f"/api/v1/items/{item['id']}/links",
        headers=it,
        json={"integration_id": integration, "remote_key": "1"},
    )
    assert link.json()["sync_state"] == "pending"
    async with AsyncClient(transport=github.transport()) as client:
        await _drain(_worker(live, client))
    got = (await live.api.get(f"/api/v1/items/{item['id']}", headers=it)).json()
    expected_title = "Their title" if newer == "remote" else "Our title"
    # empty on our side: theirs is taken whichever is newer
    assert (got["title"], got["description"], got["labels"]) == (
        expected_title,
        "Their description",
        ["bug"],
    )
    issue = github.issues[1]
    assert issue["title"] == expected_title  # and the merged item went out
    assert "Their description" in issue["body"]
    assert "- [ ] A" in issue["body"]  # with our acceptance criteria and marker
    assert len(github.issues) == 1
    [link_out] = (await live.api.get(f"/api/v1/items/{item['id']}/links", headers=it)).json()
    assert link_out["sync_state"] == "synced"
    deliveries = (
        await live.api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)
    ).json()["items"]
    assert (deliveries[0]["event"], deliveries[0]["outcome"]) == ("link", "applied")


async def test_linking_a_missing_issue_fails_the_link_visibly(live: LiveApp) -> None:
    github = FakeGitHub()
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    item = (await live.api.post("/api/v1/items", headers=it, json={"title": "Ours"})).json()
    await live.api.post(
        f"/api/v1/items/{item['id']}/links",
        headers=it,
        json={"integration_id": integration, "remote_key": "404"},
    )
    async with AsyncClient(transport=github.transport()) as client:
        await _drain(_worker(live, client))
    [link] = (await live.api.get(f"/api/v1/items/{item['id']}/links", headers=it)).json()
    assert link["sync_state"] == "failed"
    assert "404" in link["last_error"]
    assert github.issues == {}
