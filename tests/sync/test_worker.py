"""The worker against a fake GitHub that checks every request against GitHub's own API
description: creates, updates, rate limits, lost answers, permanent refusals, and at scale."""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.backlog.models import BacklogItem
from app.core.http import AsyncClient, Request, Response, TimeoutException
from app.core.outbox import JobState, SyncJob
from app.sync.models import Integration, ItemLink
from app.sync.tracker import RemoteIssue
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from tests.fakes import FakeGitHub
from tests.live import LiveApp, live_app


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
async def worker(live: LiveApp, github: FakeGitHub) -> AsyncIterator[Worker]:
    async with AsyncClient(transport=github.transport()) as client:
        settings = WorkerSettings(search_grace_s=0, base_delay_s=0.01)
        yield Worker(live.sessions, live.app.state.secret_box, client, settings)


async def _linked_items(live: LiveApp, count: int, **item: Any) -> tuple[dict[str, str], list[int]]:
    it = await live.user(Role.IT)
    integration = await live.api.post(
        "/api/v1/integrations",
        headers=it,
        json={
            "kind": "github",
            "name": "repo",
            "repository": "acme/webshop",
            "base_url": "http://127.0.0.1:9",
            "auth": {"token": "ghp_test"},
        },
    )
    assert integration.status_code == 201, integration.text
    ids = []
    for n in range(count):
        created = await live.api.post(
            "/api/v1/items", headers=it, json={"title": f"Story {n}", "labels": ["web"]} | item
        )
        ids.append(created.json()["id"])
        await live.api.post(
            f"/api/v1/items/{ids[-1]}/links",
            headers=it,
            json={"integration_id": integration.json()["id"]},
        )
    return it, ids


async def _drain(live: LiveApp, worker: Worker, rounds: int = 50) -> None:
    """Run the worker until nothing is left, as if time passed between rounds."""
    for _ in range(rounds):
        async with live.sessions() as session:
            await session.execute(
                update(SyncJob)
                .where(SyncJob.state == JobState.PENDING)
                .values(next_attempt_at=SyncJob.created_at)
            )
            await session.execute(update(Integration).values(paused_until=None))
            await session.commit()
        if await worker.run_once() == 0:
            return


async def _links(live: LiveApp) -> list[ItemLink]:
    async with live.sessions() as session:
        return list(await session.scalars(select(ItemLink).order_by(ItemLink.item_id)))


