"""Schemathesis against the real thing: `backlog-bridge serve` on PostgreSQL over real HTTP.

The in-process fuzz (test_api_fuzz.py) cannot see what only a socket shows. Here every case is
sent on one keep-alive connection and must leave it open (no error answer may cost the client
its connection), and every case with a body is sent again with `Transfer-Encoding: chunked`
(no Content-Length), which must be answered as the same request with a length would be: no
5xx, problem+json for errors. `BB_FUZZ_LIVE_EXAMPLES` (default 8 per operation and role).
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from requests.adapters import HTTPAdapter
from schemathesis import Case, CheckContext, Response
from urllib3 import HTTPConnectionPool

from app.users.models import Role
from tests.core.test_api_fuzz import CHECKS, SPEC_PATH, UNAUTHENTICATED, _config
from tests.fuzzing import FuzzDatabase, fuzz_database

EXAMPLES = int(os.environ.get("BB_FUZZ_LIVE_EXAMPLES", "8"))
ROLES = (Role.MARKETING, Role.ADMIN)  # the narrowest and the widest; the rest in-process

schema = schemathesis.openapi.from_path(SPEC_PATH, config=_config(EXAMPLES)).exclude(
    path_regex=UNAUTHENTICATED
)


class CountingPool(HTTPConnectionPool):
    """urllib3's pool, counting the connections it opens (one, if none is ever closed)."""

    opened = 0

    def _new_conn(self) -> Any:
        CountingPool.opened += 1
        return super()._new_conn()


def _one_connection_session() -> requests.Session:
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1)
    adapter.poolmanager.pool_classes_by_scheme = {"http": CountingPool}
    session = requests.Session()
    session.mount("http://", adapter)
    return session


@dataclass
class LiveServer:
    base_url: str
    headers: dict[Role, dict[str, str]]
    session: requests.Session  # one pooled connection: every case shares it

    def connections_made(self) -> int:
        return CountingPool.opened


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def live_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FuzzDatabase]:
    async with fuzz_database("postgresql", tmp_path_factory.mktemp("live-fuzz")) as database:
        yield database


@pytest.fixture(scope="module")
def live_server(live_database: FuzzDatabase) -> Iterator[LiveServer]:
    port = _free_port()
    settings = live_database.settings
    env = {
        **os.environ,
        "BB_DATABASE_URL": live_database.url,
        "BB_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "BB_RATE_LIMIT": "0",
        "BB_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    session = requests.Session()
    try:
        deadline = time.monotonic() + 60
        base_url = f"http://127.0.0.1:{port}"
        while True:
            assert server.poll() is None, "the server exited early"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            try:
                if session.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        session.close()
        session = _one_connection_session()
        assert session.get(f"{base_url}/healthz").status_code == 200  # the one connection
        yield LiveServer(base_url, live_database.headers, session)
    finally:
        session.close()
        server.terminate()
        server.wait(timeout=10)


def _chunked_answer(case: Case[Any], server: LiveServer, role: Role) -> requests.Response:
    """The case sent again with its body streamed: chunked, without Content-Length."""
    kwargs = case.as_transport_kwargs(base_url=server.base_url, headers=server.headers[role])
    prepared = requests.Request(**kwargs).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body).encode()
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    return server.session.request(
        prepared.method or "POST",
        prepared.url or server.base_url,
        headers=headers,
        data=iter([body[: len(body) // 2], body[len(body) // 2 :]]),
        timeout=30,
    )


@pytest.mark.parametrize("role", ROLES, ids=str)
@schema.parametrize()
def test_fuzz_over_one_keep_alive_connection_and_chunked(
    case: Case[Any], live_server: LiveServer, role: Role
) -> None:
    before = live_server.connections_made()
    response = case.call(
        base_url=live_server.base_url,
        session=live_server.session,
        headers=live_server.headers[role],
        timeout=30,
    )
    case.validate_response(response, checks=[*CHECKS, _keeps_the_connection_open])
    if case.body is not schemathesis.core.NOT_SET and case.method.upper() != "GET":
        chunked = _chunked_answer(case, live_server, role)
        assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
        assert chunked.status_code < 500, (chunked.status_code, chunked.text)
        if chunked.status_code >= 400:
            assert chunked.headers["content-type"] == "application/problem+json", chunked.text
    # The next request goes over the same connection: nothing above closed it.
    assert live_server.session.get(f"{live_server.base_url}/healthz").status_code == 200
    assert live_server.connections_made() == before, "an answer closed the keep-alive connection"


def _keeps_the_connection_open(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    connection = [value.lower() for value in response.headers.get("connection", [])]
    assert "close" not in connection, f"{response.status_code} closed the connection"
