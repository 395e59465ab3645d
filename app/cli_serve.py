"""`serve`: the HTTP API under uvicorn, in one process or several.

With `--workers N` uvicorn's supervisor starts N processes and pings each; one that does not
answer within `timeout_worker_healthcheck` is killed and replaced. A new process cannot
answer before its interpreter has started and imported what it needs, which takes seconds on
a busy host, so uvicorn's 5 s default made a restart loop: here it is
`--worker-start-timeout` (`BB_WORKER_START_TIMEOUT_S`, 60 s), and the supervisor says why it
replaced a worker. The processes also share one fresh directory for their metrics files,
which `/metrics` sums.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from socket import socket

import uvicorn
from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from app.cli import UVICORN_OPTIONS
from app.cli_support import CliError, about_database, checked_secret_box
from app.core.config import Settings
from app.core.db import make_engine
from app.core.migrations import upgrade

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's name for it
NOT_STARTED = "the server did not start; the log lines above say why"
logger = logging.getLogger("app.serve")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    _preflight(settings)
    timeout = args.worker_start_timeout or settings.worker_start_timeout_s
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_keep_alive=args.timeout_keep_alive,
        limit_concurrency=args.limit_concurrency,
        timeout_worker_healthcheck=timeout,
        **UVICORN_OPTIONS,
    )
    if args.workers == 1:
        return _serve_alone(config)
    with _metrics_directory() as metrics_dir:
        return _serve_supervised(config, metrics_dir)


def _preflight(settings: Settings) -> None:
    """What would fail inside every worker fails here first, said in one line."""
    checked_secret_box(settings)
    with about_database(settings.database_url):
        if settings.is_sqlite:
            upgrade(settings.database_url)  # the embedded database is ours to keep current
        else:
            asyncio.run(_reach(settings.database_url))


async def _reach(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


def _serve_alone(config: uvicorn.Config) -> int:
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn's way out of a failed start; it logged the reason
        raise CliError(NOT_STARTED) from exc
    if not server.started:
        raise CliError(NOT_STARTED)
    return 0


def _serve_supervised(config: uvicorn.Config, metrics_dir: str) -> int:
    try:
        listener = config.bind_socket()
    except SystemExit as exc:  # uvicorn logged why (the address is taken, say)
        raise CliError(f"cannot listen on {config.host}:{config.port}") from exc
    supervisor = Supervisor(config, sockets=[listener], metrics_dir=metrics_dir)
    supervisor.run()
    if supervisor.failed_start:
        raise CliError("a worker process could not start; the log lines above say why")
    return 0


@contextlib.contextmanager
def _metrics_directory() -> Iterator[str]:
    """A fresh directory for the worker processes' metrics files, removed afterwards.

    Set in our environment, which the processes inherit: prometheus-client reads it when they
    first import it. Fresh, so no file of an earlier run is summed into this one's counters.
    """
    path = tempfile.mkdtemp(prefix="backlog-bridge-metrics-")
    previous = os.environ.get(METRICS_DIR_VARIABLE)
    os.environ[METRICS_DIR_VARIABLE] = path
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if previous is None:
            os.environ.pop(METRICS_DIR_VARIABLE, None)
        else:
            os.environ[METRICS_DIR_VARIABLE] = previous


class Supervisor(Multiprocess):
    """uvicorn's supervisor, saying why it replaces a worker and remembering a failed start."""

    def __init__(self, config: uvicorn.Config, *, sockets: list[socket], metrics_dir: str) -> None:
        super().__init__(config, sockets=sockets)
        self.metrics_dir = metrics_dir
        self.failed_start = False

    def keep_subprocess_alive(self) -> None:
        """As uvicorn's, with the reason of each replacement in the log."""
        if self.should_exit.is_set():
            return
        timeout = self.config.timeout_worker_healthcheck
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=timeout):
                continue
            exitcode = process.exitcode  # None: running, yet silent for the whole timeout
            process.kill()
            process.join()
            if process.pid is not None:
                # Its live gauges go; its counters stay, so the sums never go back.
                multiprocess.mark_process_dead(process.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
            if exitcode == STARTUP_FAILURE:
                logger.error("worker process [%s] could not start; stopping", process.pid)
                self.failed_start = True
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.warning(_why_replaced(process.pid, exitcode, timeout))
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement


def _why_replaced(pid: int | None, exitcode: int | None, timeout: int) -> str:
    if exitcode is None:
        return (
            f"worker process [{pid}] did not answer within {timeout} s (still starting on a "
            "busy host, or hung) and was replaced; if it was starting, raise "
            "--worker-start-timeout or BB_WORKER_START_TIMEOUT_S"
        )
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"worker process [{pid}] was ended by {signal.Signals(-exitcode).name}; replaced"
    return f"worker process [{pid}] exited with status {exitcode}; replaced"
