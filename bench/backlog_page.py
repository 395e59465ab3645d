"""Time one backlog page (first and deep) and one move against a real server, unloaded.

    python bench/backlog_page.py --database-url postgresql://postgres@127.0.0.1/bb_bench_1k \
        [--database-url postgresql://postgres@127.0.0.1/bb_bench_1m ...]

Starts `backlog-bridge serve` on a free port with `BB_DATABASE_URL` set (on PostgreSQL the
database must have been made by generate.py; serve does not migrate there), issues a token
for generate.py's admin, and times, over one keep-alive connection, one request at a time:

- first page: `GET /api/v1/items?sprint_id=none&limit=50`
- deep page: the same with a cursor positioned 50-95% down the `sprint_id IS NULL` order,
  built with the app's own `Keyset.encode` from rows read in the database (walking there
  page by page would take 18,000 requests at 1M); checked against the API once before timing
- move top: `POST /api/v1/items/{id}/move {"position": "top"}` on random items
- move before: `POST /api/v1/items/{id}/move {"before_id": other}` on random pairs of one backlog

Each after a warm-up; p50 and p99 in milliseconds, client-side (loopback HTTP included).
Several `--database-url`s are measured in interleaved rounds (a fresh server each time, a
short wait for the machine's load average to drop below 1). Prints two markdown tables with
the largest-N / smallest-N ratio per column: the best round per N and statistic, and all
rounds' samples pooled; `--results FILE` writes both as JSON too.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import app
from app.backlog.models import BacklogItem
from app.backlog.service import SORTS
from app.core.crypto import SecretBox
from app.core.db import make_engine, make_sessionmaker
from app.core.http import AsyncClient, Response
from app.core.pagination import Keyset, cursor_key, use_cursor_key
from app.users import service as users_service

ADMIN = "bench-admin"  # generate.py's
# The servers' key: the deep cursors made here are signed with it, as the server signs its own
SECRET_KEY = os.environ.get("BB_SECRET_KEY") or Fernet.generate_key().decode()
PAGE = 50
MEASURES = {
    "first_page": "first page",
    "deep_page": "deep page",
    "move_top": "move top",
    "move_before": "move before",
}
SERVER_START_TIMEOUT_S = 60.0
QUIET_LOAD = 1.0  # 1-minute load average below which the 2-core machine counts as idle


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")


class Fixture:
    """What the timed requests need, read from the database before the server starts."""

    def __init__(self) -> None:
        self.items = 0
        self.token = ""
        self.deep: list[tuple[str, int]] = []  # (cursor, id of the first item it yields)
        self.tops: list[int] = []
        self.pairs: list[tuple[int, int]] = []


async def prepare(database_url: str, *, samples: int, seed: int) -> Fixture:
    engine = make_engine(database_url, pool_size=1)
    fixture = Fixture()
    rnd = random.Random(seed)
    try:
        async with make_sessionmaker(engine)() as session:
            fixture.items = await session.scalar(select(func.count(BacklogItem.id))) or 0
            admin = await users_service.get_user_by_name(session, name=ADMIN)
            _, fixture.token = await users_service.create_token(
                session, user=admin, name="bench", ttl=timedelta(days=1)
            )
            await session.commit()
            fixture.deep = await _deep_cursors(session, rnd, count=20)
            fixture.tops, fixture.pairs = await _movers(session, rnd, samples=samples)
    finally:
        await engine.dispose()
    return fixture


async def _deep_cursors(
    session: AsyncSession, rnd: random.Random, *, count: int
) -> list[tuple[str, int]]:
    """Cursors as the API issues them, after rows 50-95% down the backlog order."""
    backlog = (
        await session.scalar(
            select(func.count()).select_from(BacklogItem).where(BacklogItem.sprint_id.is_(None))
        )
        or 0
    )
    positions = sorted(rnd.sample(range(backlog // 2, backlog * 95 // 100), count))
    numbered = (
        select(
            BacklogItem.id,
            BacklogItem.rank,
            func.row_number().over(order_by=(BacklogItem.rank, BacklogItem.id)).label("n"),
        )
        .where(BacklogItem.sprint_id.is_(None))
        .subquery()
    )
    wanted = {n for p in positions for n in (p, p + 1)}
    rows = (
        await session.execute(
            select(numbered.c.id, numbered.c.rank, numbered.c.n).where(numbered.c.n.in_(wanted))
        )
    ).all()
    by_n = {row.n: row for row in rows}
    keyset = Keyset.parse("rank", SORTS, tie_breaker=BacklogItem.id)
    use_cursor_key(cursor_key(SecretBox(SECRET_KEY.split(","))))
    return [(keyset.encode(by_n[p]), by_n[p + 1].id) for p in positions]


async def _movers(
    session: AsyncSession, rnd: random.Random, *, samples: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """Random items to move to the top, and random (item, anchor) pairs of one backlog."""
    rows = (
        await session.execute(
            select(BacklogItem.id, BacklogItem.backlog).order_by(func.random()).limit(samples * 4)
        )
    ).all()
    ids = [row.id for row in rows]
    by_backlog: dict[int, list[int]] = {}
    for row in rows[samples:]:
        by_backlog.setdefault(row.backlog, []).append(row.id)
    pairs = [
        (members[i], members[i + 1])
        for members in by_backlog.values()
        for i in range(0, len(members) - 1, 2)
    ]
    rnd.shuffle(pairs)
    return ids[:samples], pairs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    command = Path(sys.executable).parent / "backlog-bridge"
    env = {
        **os.environ,
        "BB_DATABASE_URL": database_url,
        "BB_LOG_LEVEL": "WARNING",
        "BB_RATE_LIMIT": "999999999/60",
        "BB_SECRET_KEY": SECRET_KEY,
    }
    return subprocess.Popen([str(command), "serve", "--port", str(port)], env=env)


async def wait_ready(client: AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except Exception:  # connection refused while uvicorn starts (app.core.http has no alias)
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready")


async def timed(
    call: Callable[[int], Awaitable[Response]], *, samples: int, warmup: int
) -> list[float]:
    """Milliseconds per call; call(i) gets the sample number (warm-up calls come first)."""
    times = []
    for i in range(warmup + samples):
        started = time.perf_counter()
        response = await call(i)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
        if i >= warmup:
            times.append(elapsed)
    return times


async def check_deep_cursor(client: AsyncClient, cursor: str, first_id: int) -> None:
    """The built cursor continues exactly where the API's own would, and paging on works."""
    page = (await client.get("/api/v1/items", params=_page_params(cursor))).json()
    if page["items"][0]["id"] != first_id:
        raise SystemExit(f"deep cursor yields item {page['items'][0]['id']}, not {first_id}")
    following = await client.get("/api/v1/items", params=_page_params(page["next_cursor"]))
    if following.status_code != 200 or not following.json()["items"]:
        raise SystemExit(f"following the deep page's next_cursor failed: {following.text}")


