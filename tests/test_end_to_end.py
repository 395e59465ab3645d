"""The real thing: `backlog-bridge serve` on a free port, a user made by the CLI, real HTTP."""

import asyncio
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.core.db import make_engine
from app.core.events import Event
from app.core.http import AsyncClient, Request, Response
from app.core.outbox import SyncJob
from app.requests.models import MarketingRequest
from app.sync.models import ItemLink
from tests.databases import throwaway_database
from tests.fakes import FakeGitHub, FakeGitHubServer

CLI = [sys.executable, "-m", "app.cli"]


def _github(base_url: str) -> dict[str, object]:
    """A GitHub integration for acme/webshop at `base_url` (a fake on 127.0.0.1)."""
    return {
        "kind": "github",
        "name": "repo",
        "repository": "acme/webshop",
        "base_url": base_url,
        "auth": {"token": "ghp_e2e"},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_until_serving(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start listening within 30 s")


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> str:
        port = _free_port()
        server = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
        )
        servers.append(server)
        _wait_until_serving(port, server)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_serve_then_cli_user_then_api_call(
    backend: str, tmp_path: Path, serve: object
) -> None:
    async with throwaway_database(backend, tmp_path) as url:
        env = {**os.environ, "BB_DATABASE_URL": url}
        if backend == "postgresql":  # required there; SQLite generates one next to its file
            env["BB_SECRET_KEY"] = Fernet.generate_key().decode()
        if backend == "postgresql":
            _cli(env, "migrate")  # serve never migrates PostgreSQL itself
        base_url = serve(env)  # type: ignore[operator]
        output = _cli(env, "users", "create", "--name", "root", "--role", "admin")
        token = output.strip().splitlines()[-1]
        async with AsyncClient(base_url=base_url) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/readyz")).status_code == 200
            me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
            assert me.json()["role"] == "admin"
            unauthenticated = await client.get("/api/v1/me")
            assert unauthenticated.status_code == 401
            assert unauthenticated.headers["content-type"] == "application/problem+json"
            second = _cli(env, "tokens", "create", "--user", "root").strip().splitlines()[-1]
            me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"})
            assert me.json()["name"] == "root"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_linked_item_reaches_github_through_the_worker(
    backend: str, tmp_path: Path, serve: object
) -> None:
    """SQLite: `serve` runs the worker itself. PostgreSQL: `backlog-bridge worker --once`."""
    github = FakeGitHub()
    with FakeGitHubServer(github) as fake:
        async with throwaway_database(backend, tmp_path) as url:
            env = {
                **os.environ,
                "BB_DATABASE_URL": url,
                "BB_TRACKER_ALLOWED_HOSTS": "127.0.0.1",
                "BB_SECRET_KEY": Fernet.generate_key().decode(),
            }
            if backend == "postgresql":
                _cli(env, "migrate")
            base_url = serve(env)  # type: ignore[operator]
            token = _cli(env, "users", "create", "--name", "ops", "--role", "it").split()[-1]
            headers = {"Authorization": f"Bearer {token}"}
            async with AsyncClient(base_url=base_url, headers=headers) as client:
                integration = await client.post(
                    "/api/v1/integrations",
                    json=_github(fake.url),
                )
                assert integration.status_code == 201, integration.text
                item = (await client.post("/api/v1/items", json={"title": "Via HTTP"})).json()
                link = await client.post(
                    f"/api/v1/items/{item['id']}/links",
                    json={"integration_id": integration.json()["id"]},
                )
                assert link.status_code == 201, link.text
                if backend == "postgresql":
                    # the push, a first reconcile, and the echo of our own issue it pulled
                    assert "delivered 3 jobs" in _cli(env, "worker", "--once")
                state = None
                for _ in range(100):
                    links = (await client.get(f"/api/v1/items/{item['id']}/links")).json()
                    state = links[0]["sync_state"]
                    if state == "synced":
                        break
                    await asyncio.sleep(0.1)
                assert state == "synced", links
    assert [i["title"] for i in github.issues.values()] == ["Via HTTP"]
    assert github.violations == []
    assert github.requests[0].headers["authorization"] == "Bearer ghp_e2e"


async def test_kill_9_during_a_burst_loses_no_acknowledged_write(
    tmp_path: Path, serve: object
) -> None:
    """PostgreSQL: every 201 the clients saw is in the database after a kill -9, with its event;
    nothing half-written (a request without its `request.created` event) is left."""
    async with throwaway_database("postgresql", tmp_path) as url:
        env = {
            **os.environ,
            "BB_DATABASE_URL": url,
            "BB_SECRET_KEY": Fernet.generate_key().decode(),
        }
        _cli(env, "migrate")
        token = _cli(env, "users", "create", "--name", "m", "--role", "marketing").split()[-1]
        port = _free_port()
        server = subprocess.Popen(  # noqa: ASYNC220 (the server under test, started once)
            [*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
        )
        _wait_until_serving(port, server)
        acknowledged: list[int] = []

        async def writer(client: AsyncClient, n: int) -> None:
            for i in range(1000):
                try:
                    resp = await client.post("/api/v1/requests", json={"title": f"w{n}-{i}"})
                except Exception:
                    return  # the server is gone
                if resp.status_code == 201:
                    acknowledged.append(resp.json()["id"])

        headers = {"Authorization": f"Bearer {token}"}
        async with AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5
        ) as client:
            burst = asyncio.gather(*(writer(client, n) for n in range(8)))
            for _ in range(300):  # mid-burst: once some writes are acknowledged (a busy
                if len(acknowledged) >= 20:  # machine takes longer to get there)
                    break
                await asyncio.sleep(0.1)
            server.kill()  # SIGKILL: no shutdown, no flush
            server.wait(timeout=10)
            await burst
        assert len(acknowledged) > 10
        engine = make_engine(url)
        async with engine.connect() as connection:
            stored = set(await connection.scalars(select(MarketingRequest.id)))
            with_event = set(
                await connection.scalars(
                    select(Event.entity_id).where(Event.type == "request.created")
                )
            )
        await engine.dispose()
        assert set(acknowledged) <= stored  # nothing acknowledged was lost
        assert stored == with_event  # no request without its event, no event without a request


async def _linked_over_http(
    env: dict[str, str], serve: object, fake_url: str, count: int
) -> list[int]:
    """Through a real `serve`: a GitHub integration and `count` items linked to it."""
    base_url = serve(env)  # type: ignore[operator]
    token = _cli(env, "users", "create", "--name", "ops", "--role", "it").split()[-1]
    async with AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        integration = await client.post(
            "/api/v1/integrations",
            json=_github(fake_url),
        )
        ids = []
        for n in range(count):
            item = (await client.post("/api/v1/items", json={"title": f"Story {n}"})).json()
            link = await client.post(
                f"/api/v1/items/{item['id']}/links",
                json={"integration_id": integration.json()["id"]},
            )
            assert link.status_code == 201, link.text
            ids.append(item["id"])
        return ids


def _worker_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BB_DATABASE_URL": url,
        "BB_TRACKER_ALLOWED_HOSTS": "127.0.0.1",
        "BB_SECRET_KEY": Fernet.generate_key().decode(),
        "BB_TRACKER_TIMEOUT_S": "2",  # a lease is three times that: 6 s
        "BB_RECONCILE_INTERVAL_S": "0",
    }


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


