"""A link's remote key names an issue of the integration's own repository or project, nothing
more: refused at the API, and never able to steer a tracker call anywhere else (a key stored
before the check, or one from a webhook or a pull, included)."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.http import AsyncClient, MockTransport, Request, Response
from app.core.outbox import JobState, SyncJob
from app.sync.github import GitHubTracker
from app.sync.jira import JiraTracker
from app.sync.models import ItemLink
from app.sync.tracker import ItemSnapshot, TrackerError
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from app.webhooks.processing import process_pending
from app.webhooks.signatures import sign
from tests.builders import make_item, make_user
from tests.core.test_errors import assert_problem
from tests.fakes import FakeGitHub
from tests.live import LiveApp, live_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRACKER = "http://127.0.0.1:9"  # an allowed host in the tests' settings
SECRET = "It's a Secret to Everybody"
HOSTILE_GITHUB = [
    "../../otherorg/private/issues/5",
    "5?state=all&x=",
    "5/../../../../otherorg/private/issues/5",
    "5#x",
    "5/comments",
    "%2e%2e/5",
    "0",
    "05",
    "-5",
    "+5",
    "12345678901",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "MKT-1",
]
HOSTILE_JIRA = [
    "MKT-1/../../../../rest/api/3/myself",
    "MKT-1?fields=*all",
    "../10001",
    "10001/transitions",
    "OTHER-1",
    "mkt-1",
    "MKT-0",
    "MKT-01",
    "MKT-",
    "MKT-1x",
    "MKT-\u0663",
    "0",
    "MKT",
]
# The API strips surrounding whitespace from input; an adapter is given keys as stored.
PADDED = [" 5", "5\n", "5 "]


async def _integrations(api: AsyncClient, it: dict[str, str]) -> dict[str, int]:
    ids = {}
    for kind, target in (
        ("github", {"repository": "acme/web"}),
        ("jira", {"project_key": "MKT"}),
    ):
        resp = await api.post(
            "/api/v1/integrations",
            headers=it,
            json={"kind": kind, "name": kind, "base_url": TRACKER, "auth": {"token": "t"}} | target,
        )
        assert resp.status_code == 201, resp.text
        ids[kind] = resp.json()["id"]
    return ids


async def _link(
    api: AsyncClient, session: AsyncSession, kind: str, remote_key: str
) -> tuple[BacklogItem, dict[str, str], Response]:
    """IT links a new item to `remote_key` in a new integration of `kind`."""
    _, it = await make_user(session, role=Role.IT)
    integration = (await _integrations(api, it))[kind]
    item = await make_item(session)
    resp = await api.post(
        f"/api/v1/items/{item.id}/links",
        headers=it,
        json={"integration_id": integration, "remote_key": remote_key},
    )
    return item, it, resp


@pytest.mark.parametrize(
    ("kind", "remote_key"),
    [("github", key) for key in HOSTILE_GITHUB] + [("jira", key) for key in HOSTILE_JIRA],
)
async def test_a_key_that_is_not_an_issue_of_the_integration_is_refused(
    api: AsyncClient, session: AsyncSession, kind: str, remote_key: str
) -> None:
    item, it, resp = await _link(api, session, kind, remote_key)
    body = assert_problem(resp, 422, "validation-error")
    assert [error["loc"] for error in body["errors"]] == [["body", "remote_key"]]
    assert (await api.get(f"/api/v1/items/{item.id}/links", headers=it)).json() == []
    assert list(await session.scalars(select(SyncJob))) == []


@pytest.mark.parametrize(
    ("kind", "remote_key"),
    [("github", "1"), ("github", "1234567890"), ("jira", "MKT-12"), ("jira", "10001")],
)
async def test_issue_numbers_and_the_projects_own_keys_are_accepted(
    api: AsyncClient, session: AsyncSession, kind: str, remote_key: str
) -> None:
    _, _, resp = await _link(api, session, kind, remote_key)
    assert resp.status_code == 201, resp.text
    assert resp.json()["remote_key"] == remote_key


def _snapshot() -> ItemSnapshot:
    return ItemSnapshot(
        key="BB-1",
        title="Ours",
        description=None,
        acceptance_criteria=[],
        status="new",
        labels=[],
        link_back="http://bb/api/v1/items/1",
    )


class Recorder:
    """Every request the adapter sends, answered as a well-behaved tracker would."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def client(self) -> AsyncClient:
        return AsyncClient(transport=MockTransport(self.answer))

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        if request.url.path.startswith("/repos/"):
            number = request.url.path.rsplit("/", 1)[-1]
            return Response(200, json={"number": 5, "html_url": f"https://gh/{number}"})
        if request.url.path.endswith("/transitions"):
            return Response(200, json={"transitions": []})
        if request.method == "PUT":
            return Response(204)
        return Response(200, json={"id": "10005", "key": "MKT-5", "fields": {}})

    def paths(self) -> list[str]:
        return [request.url.raw_path.decode().split("?")[0] for request in self.requests]


