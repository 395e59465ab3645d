"""The worker against a fake Jira that checks every request against Jira's API description."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.http import AsyncClient, Request, Response, TimeoutException
from app.sync.models import ItemLink
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from tests.builders import READY_FIELDS
from tests.fakes import FakeJira
from tests.live import LiveApp, live_app
from tests.sync.test_worker import _drain


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


@pytest.fixture
def jira() -> FakeJira:
    return FakeJira()


@pytest.fixture
async def worker(live: LiveApp, jira: FakeJira) -> AsyncIterator[Worker]:
    async with AsyncClient(transport=jira.transport()) as client:
        settings = WorkerSettings(search_grace_s=0, base_delay_s=0.01)
        yield Worker(live.sessions, live.app.state.secret_box, client, settings)


async def _linked_item(live: LiveApp) -> tuple[dict[str, str], int]:
    it = await live.user(Role.IT)
    integration = await live.api.post(
        "/api/v1/integrations",
        headers=it,
        json={
            "kind": "jira",
            "name": "Marketing board",
            "project_key": "MKT",
            "base_url": "http://127.0.0.1:9",
            "auth": {"token": "jira-token", "email": "ops@acme.example"},
        },
    )
    assert integration.status_code == 201, integration.text
    item = await live.api.post(
        "/api/v1/items",
        headers=it,
        json={"title": "Loyalty page", "labels": ["loyalty app"], "description": "Punten\nsparen"}
        | READY_FIELDS,
    )
    item_id = item.json()["id"]
    await live.api.post(
        f"/api/v1/items/{item_id}/links",
        headers=it,
        json={"integration_id": integration.json()["id"]},
    )
    return it, item_id


async def test_jira_issue_created_with_adf_marker_and_transitions(
    live: LiveApp, worker: Worker, jira: FakeJira
) -> None:
    it, item_id = await _linked_item(live)
    await worker.run_once()
    issue = jira.issues["MKT-1"]
    assert issue["fields"]["summary"] == "Loyalty page"
    assert issue["fields"]["description"]["type"] == "doc"
    assert issue["fields"]["labels"] == ["loyalty-app"]
    assert issue["marker"] == f"BB-{item_id}"
    assert jira.requests[0].headers["authorization"].startswith("Basic ")
    async with live.sessions() as session:
        link = await session.scalar(select(ItemLink))
    assert link is not None
    assert (link.remote_key, link.url) == ("MKT-1", "http://127.0.0.1:9/browse/MKT-1")
    await live.api.patch(f"/api/v1/items/{item_id}", headers=it, json={"status": "in_progress"})
    await worker.run_once()
    assert issue["status"] == "In Progress"
    await live.api.patch(f"/api/v1/items/{item_id}", headers=it, json={"status": "done"})
    await worker.run_once()
    assert issue["status"] == "Done"


async def test_a_lost_jira_create_is_found_by_its_property(
    live: LiveApp, worker: Worker, jira: FakeJira
) -> None:
    await _linked_item(live)

    def lost(request: Request) -> Response | None:
        if request.method == "POST" and request.url.path.endswith("/issue") and not jira.issues:
            jira.answer(request)
            raise TimeoutException("lost", request=request)
        return None

    jira.faults.append(lost)
    await _drain(live, worker)
    assert list(jira.issues) == ["MKT-1"]
    async with live.sessions() as session:
        link = await session.scalar(select(ItemLink))
    assert link is not None
    assert (link.remote_key, link.sync_state) == ("MKT-1", "synced")