async def _jobs(url: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(SyncJob.state, SyncJob.attempts).order_by(SyncJob.id)
        )
        jobs = [(str(state), attempts) for state, attempts in rows]
    await engine.dispose()
    return jobs


async def test_a_worker_killed_mid_create_is_finished_by_another_without_a_duplicate(
    tmp_path: Path, serve: object
) -> None:
    """PostgreSQL, real processes: `worker` is killed (-9) the moment GitHub has created the
    issue and before the answer reaches it. Once the lease has run out another worker takes
    the job over, finds the issue by its marker and adopts it. (That a live lease is left
    alone is shown in tests/sync/test_worker.py.)"""
    github = FakeGitHub()
    answered_late = threading.Event()

    def create_then_hang(request: Request) -> Response | None:
        if request.method == "POST" and not github.issues:
            response = github.answer(request)  # made on GitHub's side ...
            answered_late.wait(timeout=5)  # ... the answer is on its way when the worker dies
            return response
        return None

    github.faults.append(create_then_hang)
    with FakeGitHubServer(github) as fake:
        async with throwaway_database("postgresql", tmp_path) as url:
            env = _worker_env(url)
            _cli(env, "migrate")
            [item_id] = await _linked_over_http(env, serve, fake.url, 1)
            worker = subprocess.Popen(  # noqa: ASYNC220 (the process under test)
                [*CLI, "worker"], env=env, stderr=subprocess.DEVNULL
            )
            try:
                _wait_for(lambda: bool(github.issues))
            finally:
                worker.kill()  # SIGKILL: no handing back, no result recorded
                worker.wait(timeout=10)
                answered_late.set()
            assert await _jobs(url) == [("running", 1)]  # claimed by the dead worker
            time.sleep(6.5)  # noqa: ASYNC251 (its lease, 3 x 2 s, runs out)
            assert "delivered 1 jobs" in _cli(env, "worker", "--once")
            assert await _jobs(url) == [("done", 2)]
            engine = make_engine(url)
            async with engine.connect() as connection:
                link = (await connection.execute(select(ItemLink))).one()
            await engine.dispose()
    assert (link.item_id, link.remote_key, link.sync_state) == (item_id, "1", "synced")
    assert len(github.issues) == 1  # nothing doubled
    assert [r.method for r in github.requests] == ["POST", "GET", "PATCH"]  # create, find, adopt
    assert github.violations == []


