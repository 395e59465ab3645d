"""Issue #9's load run: every workload against a real server and the two references, with wrk.

    python bench/load.py --database-url postgresql://postgres@127.0.0.1/bench_perf_1k \
        --database-url postgresql://postgres@127.0.0.1/bench_perf_1m [--duration 8] \
        [--results bench/results-load.json]

For each database (made by generate.py) it starts three servers on 127.0.0.1, one uvicorn
worker each, same uvicorn settings (`app.cli.UVICORN_OPTIONS`):

- the app: `backlog-bridge serve` (`BB_LOG_LEVEL=WARNING`, default pool of 10);
- reference (a): bench/refapps.py `memory`, the 50 objects of the app's first backlog page
  served from memory by a bare FastAPI app (the HTTP+JSON ceiling);
- reference (b): bench/refapps.py `driver`, the same keyset page straight through asyncpg or
  aiosqlite in a bare FastAPI endpoint (the DB-backed ceiling).

Then every workload runs alone, twice with wrk (one thread): loaded, `--connections` (32)
keep-alive connections for `--duration` seconds, and unloaded, 1 connection for half as long.
Requests come from a file per workload (bench/workloads.py; bench/wrk/lines.lua sends its
lines in turn), built from the database: real ids, cursors and tokens. Every workload is first
sent once and must answer 2xx; wrk's non-2xx count is reported too.

Prints (bench/report.py), per database, a markdown table: throughput as a ratio of (a) and of
(b), p50/p99 loaded and unloaded; then the largest database against the smallest.
`--results` writes the numbers as JSON. Write workloads change the database (items created and
moved, requests and deliveries stored): run generate.py --recreate for a pristine one.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import func, select

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from backlog_page import SECRET_KEY, _deep_cursors, free_port  # noqa: E402
from report import WORKLOADS, document  # noqa: E402
from workloads import WEBHOOK_SECRET, Fixture, request_line, workload_lines  # noqa: E402

from app.backlog.models import BacklogItem  # noqa: E402
from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.sprints.models import Sprint  # noqa: E402
from app.users import service as users_service  # noqa: E402

LUA = HERE / "wrk" / "lines.lua"
USERS = {"admin": "bench-admin", "it": "bench-it-1", "marketing": "bench-marketing-1"}


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")


async def prepare(database_url: str, rnd: random.Random) -> Fixture:
    """Tokens, deep cursors (and the rows they follow), random items and the sprints."""
    engine = make_engine(database_url, pool_size=1)
    fixture = Fixture()
    try:
        async with make_sessionmaker(engine)() as session:
            fixture.items = await session.scalar(select(func.count(BacklogItem.id))) or 0
            for role, name in USERS.items():
                user = await users_service.get_user_by_name(session, name=name)
                _, fixture.tokens[role] = await users_service.create_token(
                    session, user=user, name="bench-load", ttl=timedelta(days=1)
                )
            await session.commit()
            cursors = await _deep_cursors(session, rnd, count=20)
            for cursor, next_id in cursors:
                before = await session.execute(
                    select(BacklogItem.rank, BacklogItem.id)
                    .where(BacklogItem.sprint_id.is_(None))
                    .where(BacklogItem.id != next_id)
                    .where(
                        BacklogItem.rank
                        <= select(BacklogItem.rank)
                        .where(BacklogItem.id == next_id)
                        .scalar_subquery()
                    )
                    .order_by(BacklogItem.rank.desc(), BacklogItem.id.desc())
                    .limit(1)
                )
                rank, last_id = before.one()
                fixture.deep.append((cursor, rank, last_id))
            ids = (await session.scalars(select(BacklogItem.id))).all()
            fixture.item_ids = rnd.sample(ids, min(len(ids), 500))  # ids have gaps
            sprints = (await session.execute(select(Sprint.id, Sprint.team_id))).all()
            fixture.sprint_ids = [row.id for row in sprints]
            fixture.team_ids = sorted({row.team_id for row in sprints})
    finally:
        await engine.dispose()
    return fixture


class Servers:
    """The app and both references, each on its own free port."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url, self.workdir = database_url, workdir
        self.env = {
            **os.environ,
            "BB_DATABASE_URL": database_url,
            "BB_LOG_LEVEL": "WARNING",
            "BB_SECRET_KEY": SECRET_KEY,  # the deep cursors are signed with it
            "BB_TRACKER_ALLOWED_HOSTS": "127.0.0.1",
            # counted as in production (one upsert per call), but never reached by one token
            "BB_RATE_LIMIT": "999999999/60",
        }
        self.ports: dict[str, int] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pids: dict[str, int] = {}

    def start(self, name: str, command: list[str]) -> str:
        self.ports[name] = port = free_port()
        process = subprocess.Popen([*command, "--port", str(port)], env=self.env)
        self.processes.append(process)
        self.pids[f"http://127.0.0.1:{port}"] = process.pid
        return f"http://127.0.0.1:{port}"

    def cpu_seconds(self, url: str) -> float:
        """User + system CPU time of the server at `url` so far (one worker: one process)."""
        fields = Path(f"/proc/{self.pids[url]}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        self.processes.clear()


async def wait_ready(url: str, path: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url + path)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


async def setup_app(url: str, fixture: Fixture, page_file: Path) -> int:
    """Create the webhook's integration; save the first page's items for reference (a)."""
    admin = {"Authorization": f"Bearer {fixture.tokens['admin']}"}
    async with httpx.AsyncClient(base_url=url, headers=admin, timeout=30) as client:
        created = await client.post(
            "/api/v1/integrations",
            json={
                "kind": "github",
                "name": f"bench-load-{time.time_ns()}",
                "repository": "acme/webshop",
                "base_url": "http://127.0.0.1:9",
                "webhook_secret": WEBHOOK_SECRET,
            },
        )
        created.raise_for_status()
        page = await client.get("/api/v1/items", params={"sprint_id": "none", "limit": 50})
        page.raise_for_status()
    page_file.write_text(json.dumps(page.json()["items"]))  # noqa: ASYNC240 (before timing)
    integration_id: int = created.json()["id"]
    return integration_id


async def check_once(url: str, line: str) -> None:
    method, path, header_text, body = line.split("\t", 3)
    headers = dict(h.split(": ", 1) for h in header_text.split("|") if h)
    headers = {k: (f"check-{time.time_ns()}" if v == "{seq}" else v) for k, v in headers.items()}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.request(method, path, headers=headers, content=body or None)
    if not response.is_success:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:500]}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, file: Path, *, connections: int, seconds: float) -> dict[str, float]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "--latency", "-s", str(LUA), url, "--", str(file),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    percent = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    if len(percent) != 2:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)$", output, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50": _ms(percent["50"]),
        "p99": _ms(percent["99"]),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": 1 if errors else 0,
    }


