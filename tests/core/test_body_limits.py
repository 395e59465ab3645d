"""Bodies are bounded while they stream, and no error answer costs a keep-alive connection.

A body without `Content-Length` (chunked) is counted as it arrives: 413 the moment it passes
the limit (1 MB for the API, 25 MB for webhooks), with or without a token, and nothing past
the limit is read. A 500 answers on the keep-alive connection like any other response.
"""

import asyncio
import os
import select as io_select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.core.middleware import MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES
from app.sync import ssrf
from app.users.models import Role
from app.webhooks.models import Delivery
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem

CHUNK = 64 * 1024


class CountingBody:
    """A chunked request body of `total` bytes of one JSON string that counts what was taken."""

    def __init__(self, total: int) -> None:
        self.total, self.taken = total, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"title": "'
        while self.taken < self.total:
            self.taken += CHUNK
            yield b"x" * CHUNK
        yield b'"}'


@pytest.mark.parametrize("authenticated", [False, True])
async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    api: AsyncClient, login_as: LoginAs, authenticated: bool
) -> None:
    headers = await login_as(Role.IT) if authenticated else {}
    body = CountingBody(200 * MAX_BODY_BYTES)
    resp = await api.post(
        "/api/v1/items", content=body, headers=headers | {"content-type": "application/json"}
    )
    assert "content-length" not in resp.request.headers  # streamed: chunked, no length
    assert assert_problem(resp, 413, "payload-too-large")["title"] == "Payload too large"
    assert resp.headers["connection"] == "close"
    assert body.taken <= MAX_BODY_BYTES + CHUNK, "the body was read past the limit"


async def test_a_chunked_webhook_delivery_is_refused_past_25_megabytes(
    api: AsyncClient, login_as: LoginAs, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["140.82.112.6"])
    created = await api.post(
        "/api/v1/integrations",
        json={"kind": "github", "name": "web", "repository": "acme/web", "webhook_secret": "s"},
        headers=await login_as(Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    body = CountingBody(2 * MAX_WEBHOOK_BODY_BYTES)
    resp = await api.post(
        f"/api/v1/webhooks/github/{created.json()['id']}",
        content=body,
        headers={
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": "sha256=" + "0" * 64,
            "content-type": "application/json",
        },
    )
    assert_problem(resp, 413, "payload-too-large")
    assert await session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert body.taken <= MAX_WEBHOOK_BODY_BYTES + CHUNK


async def test_a_chunked_body_under_the_limit_is_served(
    api: AsyncClient, login_as: LoginAs
) -> None:
    async def small() -> AsyncIterator[bytes]:
        yield b'{"type": "story", '
        yield b'"title": "Streamed in two chunks"}'

    resp = await api.post(
        "/api/v1/items",
        content=small(),
        headers=await login_as(Role.IT) | {"content-type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["title"] == "Streamed in two chunks"


# A real server: memory stays bounded while a client streams far more than the limit.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`backlog-bridge serve` on SQLite: (port, pid)."""
    port = _free_port()
    env = {**os.environ, "BB_DATABASE_URL": f"sqlite:///{tmp_path / 'bb.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited early"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


def _stream_until_answered(port: int, path: str, most: int) -> tuple[bytes, int, bool]:
    """Send a chunked JSON string of up to `most` bytes without a token; stop when the server
    answers. Returns the answer, the bytes sent, and whether the server closed the connection
    (within 10 s of answering)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
        sock.settimeout(0.5)
        while sent < most and not io_select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(chunk)
                sent += CHUNK
            except TimeoutError:
                continue  # the server stopped reading; its answer should be on the way
            except OSError:
                break
        sock.settimeout(10)
        answer, closed = b"", False
        try:  # read to the server's close
            while chunk := sock.recv(65536):
                answer += chunk
            closed = True
        except ConnectionResetError:  # our unread chunks can make the close a reset
            closed = True
        except TimeoutError:  # still open: it would take (and throw away) all we send
            pass
        return answer, sent, closed


def test_a_streamed_gigabyte_keeps_the_servers_memory_bounded(
    live_server: tuple[int, int],
) -> None:
    port, pid = live_server
    before = _rss_kib(pid)
    answer, sent, closed = _stream_until_answered(port, "/api/v1/items", most=1024**3)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"payload-too-large" in answer
    assert closed
    # Socket buffers hold a few MB between us and the server; it stopped reading at 1 MB.
    assert sent < 32 * 1024 * 1024, f"{sent} bytes were taken before the 413"
    assert _rss_kib(pid) - before < 50 * 1024, "the server's memory grew with the body"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sprints/1/start",  # a route with no body: 401 without reading a byte
        "/api/v1/webhooks/github/999999",  # headers missing: 422 before the body
    ],
)
def test_a_stream_to_a_route_that_answers_early_is_not_read_past_the_limit(
    live_server: tuple[int, int], path: str
) -> None:
    """The route answered without the body; the server then takes the rest only up to the
    limit (so the connection can carry the next request) and closes past it, instead of
    reading and throwing away whatever the client keeps sending."""
    port, _ = live_server
    answer, sent, closed = _stream_until_answered(port, path, most=256 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert closed, "the server kept reading a body past its limit"
    assert sent < 64 * 1024 * 1024, f"{sent} bytes were taken"


# A 500 keeps the connection: the next request on it is answered.


async def _serve_in_loop(app: FastAPI) -> tuple[uvicorn.Server, "asyncio.Task[None]", int]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    return server, task, port


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def test_a_500_answers_on_the_keep_alive_connection_like_any_other(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    server, task, port = await _serve_in_loop(app)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        failed = await _exchange(reader, writer, "/boom")
        assert failed.startswith(b"HTTP/1.1 500 ")
        assert b"application/problem+json" in failed
        assert b"a bug" not in failed  # internals stay in the log
        again = await _exchange(reader, writer, "/healthz")  # the same connection
        assert again.startswith(b"HTTP/1.1 200 ")
        writer.close()
    finally:
        server.should_exit = True
        await task


async def test_a_small_body_a_route_did_not_read_keeps_the_connection(app: FastAPI) -> None:
    """An early answer (401 here) takes the rest of a small body, so the next request on the
    connection is read as a request, not as the leftover body."""
    server, task, port = await _serve_in_loop(app)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in (b'{"a": 1}', b"x" * 200_000):  # in one segment, and in many
            writer.write(
                b"POST /api/v1/sprints/1/start HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 401 "), head
            assert b"connection: close" not in head.lower()
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
        again = await _exchange(reader, writer, "/healthz")
        assert again.startswith(b"HTTP/1.1 200 ")
        writer.close()
    finally:
        server.should_exit = True
        await task
