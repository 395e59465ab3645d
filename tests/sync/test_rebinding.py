"""The tracker client judges every connection's resolved peer again (DNS rebinding)."""

import pytest

from app.core.http import HTTPError, tracker_client
from app.sync.ssrf import peer_check
from tests.fakes import FakeGitHub, FakeGitHubServer


async def test_a_name_that_resolves_to_a_private_address_is_not_connected_to() -> None:
    with FakeGitHubServer(FakeGitHub()) as fake:
        url = f"http://localhost:{fake.port}/repos/acme/webshop/issues/1"
        async with tracker_client(check_peer=peer_check([])) as client:
            with pytest.raises(HTTPError, match="not public"):
                await client.get(url)
        async with tracker_client(check_peer=peer_check(["localhost"])) as client:
            allowed = await client.get(url, headers={"Accept": "application/vnd.github+json"})
        assert allowed.status_code == 404  # reached the fake: no such issue yet