_SERVER_OF = {"ref_a": "a", "ref_b": "b", "ref_b_deep": "b"}  # the rest are the app's


async def measure_database(
    database_url: str, args: argparse.Namespace, rnd: random.Random
) -> dict[str, Any]:
    fixture = await prepare(database_url, rnd)
    log(f"{database_url}: {fixture.items} items")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        servers = Servers(database_url, work)
        try:
            urls, lines = await _start(servers, fixture, work, rnd)
            results: dict[str, Any] = {"items": fixture.items, "workloads": {}}
            for name in WORKLOADS:
                if args.only and name not in args.only and not name.startswith("ref_"):
                    continue
                url = urls[_SERVER_OF.get(name, "app")]
                results["workloads"][name] = await _measure(
                    servers, url, name, lines[name], work, args
                )
        finally:
            servers.stop()
    return results


async def _start(
    servers: Servers, fixture: Fixture, work: Path, rnd: random.Random
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The app and the two references started; their URLs and every workload's lines."""
    bin_dir = Path(sys.executable).parent
    app_url = servers.start("app", [str(bin_dir / "backlog-bridge"), "serve"])
    await wait_ready(app_url, "/readyz")
    integration_id = await setup_app(app_url, fixture, work / "page.json")
    refapps = [sys.executable, str(HERE / "refapps.py")]
    a_url = servers.start("a", [*refapps, "memory", "--page-file", str(work / "page.json")])
    b_url = servers.start("b", [*refapps, "driver"])
    await wait_ready(a_url, "/ref/memory")
    await wait_ready(b_url, "/ref/driver")
    lines = workload_lines(fixture, rnd, integration_id=integration_id)
    lines["ref_a"] = [request_line("GET", "/ref/memory", "")]
    lines["ref_b"] = [request_line("GET", "/ref/driver", "")]
    lines["ref_b_deep"] = [
        request_line("GET", f"/ref/driver?rank={quote(rank)}&id={i}", "")
        for _, rank, i in fixture.deep
    ]
    return {"app": app_url, "a": a_url, "b": b_url}, lines


async def _measure(
    servers: Servers, url: str, name: str, lines: list[str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One workload: checked once, then loaded (with the server's CPU) and unloaded."""
    file = work / f"{name}.txt"
    file.write_text("\n".join(lines) + "\n")
    for line in lines[:1] if name != "mix" else []:
        await check_once(url, line)
    cpu = servers.cpu_seconds(url)
    loaded = wrk(url, file, connections=args.connections, seconds=args.duration)
    loaded["cpu_ms"] = (servers.cpu_seconds(url) - cpu) * 1000 / loaded["requests"]
    unloaded = wrk(url, file, connections=1, seconds=args.duration / 2)
    log(
        f"{name}: {loaded['rps']:.0f} req/s loaded, {loaded['cpu_ms']:.2f} ms CPU"
        f" per request, p50 {unloaded['p50']:.2f} ms alone"
    )
    return {"loaded": loaded, "unloaded": unloaded}


def _revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", action="append", required=True)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per loaded run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--only", type=lambda text: text.split(","), help="these workloads (and the references)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    rnd = random.Random(args.seed)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    results = {url: await measure_database(url, args, rnd) for url in args.database_url}
    meta = {
        "date": started,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "duration_s": args.duration,
        "connections": args.connections,
        "revision": _revision(),
    }
    sys.stdout.write(document(meta, results))
    if args.results:
        args.results.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
