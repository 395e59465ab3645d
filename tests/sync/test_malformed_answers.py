"""A tracker's malformed 2xx answer is a job error like any other: recorded with its reason,
retried with backoff, `failed` after the attempt limit; the rest of the batch goes on in the
same round, and no job is left `running` without a live lease."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.http import AsyncClient, MockTransport, Request, Response
from app.core.outbox import JobState, SyncJob, db_now
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from tests.fakes import FakeGitHub, FakeJira
from tests.live import LiveApp, live_app
from tests.sync.test_worker import _drain

TRACKER = "http://127.0.0.1:9"
Answer = Callable[[dict[str, Any]], Response]

MALFORMED: dict[str, Answer] = {
    "empty object": lambda issue: Response(200, json={}),
    "array": lambda issue: Response(200, json=[]),
    "not json": lambda issue: Response(200, content=b"not-json"),
    "number as text": lambda issue: Response(200, json=issue | {"number": str(issue["number"])}),
    "number missing": lambda issue: Response(
        200, json={k: v for k, v in issue.items() if k != "number"}
    ),
    "html_url null": lambda issue: Response(200, json=issue | {"html_url": None}),
    "too deep": lambda issue: Response(200, content=b"[" * 5000 + b"]" * 5000),
}


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def _integration(live: LiveApp, it: dict[str, str], kind: str) -> int:
    target = {"repository": "acme/web"} if kind == "github" else {"project_key": "MKT"}
    resp = await live.api.post(
        "/api/v1/integrations",
        headers=it,
        json={"kind": kind, "name": kind, "base_url": TRACKER, "auth": {"token": "t"}} | target,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _items(live: LiveApp, it: dict[str, str], integration: int, count: int) -> list[int]:
    ids = []
    for n in range(count):
        created = await live.api.post("/api/v1/items", headers=it, json={"title": f"Item {n}"})
        ids.append(created.json()["id"])
        linked = await live.api.post(
            f"/api/v1/items/{ids[-1]}/links", headers=it, json={"integration_id": integration}
        )
        assert linked.status_code == 201, linked.text
    return ids


async def _jobs(live: LiveApp) -> list[SyncJob]:
    async with live.sessions() as session:
        return list(await session.scalars(select(SyncJob).order_by(SyncJob.id)))


def _first_patch_of(github: FakeGitHub, number: int, answer: Answer) -> Callable[..., Any]:
    """GitHub applies the first PATCH of issue `number` and answers it with `answer`."""
    done: list[bool] = []

    def fault(request: Request) -> Response | None:
        if done or request.method != "PATCH" or not request.url.path.endswith(f"/{number}"):
            return None
        done.append(True)
        github.answer(request)
        return answer(github.issues[number])

    return fault


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_answer_to_a_patch_is_a_recorded_error_with_backoff(
    live: LiveApp, answer: Answer
) -> None:
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    item_ids = await _items(live, it, integration, 3)
    github = FakeGitHub()
    async with AsyncClient(transport=github.transport()) as client:
        worker = Worker(
            live.sessions, live.app.state.secret_box, client, WorkerSettings(base_delay_s=30)
        )
        assert await worker.run_once() == 3  # three issues made
        for item_id in item_ids:
            await live.api.patch(f"/api/v1/items/{item_id}", headers=it, json={"title": "New"})
        github.faults.append(_first_patch_of(github, 1, answer))
        before = datetime.now(UTC)
        await worker.run_once()
    first, *others = (await _jobs(live))[3:]
    assert first.state is JobState.PENDING
    assert (first.lease_owner, first.attempts) == (None, 1)
    assert first.last_error is not None
    assert first.last_error.startswith("GitHub answered PATCH with a malformed body")
    assert first.next_attempt_at > before  # backed off, not due again at once
    assert [(j.state, j.last_error) for j in others] == [(JobState.DONE, None)] * 2
    assert [github.issues[n]["title"] for n in (2, 3)] == ["New", "New"]


async def test_an_answer_that_stays_malformed_ends_failed_and_listed(live: LiveApp) -> None:
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    [item_id] = await _items(live, it, integration, 1)
    github = FakeGitHub()
    github.faults.append(lambda request: Response(200, json={}))
    async with AsyncClient(transport=github.transport()) as client:
        settings = WorkerSettings(base_delay_s=0.01, max_attempts=3, search_grace_s=0)
        worker = Worker(live.sessions, live.app.state.secret_box, client, settings)
        await _drain(live, worker)
    failed = await live.api.get(f"/api/v1/integrations/{integration}/jobs?state=failed", headers=it)
    [job] = failed.json()["items"]
    assert job["attempts"] == 3
    assert job["last_error"].startswith("GitHub answered POST with a malformed body")
    [link] = (await live.api.get(f"/api/v1/items/{item_id}/links", headers=it)).json()
    assert link["sync_state"] == "failed"
    metrics = (await live.api.get("/metrics")).text
    assert 'bb_outbox_jobs{state="failed"} 1.0' in metrics
    assert 'bb_outbox_jobs{state="running"} 0.0' in metrics


JIRA_MALFORMED: dict[str, Callable[[Request], Response | None]] = {
    "create without a key": lambda r: (
        Response(201, json={"id": "10001"})
        if r.method == "POST" and r.url.path.endswith("/issue")
        else None
    ),
    "key as a number": lambda r: (
        Response(201, json={"id": "10001", "key": 5})
        if r.method == "POST" and r.url.path.endswith("/issue")
        else None
    ),
    "key of another project": lambda r: (
        Response(201, json={"id": "10001", "key": "OTHER-1"})
        if r.method == "POST" and r.url.path.endswith("/issue")
        else None
    ),
    "transitions not a list": lambda r: (
        Response(200, json={"transitions": {}})
        if r.url.path.endswith("/transitions") and r.method == "GET"
        else None
    ),
    "empty answer to a read": lambda r: (
        Response(200) if r.method == "GET" and not r.url.path.endswith("/transitions") else None
    ),
}


@pytest.mark.parametrize("fault", JIRA_MALFORMED.values(), ids=JIRA_MALFORMED.keys())
async def test_malformed_jira_answers_are_recorded_and_the_batch_goes_on(
    live: LiveApp, fault: Callable[[Request], Response | None]
) -> None:
    it = await live.user(Role.IT)
    jira_id = await _integration(live, it, "jira")
    github_id = await _integration(live, it, "github")
    await _items(live, it, jira_id, 1)
    await live.api.patch(
        f"/api/v1/integrations/{jira_id}",
        headers=it,
        json={"status_map": {"to_remote": {"new": "In Progress"}}},
    )
    await _items(live, it, github_id, 1)
    jira, github = FakeJira(), FakeGitHub()
    jira.faults.append(fault)

    def route(request: Request) -> Response:
        return (jira if request.url.path.startswith("/rest/") else github).handle(request)

    async with AsyncClient(transport=MockTransport(route)) as client:
        worker = Worker(
            live.sessions, live.app.state.secret_box, client, WorkerSettings(base_delay_s=30)
        )
        assert await worker.run_once() == 2
    jira_job, github_job = await _jobs(live)
    assert jira_job.state is JobState.PENDING
    assert (jira_job.lease_owner, jira_job.attempts) == (None, 1)
    assert (jira_job.last_error or "").startswith("Jira answered")
    assert "malformed" in (jira_job.last_error or "")
    assert (github_job.state, github_job.last_error) == (JobState.DONE, None)


async def test_every_claimed_job_keeps_a_live_lease_while_its_batch_runs(live: LiveApp) -> None:
    """One slow tracker call must not let the leases of the batch's other jobs run out: no job
    is `running` without a live lease, so no second worker runs it meanwhile."""
    it = await live.user(Role.IT)
    integration = await _integration(live, it, "github")
    await _items(live, it, integration, 3)
    github = FakeGitHub()
    slow = asyncio.Event()

    async def answer(request: Request) -> Response:
        if not slow.is_set():
            slow.set()
            await asyncio.sleep(2.0)  # three leases' worth of time
        return github.handle(request)

    settings = WorkerSettings(tracker_timeout_s=0.2, base_delay_s=0.01)  # leases of 0.6 s
    async with AsyncClient(transport=MockTransport(answer)) as client:
        worker = Worker(live.sessions, live.app.state.secret_box, client, settings)
        other = Worker(live.sessions, live.app.state.secret_box, client, settings)
        task = asyncio.create_task(worker.run_once())
        await asyncio.wait_for(slow.wait(), 10)
        for _ in range(6):
            await asyncio.sleep(0.25)
            async with live.sessions() as session:
                now = await db_now(session)
                running = list(
                    await session.scalars(select(SyncJob).where(SyncJob.state == JobState.RUNNING))
                )
            assert len(running) == 3
            assert all(
                job.lease_expires_at is not None and job.lease_expires_at > now for job in running
            )
        assert await other.run_once() == 0  # nothing to take over
        assert await task == 3
    assert len(github.issues) == 3
    assert {j.state for j in await _jobs(live)} == {JobState.DONE}
