"""Webhook ingest under load: N signed GitHub deliveries from 32 concurrent clients.

    python bench/webhook_ingest.py [--database-url postgresql://postgres@127.0.0.1/bb_bench_hooks]
        [--deliveries 2000] [--clients 32]

Makes a fresh database (PostgreSQL by default), migrates it, starts `backlog-bridge serve` on a
free port, creates an integration with a webhook secret through the API, then posts N signed
`issues` deliveries (the real `issues/edited` payload from tests/fixtures, each with its own
`X-GitHub-Delivery`; one in ten is sent twice, as GitHub's redeliveries are). Checks that every
delivery id is stored exactly once and every redelivery answered 200, and prints p50/p99 of the
ingest latency (client side, loopback HTTP) and the throughput. Drops the database at the end.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.http import AsyncClient
from app.core.urls import async_database_url
from app.webhooks.models import Delivery, Outcome
from app.webhooks.signatures import sign

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = (ROOT / "tests/fixtures/github/webhooks/issues/edited.payload.json").read_bytes()
SECRET = "bench-secret"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


async def _admin_database(url: str, statement: str) -> None:
    admin = create_async_engine(
        async_database_url(url.rsplit("/", 1)[0] + "/postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text(statement))
    await admin.dispose()


async def _send(client: AsyncClient, path: str, delivery: str, latencies: list[float]) -> int:
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(SECRET, PAYLOAD),
        "Content-Type": "application/json",
    }
    started = time.perf_counter()
    response = await client.post(path, content=PAYLOAD, headers=headers)
    latencies.append((time.perf_counter() - started) * 1000)
    return response.status_code


async def _load(base: str, integration: int, deliveries: int, clients: int) -> dict[str, float]:
    ids = [str(uuid.uuid4()) for _ in range(deliveries)]
    queue = ids + ids[::10]  # every tenth delivery comes twice
    latencies: list[float] = []
    statuses: list[int] = []
    path = f"/api/v1/webhooks/github/{integration}"

    async def client_loop(share: list[str]) -> None:
        async with AsyncClient(base_url=base, timeout=30) as client:
            for delivery in share:
                statuses.append(await _send(client, path, delivery, latencies))

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(queue[n::clients]) for n in range(clients)))
    elapsed = time.perf_counter() - started
    assert statuses.count(202) == deliveries, "every first delivery is accepted"
    assert statuses.count(200) == len(queue) - deliveries, "every redelivery is a duplicate"
    ordered = sorted(latencies)
    return {
        "requests": len(queue),
        "per_second": len(queue) / elapsed,
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1],
    }


async def _stored_once(url: str, deliveries: int) -> None:
    engine = create_async_engine(async_database_url(url))
    async with engine.connect() as connection:
        first = await connection.scalar(
            select(func.count(func.distinct(Delivery.delivery_id))).where(
                Delivery.outcome != Outcome.DUPLICATE
            )
        )
        rows = await connection.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.outcome != Outcome.DUPLICATE)
        )
    await engine.dispose()
    assert first == rows == deliveries, (first, rows, deliveries)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1/bb_bench_hooks")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    name = args.database_url.rsplit("/", 1)[1]
    await _admin_database(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin_database(args.database_url, f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "BB_DATABASE_URL": args.database_url,
        "BB_LOG_LEVEL": "WARNING",
        "BB_SECRET_KEY": Fernet.generate_key().decode(),
        "BB_TRACKER_ALLOWED_HOSTS": "127.0.0.1",
    }
    _cli(env, "migrate")
    token = _cli(env, "users", "create", "--name", "bench-it", "--role", "it").split()[-1]
    port = _port()
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before any timing)
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(100):
                try:
                    await client.get("/healthz")
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            created = await client.post(
                "/api/v1/integrations",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "kind": "github",
                    "name": "bench",
                    "repository": "acme/webshop",
                    "base_url": "http://127.0.0.1:9",
                    "webhook_secret": SECRET,
                },
            )
        result = await _load(base, created.json()["id"], args.deliveries, args.clients)
        await _stored_once(args.database_url, args.deliveries)
        sys.stdout.write(
            f"| {args.deliveries} deliveries (+{args.deliveries // 10} redeliveries), "
            f"{args.clients} clients | {result['per_second']:.0f} req/s | "
            f"{result['p50_ms']:.1f} ms | {result['p99_ms']:.1f} ms | stored once |\n"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        await _admin_database(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