@pytest.mark.parametrize("remote_key", HOSTILE_GITHUB + PADDED)
async def test_github_adapter_never_leaves_the_repository(remote_key: str) -> None:
    recorder = Recorder()
    async with recorder.client() as client:
        github = GitHubTracker(
            client,
            base_url=TRACKER,
            repository="acme/web",
            auth={"token": "t"},
            to_remote={},
            status_labels=set(),
        )
        for call in (
            github.update_issue(remote_key, _snapshot()),
            github.get_issue(remote_key),
        ):
            with pytest.raises(TrackerError) as refused:
                await call
            assert refused.value.permanent
        await github.update_issue("5", _snapshot())
    assert recorder.paths() == ["/repos/acme/web/issues/5"]


@pytest.mark.parametrize("remote_key", HOSTILE_JIRA + [f"MKT-{key}" for key in PADDED])
async def test_jira_adapter_never_leaves_the_project(remote_key: str) -> None:
    recorder = Recorder()
    async with recorder.client() as client:
        jira = JiraTracker(client, base_url=TRACKER, project_key="MKT", headers={}, to_remote={})
        for call in (jira.update_issue(remote_key, _snapshot()), jira.get_issue(remote_key)):
            with pytest.raises(TrackerError) as refused:
                await call
            assert refused.value.permanent
        await jira.update_issue("MKT-5", _snapshot())
    assert set(recorder.paths()) == {"/rest/api/3/issue/MKT-5"}


async def test_a_numeric_jira_id_of_another_project_is_never_written() -> None:
    """A numeric id may name any issue the credential reaches: the issue read for it must be
    one of the project's before anything is written (or applied to the item)."""

    def other_project(request: Request) -> Response:
        return Response(200, json={"id": "10001", "key": "OTHER-7", "fields": {}})

    async with AsyncClient(transport=MockTransport(other_project)) as client:
        jira = JiraTracker(client, base_url=TRACKER, project_key="MKT", headers={}, to_remote={})
        with pytest.raises(TrackerError) as refused:
            await jira.get_issue("10001")
    assert refused.value.permanent


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def test_a_hostile_key_stored_before_the_check_fails_its_job_and_calls_nothing(
    live: LiveApp,
) -> None:
    """Links written before keys were checked: the worker refuses the key, the job fails with
    the reason, and not one request leaves the repository."""
    it = await live.user(Role.IT)
    integration = (await _integrations(live.api, it))["github"]
    github = FakeGitHub()
    github.create({"title": "ours", "body": ""})
    item_ids = []
    for n in range(2):
        created = await live.api.post("/api/v1/items", headers=it, json={"title": f"Item {n}"})
        item_ids.append(created.json()["id"])
        await live.api.post(
            f"/api/v1/items/{item_ids[-1]}/links",
            headers=it,
            json={"integration_id": integration, "remote_key": "1"}
            if n
            else {"integration_id": integration},
        )
    async with live.sessions() as db:  # as a link stored before the check would be
        await db.execute(
            update(ItemLink)
            .where(ItemLink.item_id == item_ids[0])
            .values(remote_key="../../otherorg/private/issues/5")
        )
        await db.commit()
    async with AsyncClient(transport=github.transport()) as client:
        worker = Worker(live.sessions, live.app.state.secret_box, client, WorkerSettings())
        await worker.run_once()
    assert {r.url.path for r in github.requests} == {"/repos/acme/web/issues/1"}
    async with live.sessions() as db:
        jobs = {j.item_id: j for j in await db.scalars(select(SyncJob))}
    assert jobs[item_ids[0]].state is JobState.FAILED
    assert "not a GitHub issue number" in (jobs[item_ids[0]].last_error or "")
    assert jobs[item_ids[1]].state is JobState.DONE