async def test_sigterm_stops_a_worker_and_hands_back_the_jobs_it_had_not_started(
    tmp_path: Path, serve: object
) -> None:
    github = FakeGitHub()
    release = threading.Event()

    def hang_on_the_first_create(request: Request) -> Response | None:
        if request.method == "POST" and not github.issues:
            release.wait(timeout=10)
        return None

    github.faults.append(hang_on_the_first_create)
    with FakeGitHubServer(github) as fake:
        async with throwaway_database("postgresql", tmp_path) as url:
            env = _worker_env(url) | {"BB_TRACKER_TIMEOUT_S": "20"}
            _cli(env, "migrate")
            await _linked_over_http(env, serve, fake.url, 3)
            worker = subprocess.Popen(  # noqa: ASYNC220 (the process under test)
                [*CLI, "worker"], env=env, stderr=subprocess.DEVNULL
            )
            _wait_for(lambda: bool(github.requests))  # the first create is in flight
            worker.terminate()
            try:
                assert worker.wait(timeout=10) == 0  # stops at once, cleanly
            finally:
                release.set()
            # the interrupted create waits out its lease (its outcome is unknown); the two
            # claimed jobs it never started are pending again, their attempt not counted
            assert await _jobs(url) == [("running", 1), ("pending", 0), ("pending", 0)]


class _SlowTracker(http.server.BaseHTTPRequestHandler):
    """Answers every GET after a pause: a request of ours that is still in flight."""

    arrived = threading.Event()

    def do_GET(self) -> None:
        self.arrived.set()
        time.sleep(1.5)
        body = b'{"full_name": "acme/webshop"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_sigterm_lets_serve_finish_the_requests_in_flight(tmp_path: Path) -> None:
    tracker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowTracker)
    threading.Thread(target=tracker.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "BB_DATABASE_URL": f"sqlite:///{tmp_path / 'bb.db'}",
        "BB_TRACKER_ALLOWED_HOSTS": "127.0.0.1",
    }
    token = _cli(env, "users", "create", "--name", "ops", "--role", "it").split()[-1]
    port = _free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 (the server under test, started once)
        [*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until_serving(port, server)
        async with AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            created = await client.post(
                "/api/v1/integrations",
                json=_github(f"http://127.0.0.1:{tracker.server_port}"),
            )
            check = asyncio.create_task(
                client.post(f"/api/v1/integrations/{created.json()['id']}/test")
            )
            assert await asyncio.to_thread(_SlowTracker.arrived.wait, 10)
            server.terminate()  # SIGTERM while the check waits for the tracker
            answer = await check
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is True
        # uvicorn shuts down cleanly, then re-raises the signal it handled
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        server.kill()
        tracker.shutdown()
