"""Stored deliveries applied to linked items, with the real payloads in tests/fixtures."""

import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.core.db import utcnow
from app.core.http import AsyncClient
from app.core.outbox import SyncJob
from app.sync.models import ItemLink
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from app.webhooks.processing import process_pending
from app.webhooks.signatures import sign
from tests.builders import READY_FIELDS
from tests.fakes import FakeGitHub, FakeJira
from tests.live import LiveApp, live_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # real payloads
SECRET = "It's a Secret to Everybody"


def _fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def _linked(live: LiveApp, kind: str, remote_key: str, **item: Any) -> tuple[Any, ...]:
    it = await live.user(Role.IT)
    target = (
        {"repository": "Codertocat/Hello-World", "base_url": "http://127.0.0.1:9"}
        if kind == "github"
        else {"project_key": "TES", "base_url": "http://127.0.0.1:9"}
    )
    integration = (
        await live.api.post(
            "/api/v1/integrations",
            headers=it,
            json={"kind": kind, "name": kind, "webhook_secret": SECRET, "auth": {"token": "t"}}
            | target,
        )
    ).json()["id"]
    created = await live.api.post("/api/v1/items", headers=it, json={"title": "Ours"} | item)
    item_id = created.json()["id"]
    await live.api.post(
        f"/api/v1/items/{item_id}/links",
        headers=it,
        json={"integration_id": integration, "remote_key": remote_key},
    )
    return it, integration, item_id


async def _github(live: LiveApp, integration: int, event: str, body: bytes, delivery: str) -> int:
    resp = await live.api.post(
        f"/api/v1/webhooks/github/{integration}",
        content=body,
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(SECRET, body),
        },
    )
    assert resp.status_code in (200, 202), resp.text
    await process_pending(live.sessions)
    return int(resp.json()["delivery"])


async def _outcomes(live: LiveApp, it: dict[str, str], integration: int) -> list[tuple[str, Any]]:
    resp = await live.api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)
    return [(d["outcome"], d["note"]) for d in resp.json()["items"]]


async def test_github_issue_edits_reach_the_item_once(live: LiveApp) -> None:
    it, integration, item_id = await _linked(live, "github", "1")
    edited = _fixture("github/webhooks/issues/edited.payload.json")
    await _github(live, integration, "issues", edited, "g-1")
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    issue = json.loads(edited)["issue"]
    assert item["title"] == issue["title"]
    assert item["labels"] == ["bug"]
    assert item["status"] == "new"  # `open` is what our `new` maps to: nothing to change
    history = (await live.api.get(f"/api/v1/items/{item_id}/history", headers=it)).json()
    assert history["items"][-1]["actor_kind"] == "integration"
    assert "sync.conflict" not in [e["type"] for e in history["items"]]  # nothing of ours waited
    await _github(live, integration, "issues", edited, "g-2")  # same moment again: stale
    await _github(live, integration, "issues", edited, "g-1")  # a redelivery: not applied twice
    assert await _outcomes(live, it, integration) == [
        ("applied", None),
        ("ignored", "stale: not newer than what was applied already"),
        ("duplicate", "redelivery of an id already received"),
    ]
    async with live.sessions() as session:  # the tracker's change is not pushed back to it
        jobs = list(await session.scalars(select(SyncJob).where(SyncJob.item_id == item_id)))
    assert len(jobs) == 1  # only the one queued when the link was made


async def test_github_comments_become_item_comments(live: LiveApp) -> None:
    it, integration, item_id = await _linked(live, "github", "1")
    created = _fixture("github/webhooks/issue_comment/created.payload.json")
    await _github(live, integration, "issue_comment", created, "c-1")
    await _github(live, integration, "issue_comment", created, "c-2")  # same comment, new id
    comments = (await live.api.get(f"/api/v1/items/{item_id}/comments", headers=it)).json()
    assert [(c["author_name"], c["author_id"]) for c in comments["items"]] == [
        ("Codertocat (GitHub)", None)
    ]
    assert comments["items"][0]["body"] == json.loads(created)["comment"]["body"]


async def test_unlinked_issues_and_other_events_are_ignored_with_a_reason(live: LiveApp) -> None:
    it, integration, _ = await _linked(live, "github", "99")
    await _github(
        live, integration, "issues", _fixture("github/webhooks/issues/opened.payload.json"), "o-1"
    )
    [(outcome, note)] = await _outcomes(live, it, integration)
    assert (outcome, note) == ("ignored", "issue 1 is not linked to an item")


