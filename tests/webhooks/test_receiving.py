"""Signed deliveries from GitHub and Jira (real payloads in tests/fixtures): verified,
stored once, answered fast; everything else refused with nothing stored."""

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message

from app.core.db import utcnow
from app.core.http import AsyncClient
from app.sync import ssrf
from app.users.models import Role
from app.webhooks import service
from app.webhooks.models import Delivery
from app.webhooks.signatures import sign
from tests.builders import make_user
from tests.core.test_errors import assert_problem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # real payloads
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


def _stored_fields(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.integration_id,
        delivery.event,
        delivery.body,
        delivery.outcome,
        delivery.note,
        delivery.attempts,
        delivery.processed_at,
    )


async def test_a_delivery_is_stored_as_the_orm_path_stores_it(
    api: AsyncClient, session: AsyncSession
) -> None:
    """On PostgreSQL the API stores through the fast lane; its rows must be the ORM path's."""
    _, it = await make_user(session, role=Role.IT)
    integration = await _integration(api, it, "github")
    url = f"/api/v1/webhooks/github/{integration}"
    first = await api.post(url, content=OPENED, headers=_github_headers(OPENED, delivery="d-1"))
    again = await api.post(url, content=OPENED, headers=_github_headers(OPENED, delivery="d-1"))
    receiver = service.Receiver(integration, None)
    for _ in range(2):  # the ORM path, as on SQLite
        await service.store(
            session, receiver=receiver, delivery_id="d-2", event="issues", body=OPENED
        )
    rows = list(await session.scalars(select(Delivery).order_by(Delivery.id)))
    assert [d.delivery_id for d in rows] == ["d-1", "d-1", "d-2", "d-2"]
    assert [_stored_fields(d) for d in rows[:2]] == [_stored_fields(d) for d in rows[2:]]
    assert rows[0].body == OPENED.decode()
    assert rows[0].outcome == "pending"
    assert all(abs(utcnow() - d.received_at) < timedelta(minutes=1) for d in rows)
    assert (first.status_code, first.json()) == (
        202,
        {"delivery": rows[0].id, "outcome": "pending"},
    )
    assert (again.status_code, again.json()) == (
        200,
        {"delivery": rows[1].id, "outcome": "duplicate"},
    )


async def test_only_an_enabled_integration_of_the_kind_with_a_secret_accepts(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    no_secret = await _integration(api, it, "github", webhook_secret=None, name="quiet")
    disabled = await _integration(api, it, "github", enabled=False, name="off")
    jira = await _integration(api, it, "jira")
    for integration, status, slug in (
        (no_secret, 401, "unauthorized"),
        (disabled, 404, "not-found"),
        (jira, 404, "not-found"),
        (2**31 - 1, 404, "not-found"),
    ):
        resp = await api.post(
            f"/api/v1/webhooks/github/{integration}",
            content=OPENED,
            headers=_github_headers(OPENED),
        )
        assert_problem(resp, status, slug)
    assert await _stored(session) == 0


async def test_a_client_gone_before_its_body_ends_is_no_error(
    app: FastAPI, api: AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    _, it = await make_user(session, role=Role.IT)
    path = f"/api/v1/webhooks/github/{await _integration(api, it, 'github')}"
    headers = [(k.lower().encode(), v.encode()) for k, v in _github_headers(OPENED).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    arriving: list[Message] = [
        {"type": "http.request", "body": OPENED[:100], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return arriving.pop(0)

    async def send(message: Message) -> None:
        pass

    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)  # before: raised ClientDisconnect, logged at ERROR
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    access = [r for r in caplog.records if r.name == "app.access" and r.__dict__["path"] == path]
    assert [r.__dict__["status"] for r in access] == [499]
    assert await _stored(session) == 0


async def test_bodies_json_takes_are_still_taken(api: AsyncClient, session: AsyncSession) -> None:
    """JSON parsing went to orjson, which is stricter than json: what json took still goes."""
    _, it = await make_user(session, role=Role.IT)
    url = f"/api/v1/webhooks/github/{await _integration(api, it, 'github')}"
    for n, body in enumerate((b'{"x": NaN}', b'{"x": "\\ud800"}')):
        headers = _github_headers(body, delivery=f"lax-{n}")
        assert (await api.post(url, content=body, headers=headers)).status_code == 202


async def test_json_in_another_encoding_than_utf8_is_400_and_stores_nothing(
    api: AsyncClient, session: AsyncSession
) -> None:
    """Before: json took UTF-16 and UTF-32, and PostgreSQL refused the NULs of the stored text
    (a 500); SQLite stored it garbled."""
    _, it = await make_user(session, role=Role.IT)
    url = f"/api/v1/webhooks/github/{await _integration(api, it, 'github')}"
    for n, encoding in enumerate(("utf-16", "utf-32", "utf-16-le")):
        body = '{"action": "edited"}'.encode(encoding)
        resp = await api.post(url, content=body, headers=_github_headers(body, delivery=f"e-{n}"))
        assert_problem(resp, 400, "not-json")
    body = "\ufeff{}".encode()  # UTF-8 with a byte order mark: RFC 8259 lets a parser take it
    resp = await api.post(url, content=body, headers=_github_headers(body, delivery="bom"))
    assert resp.status_code == 202
    assert await _stored(session) == 1