async def test_linking_creates_the_issue_and_changes_follow(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    it, [item_id] = await _linked_items(live, 1, acceptance_criteria=["Loads in 2 s"])
    await worker.run_once()
    [link] = await _links(live)
    assert (link.remote_key, link.sync_state) == ("1", "synced")
    assert link.url == "https://github.com/acme/webshop/issues/1"
    issue = github.issues[1]
    assert issue["title"] == "Story 0"
    assert f"BB-{item_id}" in issue["body"]
    assert "- [ ] Loads in 2 s" in issue["body"]
    assert [label["name"] for label in issue["labels"]] == ["web"]
    await live.api.patch(
        f"/api/v1/items/{item_id}", headers=it, json={"title": "Renamed", "status": "cancelled"}
    )
    await worker.run_once()
    assert (issue["title"], issue["state"], issue["state_reason"]) == (
        "Renamed",
        "closed",
        "not_planned",
    )
    shown = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()["links"]
    assert shown[0]["remote_key"] == "1"


async def test_rate_limit_waits_for_retry_after_and_pauses_the_credential(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 1)
    answered: list[Request] = []

    def limited(request: Request) -> Response | None:
        if not answered:
            answered.append(request)
            return Response(429, headers={"Retry-After": "120"}, json={"message": "slow down"})
        return None

    github.faults.append(limited)
    await worker.run_once()
    async with live.sessions() as session:
        job = await session.scalar(select(SyncJob))
        integration = await session.scalar(select(Integration))
    assert job is not None
    assert integration is not None
    assert (job.state, job.attempts) == (JobState.PENDING, 1)
    assert (job.next_attempt_at - job.updated_at).total_seconds() >= 119
    assert integration.paused_until is not None
    assert await worker.run_once() == 0  # not due, and the credential is paused
    await _drain(live, worker)
    assert [link.sync_state for link in await _links(live)] == ["synced"]


async def test_a_lost_answer_to_a_create_never_makes_a_second_issue(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 1)

    def created_then_timed_out(request: Request) -> Response | None:
        if request.method == "POST" and not github.issues:
            github.answer(request)  # GitHub made the issue; the answer never arrived
            raise TimeoutException("read timed out", request=request)
        return None

    github.faults.append(created_then_timed_out)
    await worker.run_once()
    assert len(github.issues) == 1
    await _drain(live, worker)
    assert len(github.issues) == 1
    [link] = await _links(live)
    assert (link.remote_key, link.sync_state) == ("1", "synced")


async def test_a_permanent_refusal_fails_at_once(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    it, _ = await _linked_items(live, 1)
    github.faults.append(lambda r: Response(422, json={"message": "Validation Failed"}))
    await worker.run_once()
    [link] = await _links(live)
    assert link.sync_state == "failed"
    integration_id = link.integration_id
    failed = await live.api.get(
        f"/api/v1/integrations/{integration_id}/jobs?state=failed", headers=it
    )
    [job] = failed.json()["items"]
    assert (job["attempts"], job["last_error"]) == (1, "the tracker answered 422")


async def test_two_hundred_items_through_faults_make_two_hundred_issues(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 200)
    worker.settings.max_attempts = 30  # about one request in three fails here: be patient
    chaos = random.Random(7)

    def flaky(request: Request) -> Response | None:
        roll = chaos.random()
        if roll < 0.1:
            return Response(429, json={"message": "slow"})  # no Retry-After: back off
        if roll < 0.2:
            return Response(502, json={"message": "bad gateway"})
        if roll < 0.3 and request.method == "POST":
            github.answer(request)
            raise TimeoutException("lost", request=request)
        if roll < 0.35:
            raise TimeoutException("connect", request=request)
        return None

    github.faults.append(flaky)
    await _drain(live, worker, rounds=200)
    links = await _links(live)
    assert len(github.issues) == 200
    assert {link.sync_state for link in links} == {"synced"}
    assert len({link.remote_key for link in links}) == 200
    async with live.sessions() as session:
        items = list(await session.scalars(select(BacklogItem.id)))
    bodies = " ".join(issue["body"] for issue in github.issues.values())
    assert all(f"BB-{item_id}" in bodies for item_id in items)


async def test_two_workers_never_deliver_one_job_twice(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 40)
    async with AsyncClient(transport=github.transport()) as client:
        other = Worker(live.sessions, live.app.state.secret_box, client, worker.settings)
        for _ in range(10):
            handled = await asyncio.gather(worker.run_once(), other.run_once())
            if sum(handled) == 0:
                break
    creates = [r for r in github.requests if r.method == "POST"]
    assert len(creates) == len(github.issues) == 40


async def test_a_dead_workers_job_is_taken_over_and_its_late_result_ignored(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 1)
    async with AsyncClient(transport=github.transport()) as client:
        dead = Worker(live.sessions, live.app.state.secret_box, client, worker.settings)
        [job_id] = await dead._claim()  # claimed, then the process "dies"
        assert await worker.run_once() == 0  # the lease still holds
        async with live.sessions() as session:
            await session.execute(update(SyncJob).values(lease_expires_at=SyncJob.created_at))
            await session.commit()
        assert await worker.run_once() == 1  # taken over once the lease expired
        await dead._finish(job_id, RemoteIssue(key="999", url="https://example/999"), link_id=1)
    [link] = await _links(live)
    assert (link.remote_key, link.sync_state) == ("1", "synced")  # the late result changed nothing
    assert len(github.issues) == 1


async def test_stopping_mid_batch_hands_unstarted_jobs_back(
    live: LiveApp, worker: Worker, github: FakeGitHub
) -> None:
    await _linked_items(live, 3)
    started = asyncio.Event()
    real_deliver = worker._deliver

    async def deliver_then_hang(job_id: int) -> None:
        await real_deliver(job_id)
        started.set()
        await asyncio.sleep(60)  # the process is told to stop here

    worker._deliver = deliver_then_hang  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run_once())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with live.sessions() as session:
        jobs = list(await session.scalars(select(SyncJob).order_by(SyncJob.id)))
    assert [(j.state, j.lease_owner, j.attempts) for j in jobs] == [
        (JobState.DONE, None, 1),
        (JobState.PENDING, None, 0),
        (JobState.PENDING, None, 0),
    ]
