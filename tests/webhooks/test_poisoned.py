"""One poisoned delivery never stops the others: too-deep JSON is refused at intake, control
characters from a tracker are removed before storing, and whatever still goes wrong with one
delivery (JSON too deep to read, a database error) fails that one, with its reason, while the
next delivery and the due pushes go through in the same worker round. Payloads are the real
GitHub and Atlassian ones from tests/fixtures, altered."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.core.outbox import JobState, SyncJob
from app.sync.tracker import MAX_JSON_DEPTH, JsonTooDeep, decode_json
from app.sync.worker import Worker, WorkerSettings
from app.users.models import Role
from app.webhooks.models import Delivery
from app.webhooks.parsing import adf_text
from app.webhooks.processing import process_pending
from app.webhooks.signatures import sign
from tests.builders import make_user
from tests.core.test_errors import assert_problem
from tests.fakes import FakeGitHub
from tests.live import LiveApp, live_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "It's a Secret to Everybody"
TRACKER = "http://127.0.0.1:9"


def _fixture(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return loaded


def _with_raw(payload: dict[str, Any], raw: str) -> bytes:
    """`payload` as JSON with `raw` (JSON text, too deep for json.dumps) where `__RAW__` was."""
    return json.dumps(payload).replace('"__RAW__"', raw).encode()


def _deep_adf(levels: int) -> str:
    """An ADF document nested `levels` lists deep (two JSON levels each), as JSON text."""
    return (
        '{"type":"doc","version":1,"content":['
        + '{"type":"bulletList","content":[' * levels
        + '{"type":"text","text":"deep"}'
        + "]}" * levels
        + "]}"
    )


def _jira_updated(description: str) -> bytes:
    payload = _fixture("jira/webhooks/webhook-issue-updated-started-working.json")
    payload["issue"]["fields"]["description"] = "__RAW__"
    return _with_raw(payload, description)


def _github_edited(**issue: Any) -> dict[str, Any]:
    payload = _fixture("github/webhooks/issues/edited.payload.json")
    payload["issue"] |= issue
    return payload


def _nested_list(depth: int) -> str:
    return "[" * depth + "]" * depth


async def _integration(api: AsyncClient, it: dict[str, str], kind: str) -> int:
    target = (
        {"repository": "Codertocat/Hello-World"} if kind == "github" else {"project_key": "TES"}
    )
    resp = await api.post(
        "/api/v1/integrations",
        headers=it,
        json={
            "kind": kind,
            "name": kind,
            "base_url": TRACKER,
            "auth": {"token": "t"},
            "webhook_secret": SECRET,
        }
        | target,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _send(
    api: AsyncClient, kind: str, integration: int, body: bytes, *, event: str = "issues", n: int
) -> Any:
    if kind == "github":
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": f"delivery-{n}",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
    else:
        headers = {"X-Hub-Signature": sign(SECRET, body)}
    return await api.post(f"/api/v1/webhooks/{kind}/{integration}", content=body, headers=headers)


async def test_json_deeper_than_the_limit_is_refused_at_intake(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    github, jira = await _integration(api, it, "github"), await _integration(api, it, "jira")
    too_deep = [
        ("jira", jira, _jira_updated(_deep_adf(500))),  # orjson reads it; json.loads did not
        ("github", github, _with_raw(_github_edited(title="__RAW__"), _nested_list(100_000))),
        ("github", github, _with_raw(_github_edited(title="__RAW__"), _nested_list(300))),
    ]
    for n, (kind, integration, body) in enumerate(too_deep):
        resp = await _send(api, kind, integration, body, n=n)
        problem = assert_problem(resp, 400, "not-json")
        assert "deep" in problem["detail"]
    assert list(await session.scalars(select(Delivery))) == []
    shallow = _with_raw(_github_edited(title="__RAW__"), _nested_list(200))
    assert (await _send(api, "github", github, shallow, n=9)).status_code == 202
    assert (await _send(api, "jira", jira, _jira_updated(_deep_adf(100)), n=10)).status_code == 202


def test_adf_is_read_without_recursion_at_any_depth() -> None:
    node: dict[str, Any] = {"type": "text", "text": "deep"}
    for _ in range(100_000):
        node = {"type": "bulletList", "content": [{"type": "listItem", "content": [node]}]}
    document = {"type": "doc", "content": [{"type": "paragraph", "content": [node]}]}
    assert adf_text(document) == "deep"


@pytest.fixture
async def live(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app(database_url, tmp_path) as app:
        yield app


async def _link(live: LiveApp, it: dict[str, str], integration: int, key: str | None) -> int:
    created = await live.api.post("/api/v1/items", headers=it, json={"title": f"Ours {key}"})
    item_id = int(created.json()["id"])
    body = {"integration_id": integration} | ({"remote_key": key} if key else {})
    linked = await live.api.post(f"/api/v1/items/{item_id}/links", headers=it, json=body)
    assert linked.status_code == 201, linked.text
    return item_id


async def test_a_poisoned_delivery_never_stops_the_next_one_or_the_due_pushes(
    live: LiveApp,
) -> None:
    it = await live.user(Role.IT)
    github_id = await _integration(live.api, it, "github")
    jira_id = await _integration(live.api, it, "jira")
    github = FakeGitHub()
    for title in ("one", "two"):
        github.create({"title": title, "body": ""})
    first, second, third = [await _link(live, it, github_id, key) for key in ("1", "2", None)]
    # A title holding NUL (PostgreSQL refuses it in text) and another control character.
    nul = _github_edited(title="Spelling\u0000 error\u0007 fixed")
    await _send(live.api, "github", github_id, json.dumps(nul).encode(), n=1)
    async with live.sessions() as session:  # stored before intake had a depth limit
        session.add(
            Delivery(
                integration_id=jira_id,
                delivery_id="deep-adf",
                event="jira:issue_updated",
                body=_jira_updated(_deep_adf(500)).decode(),
            )
        )
        await session.commit()
    # A comment whose id does not fit its column: a database error (PostgreSQL checks lengths).
    comment = _fixture("github/webhooks/issue_comment/created.payload.json")
    comment["comment"]["id"] = "9" * 150
    await _send(
        live.api, "github", github_id, json.dumps(comment).encode(), event="issue_comment", n=2
    )
    following = _github_edited(number=2, title="The next one")
    await _send(live.api, "github", github_id, json.dumps(following).encode(), n=3)

    async with AsyncClient(transport=github.transport()) as client:
        worker = Worker(live.sessions, live.app.state.secret_box, client, WorkerSettings())
        await worker.run_once()

    titles: dict[int, Any] = {}
    for item_id in (first, second, third):
        titles[item_id] = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert titles[first]["title"] == "Spelling error fixed"
    assert titles[second]["title"] == "The next one"
    outcomes: dict[str, tuple[str, str | None]] = {}
    for integration in (github_id, jira_id):
        listed = await live.api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)
        outcomes |= {d["delivery_id"]: (d["outcome"], d["note"]) for d in listed.json()["items"]}
    assert outcomes["delivery-1"] == ("applied", None)
    assert outcomes["deep-adf"][0] == "failed"
    assert "deep" in (outcomes["deep-adf"][1] or "")
    database_error = live.backend == "postgresql"
    assert outcomes["delivery-2"][0] == ("failed" if database_error else "applied")
    if database_error:
        assert "too long" in (outcomes["delivery-2"][1] or "")
    assert outcomes["delivery-3"] == ("applied", None)
    async with live.sessions() as session:
        jobs = list(await session.scalars(select(SyncJob).order_by(SyncJob.id)))
    assert [(j.item_id, j.state) for j in jobs] == [
        (first, JobState.DONE),
        (second, JobState.DONE),
        (third, JobState.DONE),
    ]
    assert [github.issues[n]["title"] for n in (1, 2, 3)] == [
        "Spelling error fixed",
        "The next one",
        f"Ours {None}",
    ]
    metrics = (await live.api.get("/metrics")).text
    failed = 2 if database_error else 1
    assert f'bb_webhook_deliveries{{outcome="failed"}} {failed}.0' in metrics


async def test_control_characters_from_a_tracker_are_removed_before_storing(
    live: LiveApp,
) -> None:
    it = await live.user(Role.IT)
    github_id = await _integration(live.api, it, "github")
    item_id = await _link(live, it, github_id, "1")
    edited = _github_edited(
        body="Line one\u0000\tTabbed\r\nLine\u001b two\u007f",
        labels=[{"name": "bu\u0000g"}],
    )
    await _send(live.api, "github", github_id, json.dumps(edited).encode(), n=1)
    comment = _fixture("github/webhooks/issue_comment/created.payload.json")
    comment["comment"]["body"] = "Fixed\u0000 in #2\u0008"
    comment["comment"]["user"]["login"] = "Coder\u0000tocat"
    await _send(
        live.api, "github", github_id, json.dumps(comment).encode(), event="issue_comment", n=2
    )
    await process_pending(live.sessions)
    item = (await live.api.get(f"/api/v1/items/{item_id}", headers=it)).json()
    assert item["description"] == "Line one\tTabbed\nLine two\u007f"
    assert item["labels"] == ["bug"]
    comments = (await live.api.get(f"/api/v1/items/{item_id}/comments", headers=it)).json()
    assert [(c["author_name"], c["body"]) for c in comments["items"]] == [
        ("Codertocat (GitHub)", "Fixed in #2")
    ]


@pytest.mark.parametrize("nan", [False, True], ids=["orjson", "stdlib json"])
def test_the_depth_limit_holds_on_both_decoders(nan: bool) -> None:
    """256 levels are read, 257 are not, whichever decoder reads the text (orjson refuses
    NaN, so a document holding one is read by the stdlib's json)."""
    value = "NaN" if nan else "1"
    at_limit = "[" * (MAX_JSON_DEPTH - 1) + f"[{value}]" + "]" * (MAX_JSON_DEPTH - 1)
    decode_json(at_limit.encode())
    with pytest.raises(JsonTooDeep):
        decode_json(("[" + at_limit + "]").encode())
    with pytest.raises(JsonTooDeep):  # far past the interpreter's own recursion limit
        decode_json(("[" * 100_000 + value + "]" * 100_000).encode())
    bom = "\ufeff".encode() + b'{"title": "x"}'
    assert decode_json(bom) == {"title": "x"}


async def test_a_pulled_issue_holding_nul_is_imported_clean(live: LiveApp) -> None:
    """An import stores each pulled issue under a delivery id made of its key: NUL in what the
    tracker sends must not make the page unstorable (PostgreSQL), or the pull never ends."""
    github = FakeGitHub()
    github.create({"title": "Remote\u0000 one", "body": "Text"})
    github.issues[1]["number"] = "1\u0000"  # as GitHub would never send it; a proxy might
    it = await live.user(Role.IT)
    integration = await _integration(live.api, it, "github")
    resp = await live.api.post(f"/api/v1/integrations/{integration}/import", headers=it)
    assert resp.status_code == 202, resp.text
    async with AsyncClient(transport=github.transport()) as client:
        worker = Worker(live.sessions, live.app.state.secret_box, client, WorkerSettings())
        await worker.run_once()  # the page is stored
        await worker.run_once()  # and its issue applied
    jobs = (await live.api.get(f"/api/v1/integrations/{integration}/jobs", headers=it)).json()
    assert [(j["kind"], j["state"]) for j in jobs["items"]] == [("import", "done")]
    items = (await live.api.get("/api/v1/items", headers=it)).json()["items"]
    assert [(i["title"], [lk["remote_key"] for lk in i["links"]]) for i in items] == [
        ("Remote one", ["1"])
    ]
