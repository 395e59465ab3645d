"""Integrations: IT's to manage, credentials sealed and never shown, base URLs SSRF-checked."""

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.events import Event
from app.core.http import AsyncClient
from app.sync import ssrf
from app.sync.models import Integration
from app.users.models import Role
from tests.builders import make_user
from tests.core.test_errors import assert_problem

TOKEN = "ghp_very-secret-token-1234567890"
HOOK_SECRET = "It's a Secret to Everybody"
GITHUB: dict[str, Any] = {
    "kind": "github",
    "name": "Webshop repo",
    "repository": "acme/webshop",
    "auth": {"token": TOKEN},
    "webhook_secret": HOOK_SECRET,
}


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DNS here: every name resolves to a public address, except the ones tests name."""
    names = {"intranet.example": ["10.1.2.3"], "sneaky.example": ["93.184.216.34", "127.0.0.1"]}
    monkeypatch.setattr(ssrf, "resolve", lambda host: names.get(host, ["140.82.112.6"]))


async def test_it_connects_a_repository_and_secrets_never_come_back(
    api: AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    _, it = await make_user(session, role=Role.IT)
    _, admin = await make_user(session, role=Role.ADMIN)
    with caplog.at_level(logging.DEBUG):
        created = await api.post("/api/v1/integrations", json=GITHUB, headers=it)
        assert created.status_code == 201, created.text
        body = created.json()
        got = await api.get(f"/api/v1/integrations/{body['id']}", headers=it)
        listed = await api.get("/api/v1/integrations", headers=it)
        feed = await api.get("/api/v1/events?limit=200", headers=admin)
    assert body["base_url"] == "https://api.github.com"
    assert (body["has_auth"], body["has_webhook_secret"]) == (True, True)
    assert body["status_map"]["to_remote"]["in_progress"] == "label:status: in progress"
    assert body["status_map"]["from_remote"]["closed:not_planned"] == "cancelled"
    for text in (created.text, got.text, listed.text, feed.text, caplog.text):
        assert TOKEN not in text
        assert HOOK_SECRET not in text
    stored = await session.scalar(select(Integration).where(Integration.id == body["id"]))
    assert stored is not None
    assert stored.auth_sealed
    assert TOKEN not in stored.auth_sealed
    events = await session.scalars(select(Event.data).where(Event.entity == "integration"))
    assert TOKEN not in json.dumps(list(events))


async def test_only_it_manages_integrations_and_security_reads_them(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, marketing = await make_user(session, role=Role.MARKETING)
    _, security = await make_user(session, role=Role.SECURITY)
    for headers in (marketing, security):
        resp = await api.post("/api/v1/integrations", json=GITHUB, headers=headers)
        assert_problem(resp, 403, "forbidden")
    assert_problem(await api.get("/api/v1/integrations", headers=marketing), 403, "forbidden")
    assert (await api.get("/api/v1/integrations", headers=security)).status_code == 200


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.github.example",
        "https://127.0.0.2",
        "https://10.0.0.5",
        "https://172.16.1.1",
        "https://192.168.0.10",
        "https://169.254.169.254",
        "https://[::1]",
        "https://[fd00::1]",
        "https://[::ffff:10.0.0.1]",
        "https://2130706433",
        "https://0x7f000001",
        "https://017700000001",
        "https://intranet.example",
        "https://sneaky.example",
        "https://user:pass@jira.example",
        "gopher://jira.example",
    ],
)
async def test_unsafe_base_urls_are_refused(
    api: AsyncClient, session: AsyncSession, base_url: str
) -> None:
    _, it = await make_user(session, role=Role.IT)
    body = {"kind": "jira", "name": "Jira", "project_key": "MKT", "base_url": base_url}
    resp = await api.post("/api/v1/integrations", json=body, headers=it)
    assert_problem(resp, 422, "validation-error")


async def test_allow_listed_hosts_may_be_local_and_plain_http(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    body = {
        "kind": "jira",
        "name": "Jira on the LAN",
        "project_key": "MKT",
        "base_url": "http://LOCALHOST:8080/",
    }
    resp = await api.post("/api/v1/integrations", json=body, headers=it)
    assert resp.status_code == 201, resp.text
    assert resp.json()["base_url"] == "http://LOCALHOST:8080"
    # Allow-listing matches the host as written: an address spelling of it is not the host.
    other = await api.post(
        "/api/v1/integrations", json=body | {"base_url": "http://127.1:8080"}, headers=it
    )
    assert_problem(other, 422, "validation-error")


async def test_patch_disables_and_rotates_credentials(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    created = (await api.post("/api/v1/integrations", json=GITHUB, headers=it)).json()
    url = f"/api/v1/integrations/{created['id']}"
    resp = await api.patch(
        url,
        json={
            "enabled": False,
            "auth": {"token": "new-token"},
            "status_map": {"from_remote": {"open": "ready"}},
        },
        headers=it,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["enabled"] is False
    assert resp.json()["status_map"]["from_remote"]["open"] == "ready"
    assert resp.json()["status_map"]["from_remote"]["closed"] == "done"  # defaults kept
    bad = await api.patch(url, json={"status_map": {"to_remote": {"sleeping": "x"}}}, headers=it)
    assert_problem(bad, 422, "validation-error")
    assert_problem(
        await api.patch(url, json={"has_auth": False}, headers=it), 403, "field-forbidden"
    )
