"""SSRF, completed: only public unicast addresses, judged at creation, at /test and on every
connection; IPv4 only in canonical dotted decimal."""

import ipaddress
import socket
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import HTTPError, tracker_client
from app.sync import ssrf
from app.sync.models import Integration
from app.users.models import Role
from tests.builders import make_user
from tests.core.test_errors import assert_problem

# Reported by the attack (accepted before), then the rest of the ranges the rules name.
NOT_PUBLIC_LITERALS = [
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254 (cloud metadata)
    "https://[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "https://[64:ff9b:1::a00:1]",  # NAT64, local-use prefix
    "https://[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "https://[::127.0.0.1]",  # IPv4-compatible
    "https://[::ffff:8.8.8.8]",  # IPv4-mapped, even of a public address
    "https://[fec0::1]",  # site-local
    "https://[fd00::1]",  # unique local
    "https://[::1]",
    "https://[fe80::1]",
    "https://[ff02::1]",
    "https://127.0.0.1",
    "https://169.254.169.254",
    "https://100.64.0.1",  # shared address space
    "https://224.0.0.1",
    "https://240.0.0.1",
    "https://0.0.0.0",
]
NON_CANONICAL_IPV4 = [
    "https://0127.0.0.1",  # octal to inet_aton (87.0.0.1), an error to httpx
    "https://2130706433",
    "https://0x7f.1",
    "https://0x7f000001",
    "https://127.1",
    "https://010.0.0.1",
    "https://8.8.8.010",  # even when every reading of it is public
]


@pytest.fixture(autouse=True)
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])


def _jira(base_url: str) -> dict[str, Any]:
    return {"kind": "jira", "name": "Jira", "project_key": "MKT", "base_url": base_url}


@pytest.mark.parametrize("base_url", NOT_PUBLIC_LITERALS + NON_CANONICAL_IPV4)
def test_the_validator_refuses_every_non_public_or_ambiguous_host(base_url: str) -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check_base_url(base_url, allowed_hosts=[])


@pytest.mark.parametrize(
    "base_url", ["https://8.8.8.8", "https://[2606:4700:4700::1111]", "https://cafe.example"]
)
def test_public_hosts_stay_accepted(base_url: str) -> None:
    assert ssrf.check_base_url(base_url, allowed_hosts=[]) == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "https://[64:ff9b::a9fe:a9fe]",
        "https://[64:ff9b::7f00:1]",
        "https://[2002:7f00:1::1]",
        "https://[::127.0.0.1]",
        "https://[fec0::1]",
        "https://0127.0.0.1",
    ],
)
async def test_the_reported_base_urls_are_refused_at_creation(
    api: Any, session: AsyncSession, base_url: str
) -> None:
    _, it = await make_user(session, role=Role.IT)
    resp = await api.post("/api/v1/integrations", json=_jira(base_url), headers=it)
    body = assert_problem(resp, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "base_url"]


async def test_a_name_resolving_to_nat64_is_refused_at_creation(
    api: Any, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["64:ff9b::a9fe:a9fe"])
    _, it = await make_user(session, role=Role.IT)
    resp = await api.post("/api/v1/integrations", json=_jira("https://jira.example"), headers=it)
    assert_problem(resp, 422, "validation-error")


@pytest.mark.parametrize(
    "address", [ipaddress.ip_address(url[9:-1]) for url in NOT_PUBLIC_LITERALS if "[" in url]
)
def test_every_connection_judges_its_peer_by_the_same_rule(address: object) -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.peer_check([])("tracker.example", str(address))


def test_a_connection_to_a_non_canonical_ipv4_host_is_refused() -> None:
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.peer_check([])("2130706433", "8.8.8.8")


async def test_the_client_does_not_connect_when_a_name_turns_into_nat64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding to a NAT64 address of the metadata service: refused at connect."""

    def rebound(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a9fe:a9fe", 443, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    async with tracker_client(check_peer=ssrf.peer_check([])) as client:
        with pytest.raises(HTTPError, match="not public"):
            await client.get("https://tracker.example/rest/api/3/myself")


async def test_test_refuses_a_stored_base_url_that_is_no_longer_safe(
    api: Any, session: AsyncSession
) -> None:
    """An integration saved before the rules tightened is judged again at /test."""
    _, it = await make_user(session, role=Role.IT)
    created = await api.post("/api/v1/integrations", json=_jira("https://jira.example"), headers=it)
    assert created.status_code == 201, created.text
    integration_id = created.json()["id"]
    await session.execute(
        update(Integration)
        .where(Integration.id == integration_id)
        .values(base_url="https://0127.0.0.1")
    )
    resp = await api.post(f"/api/v1/integrations/{integration_id}/test", headers=it)
    body = assert_problem(resp, 422, "validation-error")
    assert "canonical" in body["detail"]