async def _signed(live: LiveApp, kind: str, integration: int, payload: Any, n: int) -> None:
    body = json.dumps(payload).encode()
    if kind == "github":
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": f"d-{n}",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
    else:
        headers = {"X-Hub-Signature": sign(SECRET, body)}
    resp = await live.api.post(
        f"/api/v1/webhooks/{kind}/{integration}", content=body, headers=headers
    )
    assert resp.status_code == 202, resp.text


async def test_webhooks_cannot_import_an_issue_outside_the_project(live: LiveApp) -> None:
    """`auto_import` links what a delivery names: a hostile number or another project's key
    is ignored with its reason, so it can never become a link the worker writes to."""
    it = await live.user(Role.IT)
    ids = await _integrations(live.api, it)
    for integration in ids.values():
        resp = await live.api.patch(
            f"/api/v1/integrations/{integration}",
            headers=it,
            json={"auto_import": True, "webhook_secret": SECRET},
        )
        assert resp.status_code == 200, resp.text
    opened = json.loads((FIXTURES / "github/webhooks/issues/opened.payload.json").read_text())
    created = json.loads((FIXTURES / "jira/webhooks/webhook-issue-created.json").read_text())
    hostile = [
        ("github", opened | {"issue": opened["issue"] | {"number": "../../otherorg/x/issues/5"}}),
        ("github", opened | {"issue": opened["issue"] | {"number": 0}}),
        ("jira", created | {"issue": created["issue"] | {"key": "OTHER-5"}}),
        ("jira", created | {"issue": created["issue"] | {"key": "MKT-1/../../myself"}}),
    ]
    for n, (kind, payload) in enumerate(hostile):
        await _signed(live, kind, ids[kind], payload, n)
    await process_pending(live.sessions)
    async with live.sessions() as db:
        assert list(await db.scalars(select(ItemLink))) == []
    for integration in ids.values():
        resp = await live.api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)
        notes = [(d["outcome"], d["note"]) for d in resp.json()["items"]]
        assert len(notes) == 2
        assert all(outcome == "ignored" and "not an issue of" in note for outcome, note in notes)


class JiraById:
    """Jira answering for issue id 10005 with `key`, and recording what is sent where."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests: list[Request] = []

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        if request.method == "PUT":
            return Response(204)
        if request.url.path.endswith("/transitions"):
            return Response(200, json={"transitions": []})
        fields = {
            "summary": "Theirs",
            "status": {"name": "To Do"},
            "labels": [],
            "updated": "2030-01-01T00:00:00.000+0000",  # changed after ours: theirs is taken
        }
        return Response(200, json={"id": "10005", "key": self.key, "fields": fields})


@pytest.mark.parametrize(("key", "allowed"), [("MKT-5", True), ("OTHER-5", False)])
async def test_a_link_made_by_jira_issue_id_keeps_the_key_or_fails_outside_the_project(
    live: LiveApp, key: str, allowed: bool
) -> None:
    it = await live.user(Role.IT)
    integration = (await _integrations(live.api, it))["jira"]
    created = await live.api.post("/api/v1/items", headers=it, json={"title": "Ours"})
    item_id = created.json()["id"]
    linked = await live.api.post(
        f"/api/v1/items/{item_id}/links",
        headers=it,
        json={"integration_id": integration, "remote_key": "10005"},
    )
    assert linked.status_code == 201, linked.text
    jira = JiraById(key)
    async with AsyncClient(transport=MockTransport(jira.answer)) as client:
        worker = Worker(live.sessions, live.app.state.secret_box, client, WorkerSettings())
        await worker.run_once()
    [link] = (await live.api.get(f"/api/v1/items/{item_id}/links", headers=it)).json()
    writes = [r.url.path for r in jira.requests if r.method != "GET"]
    title = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()["title"]
    if allowed:  # webhooks name the issue by its key: the link now does too
        assert (link["remote_key"], link["sync_state"]) == ("MKT-5", "synced")
        assert writes == ["/rest/api/3/issue/MKT-5"]
        assert title == "Theirs"
    else:  # read once to learn its project; nothing written, nothing of it taken in
        assert (link["remote_key"], link["sync_state"]) == ("10005", "failed")
        assert "not an issue of project MKT" in link["last_error"]
        assert writes == []
        assert title == "Ours"