def _page_params(cursor: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"sprint_id": "none", "limit": PAGE}
    return params if cursor is None else {**params, "cursor": cursor}


async def measure(client: AsyncClient, fixture: Fixture, *, samples: int) -> dict[str, list[float]]:
    warmup = max(10, samples // 10)
    deep, tops, pairs = fixture.deep, fixture.tops, fixture.pairs
    await check_deep_cursor(client, *deep[0])
    results = {
        "first_page": await timed(
            lambda _: client.get("/api/v1/items", params=_page_params()),
            samples=samples, warmup=warmup,
        ),
        "deep_page": await timed(
            lambda i: client.get("/api/v1/items", params=_page_params(deep[i % len(deep)][0])),
            samples=samples, warmup=warmup,
        ),
        "move_top": await timed(
            lambda i: client.post(f"/api/v1/items/{tops[i % len(tops)]}/move",
                                  json={"position": "top"}),
            samples=samples, warmup=warmup,
        ),
        "move_before": await timed(
            lambda i: client.post(f"/api/v1/items/{pairs[i % len(pairs)][0]}/move",
                                  json={"before_id": pairs[i % len(pairs)][1]}),
            samples=samples, warmup=warmup,
        ),
    }  # fmt: skip
    return results


def percentiles(times: list[float]) -> list[float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return [round(cuts[49], 2), round(cuts[98], 2)]


def label(items: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if items >= size and items % size == 0:
            return f"{items // size}{suffix}"
    return str(items)


Table = dict[str, dict[str, Any]]  # N label -> {"items": n, measure: [p50, p99]}


def markdown(table: Table) -> str:
    cells = [f"{name} p50 / p99" for name in MEASURES.values()]
    lines = ["| N | " + " | ".join(cells) + " |", "|---|" + "---:|" * len(cells)]
    ordered = sorted(table.items(), key=lambda kv: int(kv[1]["items"]))
    for name, result in ordered:
        values = [" / ".join(f"{v:.2f}" for v in result[key]) for key in MEASURES]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    if len(ordered) > 1:
        (low_name, low), (high_name, high) = ordered[0], ordered[-1]
        ratios = [
            " / ".join(f"{h / lo:.2f}x" for lo, h in zip(low[key], high[key], strict=True))
            for key in MEASURES
        ]
        lines.append(f"| {high_name} / {low_name} | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


async def wait_quiet(timeout_s: float) -> float:
    """Wait (up to timeout_s) for other work on the machine to calm down; the load then."""
    for _ in range(int(timeout_s // 5)):
        if os.getloadavg()[0] < QUIET_LOAD:
            break
        await asyncio.sleep(5)
    return os.getloadavg()[0]


async def one_round(database_url: str, fixture: Fixture, *, samples: int) -> dict[str, list[float]]:
    """A fresh server on the database, the four measurements, the server stopped."""
    port = free_port()
    server = start_server(database_url, port)
    try:
        headers = {"Authorization": f"Bearer {fixture.token}"}
        async with AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
        ) as client:
            await wait_ready(client, server)
            return await measure(client, fixture, samples=samples)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def run(args: argparse.Namespace) -> tuple[Table, Table]:
    """Rounds of every database in turn, so background noise hits every N alike.

    Returns the best round per N and statistic (the least disturbed one: this 2-core machine
    is shared) and the percentiles of all rounds' samples pooled.
    """
    log(f"app from {Path(app.__file__).parent}")
    pooled: dict[str, dict[str, list[float]]] = {url: {} for url in args.database_url}
    best: dict[str, dict[str, list[float]]] = {url: {} for url in args.database_url}
    sizes: dict[str, int] = {}
    for round_number in range(args.rounds):
        for url in args.database_url:
            fixture = await prepare(url, samples=args.samples, seed=args.seed + round_number)
            sizes[url] = fixture.items
            load = await wait_quiet(args.wait_quiet)
            log(f"round {round_number + 1}: {fixture.items} items, load average {load:.2f}")
            times = await one_round(url, fixture, samples=args.samples)
            summary = []
            for key, values in times.items():
                pooled[url].setdefault(key, []).extend(values)
                this, so_far = percentiles(values), best[url].get(key)
                best[url][key] = this if so_far is None else list(map(min, this, so_far))
                summary.append(f"{key} {this[0]:.1f}/{this[1]:.1f}")
            log(f"  p50/p99 ms: {', '.join(summary)}; load average {os.getloadavg()[0]:.2f}")
    return (
        {label(sizes[url]): {"items": sizes[url], **best[url]} for url in args.database_url},
        {
            label(sizes[url]): {"items": sizes[url]}
            | {key: percentiles(values) for key, values in pooled[url].items()}
            for url in args.database_url
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", action="append", required=True, help="repeatable")
    parser.add_argument("--samples", type=int, default=200, help="per measurement and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, help="a JSON file to write the table to")
    parser.add_argument(
        "--wait-quiet", type=float, default=60, help=f"seconds to wait for load < {QUIET_LOAD}"
    )
    args = parser.parse_args()
    best, pooled = asyncio.run(run(args))
    if args.results:
        meta = {"app": str(Path(app.__file__).parent), "rounds": args.rounds,
                "samples": args.samples, "cpus": os.cpu_count()}  # fmt: skip
        document = {**meta, "best_round": best, "all_rounds_pooled": pooled}
        args.results.write_text(json.dumps(document, indent=2) + "\n")
    out = sys.stdout
    out.write(f"best of {args.rounds} rounds (ms):\n{markdown(best)}\n\n")
    out.write(f"all rounds pooled (ms):\n{markdown(pooled)}\n")


if __name__ == "__main__":
    main()