async def _jira(live: LiveApp, integration: int, body: bytes) -> None:
    resp = await live.api.post(
        f"/api/v1/webhooks/jira/{integration}",
        content=body,
        headers={"X-Hub-Signature": sign(SECRET, body)},
    )
    assert resp.status_code == 202, resp.text
    await process_pending(live.sessions)


async def test_jira_status_obeys_the_definition_of_ready(live: LiveApp) -> None:
    started = _fixture("jira/webhooks/webhook-issue-updated-started-working.json")
    it, integration, item_id = await _linked(live, "jira", "TES-41")  # a `new` item
    await _jira(live, integration, started)
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert item["status"] == "new"
    [(outcome, note)] = await _outcomes(live, it, integration)
    assert outcome == "applied"  # its summary was taken; its status was not
    assert "status in_progress refused" in note
    assert item["title"] == json.loads(started)["issue"]["fields"]["summary"]


async def test_jira_status_applies_to_a_ready_item(live: LiveApp) -> None:
    started = _fixture("jira/webhooks/webhook-issue-updated-started-working.json")
    it, integration, item_id = await _linked(live, "jira", "TES-41", **READY_FIELDS)
    await live.api.patch(f"/api/v1/items/{item_id}", headers=it, json={"status": "ready"})
    await _jira(live, integration, started)
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert item["status"] == "in_progress"


async def test_comment_edits_and_deletions_follow(live: LiveApp) -> None:
    it, integration, item_id = await _linked(live, "github", "1")
    created = json.loads(_fixture("github/webhooks/issue_comment/created.payload.json"))
    await _github(live, integration, "issue_comment", json.dumps(created).encode(), "c-1")
    edited = created | {
        "action": "edited",
        "comment": created["comment"] | {"body": "Fixed in #2."},
    }
    await _github(live, integration, "issue_comment", json.dumps(edited).encode(), "c-2")
    url = f"/api/v1/items/{item_id}/comments"
    assert [c["body"] for c in (await live.api.get(url, headers=it)).json()["items"]] == [
        "Fixed in #2."
    ]
    deleted = created | {"action": "deleted"}
    await _github(live, integration, "issue_comment", json.dumps(deleted).encode(), "c-3")
    assert (await live.api.get(url, headers=it)).json()["items"] == []


async def test_our_push_echoed_back_makes_no_second_write(live: LiveApp) -> None:
    """Edit -> push to GitHub -> GitHub's webhook reports our own change -> nothing more."""
    github = FakeGitHub()
    it, integration, item_id = await _linked(live, "github", "1", description="Punten sparen")
    github.create({"title": "old", "body": ""})  # issue #1 exists remotely
    async with AsyncClient(transport=github.transport()) as client:
        worker = Worker(
            live.sessions, live.app.state.secret_box, client, WorkerSettings(base_delay_s=0.01)
        )
        await live.api.patch(
            f"/api/v1/items/{item_id}", headers=it, json={"title": "Loyaliteit", "labels": ["crm"]}
        )
        await worker.run_once()
        writes = [r for r in github.requests if r.method != "GET"]
        echo = {
            "action": "edited",
            "issue": github.issues[1] | {"updated_at": "2030-01-01T00:00:00Z"},
            "repository": {"full_name": "Codertocat/Hello-World"},
        }
        await _github(live, integration, "issues", json.dumps(echo).encode(), "echo-1")
        await worker.run_once()
    assert [r for r in github.requests if r.method != "GET"] == writes  # no second write
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert (item["title"], item["description"], item["labels"]) == (
        "Loyaliteit",
        "Punten sparen",
        ["crm"],
    )
    [*_, (outcome, note)] = await _outcomes(live, it, integration)
    assert (outcome, note) == ("applied", "nothing new (our own change echoed back)")


