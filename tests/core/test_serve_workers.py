"""`backlog-bridge serve --workers 2` for real, on 127.0.0.1.

Workers that take longer than uvicorn's 5 s to start are not killed in a loop, a worker that is
replaced is replaced with its reason in the log, and `/metrics` reports the sum over both
processes, whichever of them answers the scrape.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "app.cli"]
# Loaded first by every Python process of the test's server (PYTHONPATH): the worker processes
# uvicorn spawns sleep before they import anything, as on a host too busy to start them quickly.
SLOW_START = """
import os, sys, time
if "--multiprocessing-fork" in sys.argv:
    time.sleep(float(os.environ["BB_TEST_WORKER_DELAY_S"]))
"""
STARTED = "Application startup complete"
HEALTHZ_TOTAL = re.compile(
    r'^bb_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', re.M
)
METRICS_TOTAL = re.compile(
    r'^bb_http_requests_total\{method="GET",route="/metrics",status="200"\} (\S+)$', re.M
)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: str, condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited:\n{self.log_text()[-3000:]}"
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} not within {seconds} s:\n{self.log_text()[-3000:]}")

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def started_workers(self) -> int:
        return self.log_text().count(STARTED)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str, delay_s: float = 0) -> Server:
        hooks = tmp_path / "hooks"
        hooks.mkdir(exist_ok=True)
        (hooks / "sitecustomize.py").write_text(SLOW_START)
        (tmp_path / "tmp").mkdir(exist_ok=True)
        env = {
            **os.environ,
            "BB_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
            "BB_TEST_WORKER_DELAY_S": str(delay_s),
            "TMPDIR": str(tmp_path / "tmp"),  # where serve makes its metrics directory
        }
        port = _free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*CLI, "serve", "--port", str(port), "--workers", "2", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.terminate()
        server.process.wait(timeout=30)


def test_workers_slower_to_start_than_uvicorns_5_s_are_not_killed(
    serve: Callable[..., Server],
) -> None:
    server = serve(delay_s=7)
    server.wait_for("an answer", server.answers, seconds=90)
    server.wait_for("both workers", lambda: server.started_workers() == 2, seconds=60)
    log = server.log_text()
    assert "replaced" not in log
    assert "died" not in log


def test_a_worker_that_does_not_answer_in_time_is_replaced_and_the_log_says_why(
    serve: Callable[..., Server],
) -> None:
    server = serve("--worker-start-timeout", "1", delay_s=4)
    server.wait_for("the reason", lambda: "did not answer within 1 s" in server.log_text(), 60)
    line = next(line for line in server.log_text().splitlines() if "did not answer" in line)
    assert "--worker-start-timeout" in line
    assert "BB_WORKER_START_TIMEOUT_S" in line


def _value(pattern: re.Pattern[str], exposition: str) -> float:
    found = pattern.search(exposition)
    return float(found.group(1)) if found else 0.0


def _metrics_files(tmp_path: Path) -> set[str]:
    return {path.name for path in (tmp_path / "tmp").glob("backlog-bridge-metrics-*/*.db")}


def _healthz(url: str, count: int) -> None:
    """`count` requests, each on a new connection, several at once: both processes accept."""

    def one(_: int) -> int:
        with httpx.Client(timeout=10) as client:
            return client.get(f"{url}/healthz").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(count))) == {200}


def test_metrics_are_the_sum_over_both_worker_processes(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    server = serve()
    server.wait_for("both workers", lambda: server.started_workers() == 2, seconds=90)
    served = 0

    def both_processes_counted() -> bool:
        nonlocal served
        _healthz(server.url, 20)
        served += 20
        counters = {name for name in _metrics_files(tmp_path) if name.startswith("counter_")}
        return len(counters) == 2  # counter_<pid>.db: each process has answered requests

    server.wait_for("requests on both processes", both_processes_counted, seconds=60)
    scrapes, last = 0, 0.0
    for _ in range(30):
        _healthz(server.url, 4)
        served += 4
        with httpx.Client(timeout=10) as client:  # a new connection: either process answers
            exposition = client.get(f"{server.url}/metrics").text
        total = _value(HEALTHZ_TOTAL, exposition)
        assert total >= last, f"the counter went back from {last} to {total}"
        assert total == served, "a scrape must count every process's requests"
        assert _value(METRICS_TOTAL, exposition) == scrapes  # earlier scrapes, on either process
        scrapes, last = scrapes + 1, total
    # Read from the database at scrape time: reported once, never summed per process.
    states = re.findall(r'^bb_outbox_jobs\{state="(\w+)"\} (\S+)$', exposition, re.M)
    assert states
    assert len({state for state, _ in states}) == len(states)
    assert all(float(count) == 0 for _, count in states)  # nothing queued on a new database
