"""Signed deliveries from GitHub and Jira (real payloads from ../shared/fixtures): verified,
stored once, answered fast; everything else refused with nothing stored."""

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.sync import ssrf
from app.users.models import Role
from app.webhooks.models import Delivery
from app.webhooks.signatures import sign
from tests.builders import make_user
from tests.core.test_errors import assert_problem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of ../shared/fixtures
SECRET = "It's a Secret to Everybody"
OPENED = (FIXTURES / "github/webhooks/issues/opened.payload.json").read_bytes()
PING = (FIXTURES / "github/webhooks/ping/payload.json").read_bytes()
JIRA_UPDATED = (FIXTURES / "jira/webhooks/webhook-issue-updated-started-working.json").read_bytes()


def test_githubs_own_test_vector() -> None:
    assert sign(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])


async def _integration(api: AsyncClient, it: dict[str, str], kind: str, **extra: object) -> int:
    body = (
        {"kind": kind, "name": kind, "webhook_secret": SECRET}
        | (
            {"repository": "acme/webshop"}
            if kind == "github"
            else {"project_key": "MKT", "base_url": "https://acme.atlassian.net"}
        )
        | extra
    )
    resp = await api.post("/api/v1/integrations", json=body, headers=it)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _stored(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(Delivery))) or 0


def _github_headers(body: bytes, *, event: str = "issues", delivery: str = "d-1") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(SECRET, body),
        "Content-Type": "application/json",
    }


async def test_github_delivery_is_stored_once(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration = await _integration(api, it, "github")
    url = f"/api/v1/webhooks/github/{integration}"
    first = await api.post(url, content=OPENED, headers=_github_headers(OPENED))
    assert first.status_code == 202, first.text
    again = await api.post(url, content=OPENED, headers=_github_headers(OPENED))
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    listed = (await api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)).json()
    assert [(d["delivery_id"], d["event"], d["outcome"]) for d in listed["items"]] == [
        ("d-1", "issues", "pending"),
        ("d-1", "issues", "duplicate"),
    ]
    ping = await api.post(
        url, content=PING, headers=_github_headers(PING, event="ping", delivery="p-1")
    )
    assert ping.status_code == 200
    assert await _stored(session) == 2


async def test_refusals_store_nothing(api: AsyncClient, session: AsyncSession) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration = await _integration(api, it, "github")
    no_secret = await _integration(api, it, "github", webhook_secret=None, name="quiet")
    disabled = await _integration(api, it, "github", enabled=False, name="off")
    url = f"/api/v1/webhooks/github/{integration}"
    bad = _github_headers(OPENED) | {"X-Hub-Signature-256": sign("wrong", OPENED)}
    missing = {k: v for k, v in _github_headers(OPENED).items() if k != "X-Hub-Signature-256"}
    assert_problem(await api.post(url, content=OPENED, headers=bad), 401, "unauthorized")
    assert_problem(await api.post(url, content=OPENED, headers=missing), 401, "unauthorized")
    tampered = OPENED.replace(b"opened", b"closed", 1)
    assert_problem(
        await api.post(url, content=tampered, headers=_github_headers(OPENED)), 401, "unauthorized"
    )
    for other in (no_secret, disabled, 999999):
        resp = await api.post(
            f"/api/v1/webhooks/github/{other}", content=OPENED, headers=_github_headers(OPENED)
        )
        assert resp.status_code in (401, 404), resp.text
    not_json = b"event=push"
    assert_problem(
        await api.post(url, content=not_json, headers=_github_headers(not_json)), 400, "not-json"
    )
    jira_url = f"/api/v1/webhooks/jira/{integration}"  # a GitHub integration takes no Jira
    assert_problem(
        await api.post(jira_url, content=OPENED, headers=_github_headers(OPENED)), 404, "not-found"
    )
    assert await _stored(session) == 0


async def test_jira_delivery_uses_its_identifier_or_a_body_hash(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    integration = await _integration(api, it, "jira")
    url = f"/api/v1/webhooks/jira/{integration}"
    headers = {"X-Hub-Signature": sign(SECRET, JIRA_UPDATED), "Content-Type": "application/json"}
    first = await api.post(
        url, content=JIRA_UPDATED, headers=headers | {"X-Atlassian-Webhook-Identifier": "j-1"}
    )
    assert first.status_code == 202
    hashed = await api.post(url, content=JIRA_UPDATED, headers=headers)
    again = await api.post(url, content=JIRA_UPDATED, headers=headers)
    assert (hashed.status_code, again.status_code) == (202, 200)
    listed = (await api.get(f"/api/v1/integrations/{integration}/deliveries", headers=it)).json()
    assert listed["items"][0]["event"] == "jira:issue_updated"
    assert listed["items"][1]["delivery_id"].startswith("sha256:")
    replayed = await api.post(
        f"/api/v1/integrations/{integration}/deliveries/{first.json()['delivery']}/replay",
        headers=it,
    )
    assert replayed.json()["outcome"] == "pending"