async def test_our_push_echoed_back_by_jira_in_wiki_markup_makes_no_change(
    live: LiveApp,
) -> None:
    """Jira webhooks write the description as wiki markup and labels without spaces: our own
    key line, our criteria section and `web-shop` for `web shop` are still recognised."""
    jira = FakeJira(project="TES")
    it, integration, item_id = await _linked(
        live,
        "jira",
        "TES-1",
        description="Punten sparen",
        acceptance_criteria=["Saldo zichtbaar"],
        labels=["web shop"],
    )
    jira.create({"fields": {"summary": "old", "project": {"key": "TES"}}, "properties": []})
    async with AsyncClient(transport=jira.transport()) as client:
        worker = Worker(
            live.sessions, live.app.state.secret_box, client, WorkerSettings(base_delay_s=0.01)
        )
        await worker.run_once()
        pushed = jira.issues["TES-1"]["fields"]
        header = pushed["description"]["content"][0]["content"][0]["text"]  # "BB-1 · <link>"
        echo = json.loads(_fixture("jira/webhooks/webhook-issue-updated-started-working.json"))
        echo["issue"]["key"] = "TES-1"
        echo["issue"]["fields"] |= {
            "summary": pushed["summary"],
            "description": f"{header}\n\nPunten sparen\n\nh3. Acceptance criteria\n\n"
            "* Saldo zichtbaar",
            "labels": pushed["labels"],
            "status": {"name": "To Do"},
            "updated": "2030-01-01T00:00:00.000+0000",
        }
        writes = [r for r in jira.requests if r.method != "GET"]
        await _jira(live, integration, json.dumps(echo).encode())
        await worker.run_once()
    assert pushed["labels"] == ["web-shop"]
    assert [r for r in jira.requests if r.method != "GET"] == writes  # no second write
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert (item["description"], item["labels"]) == ("Punten sparen", ["web shop"])
    [*_, (outcome, note)] = await _outcomes(live, it, integration)
    assert (outcome, note) == ("applied", "nothing new (our own change echoed back)")


async def test_deliveries_three_times_in_any_order_end_as_one_in_order(live: LiveApp) -> None:
    names = [
        "issues/opened",
        "issues/edited",
        "issues/labeled",
        "issues/reopened",
        "issue_comment/created",
    ]
    payloads = [(n.split("/")[0], _fixture(f"github/webhooks/{n}.payload.json")) for n in names]

    async def final_state(order: list[int]) -> tuple[Any, ...]:
        it, integration, item_id = await _linked(live, "github", "1")
        for position in order:
            event, body = payloads[position]
            await _github(live, integration, event, body, f"{integration}-{position}")
        item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
        comments = (await live.api.get(f"/api/v1/items/{item_id}/comments", headers=it)).json()
        await live.api.delete(f"/api/v1/items/{item_id}/links/{item['links'][0]['id']}", headers=it)
        return (
            item["title"],
            item["description"],
            item["labels"],
            item["status"],
            [c["body"] for c in comments["items"]],
        )

    in_order = await final_state(list(range(len(payloads))))
    shuffled = [i for _ in range(3) for i in range(len(payloads))]
    random.Random(11).shuffle(shuffled)
    assert await final_state(shuffled) == in_order


async def test_auto_import_turns_unlinked_issues_into_linked_items(live: LiveApp) -> None:
    it, integration, _ = await _linked(live, "github", "99")
    await live.api.patch(
        f"/api/v1/integrations/{integration}", headers=it, json={"auto_import": True}
    )
    opened = _fixture("github/webhooks/issues/opened.payload.json")
    await _github(live, integration, "issues", opened, "imp-1")
    [*_, (outcome, note)] = await _outcomes(live, it, integration)
    assert outcome == "applied"
    assert note.startswith("imported as BB-")
    imported = (await live.api.get("/api/v1/items?q=" + note.split()[-1], headers=it)).json()
    [item] = imported["items"]
    assert item["title"] == json.loads(opened)["issue"]["title"]
    assert [link["remote_key"] for link in item["links"]] == ["1"]


async def test_two_sided_edits_are_logged_as_conflicts(live: LiveApp) -> None:
    it, integration, item_id = await _linked(live, "github", "1")
    async with live.sessions() as session:  # as if the link was pushed an hour ago
        await session.execute(update(ItemLink).values(last_synced_at=utcnow() - timedelta(hours=1)))
        await session.commit()
    await live.api.patch(f"/api/v1/items/{item_id}", headers=it, json={"title": "Ours, unpushed"})
    await _github(
        live, integration, "issues", _fixture("github/webhooks/issues/edited.payload.json"), "x-1"
    )
    history = (await live.api.get(f"/api/v1/items/{item_id}/history", headers=it)).json()
    [conflict] = [e for e in history["items"] if e["type"] == "sync.conflict"]
    assert conflict["data"]["ours"]["title"] == "Ours, unpushed"
    assert conflict["data"]["theirs"]["title"] == "Spelling error in the README file"
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert item["title"] == "Spelling error in the README file"  # the newer, remote edit wins
