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
Requests come from a file per workload (bench/wrk/lines.lua sends its lines in turn), built
from the database: real ids, cursors and tokens. Every workload is first sent once and must
answer 2xx; wrk's non-2xx count is reported too.

Prints, per database, a markdown table: throughput as a ratio of (a) and of (b), p50/p99
loaded and unloaded; then the largest database against the smallest. `--results` writes the
numbers as JSON. Write workloads change the database (items created and moved, requests and
deliveries stored): run generate.py --recreate for a pristine one.
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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import func, select

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from backlog_page import _deep_cursors, free_port  # noqa: E402

from app.backlog.models import BacklogItem  # noqa: E402
from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.sprints.models import Sprint  # noqa: E402
from app.users import service as users_service  # noqa: E402
from app.webhooks.signatures import sign  # noqa: E402

LUA = HERE / "wrk" / "lines.lua"
PAYLOAD = json.dumps(
    json.loads((ROOT / "tests/fixtures/github/webhooks/issues/edited.payload.json").read_bytes()),
    separators=(",", ":"),
)
WEBHOOK_SECRET = "bench-secret"
USERS = {"admin": "bench-admin", "it": "bench-it-1", "marketing": "bench-marketing-1"}
WORKLOADS = {  # name: what it is (reference rows first)
    "ref_a": "(a) bare FastAPI, 50 objects from memory",
    "ref_b": "(b) bare FastAPI + driver, first page",
    "ref_b_deep": "(b) bare FastAPI + driver, deep page",
    "page_first": "backlog page, first",
    "page_deep": "backlog page, deep cursor",
    "item_get": "single item GET",
    "item_create": "item create",
    "item_move": "item move (to top)",
    "request_submit": "request submit",
    "sprint_report": "sprint report",
    "webhook": "webhook ingest (signed GitHub)",
    "mix": "mix",
}
MIX = {
    "page_first": 30,
    "page_deep": 10,
    "item_get": 25,
    "item_create": 8,
    "item_move": 10,
    "request_submit": 5,
    "sprint_report": 2,
    "webhook": 10,
}
WORDS = [
    "checkout", "campaign", "landing", "page", "newsletter", "consent", "banner", "tracking",
    "export", "report", "dashboard", "login", "payment", "voucher", "search", "filter",
    "catalogue", "translation", "accessibility", "performance", "cache", "retry", "audit",
]  # fmt: skip


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")


@dataclass
class Fixture:
    items: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    deep: list[tuple[str, str, int]] = field(default_factory=list)  # cursor, rank, id
    item_ids: list[int] = field(default_factory=list)
    sprint_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)


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


def _auth(token: str, json_body: bool = False) -> str:
    headers = [f"Authorization: Bearer {token}"]
    if json_body:
        headers.append("Content-Type: application/json")
    return "|".join(headers)


def _line(method: str, path: str, headers: str, body: Any = None) -> str:
    text = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    return f"{method}\t{path}\t{headers}\t{text}"


def _text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(words)).capitalize()


def workload_lines(
    fixture: Fixture, rnd: random.Random, *, integration_id: int
) -> dict[str, list[str]]:
    """Request lines for each app workload (bench/wrk/lines.lua's format)."""
    admin, it, marketing = (fixture.tokens[r] for r in ("admin", "it", "marketing"))
    page = "/api/v1/items?sprint_id=none&limit=50"
    lines: dict[str, list[str]] = {
        "page_first": [_line("GET", page, _auth(admin))],
        "page_deep": [
            _line("GET", f"{page}&cursor={quote(cursor)}", _auth(admin))
            for cursor, _, _ in fixture.deep
        ],
        "item_get": [_line("GET", f"/api/v1/items/{i}", _auth(admin)) for i in fixture.item_ids],
        "item_move": [
            _line("POST", f"/api/v1/items/{i}/move", _auth(it, True), {"position": "top"})
            for i in fixture.item_ids
        ],
        "sprint_report": [
            _line("GET", f"/api/v1/sprints/{s}/report", _auth(admin)) for s in fixture.sprint_ids
        ],
        "webhook": [
            _line(
                "POST",
                f"/api/v1/webhooks/github/{integration_id}",
                "|".join(
                    (
                        "Content-Type: application/json",
                        "X-GitHub-Event: issues",
                        "X-GitHub-Delivery: {seq}",
                        f"X-Hub-Signature-256: {sign(WEBHOOK_SECRET, PAYLOAD.encode())}",
                    )
                ),
                PAYLOAD,
            )
        ],
    }
    lines["item_create"] = [
        _line("POST", "/api/v1/items", _auth(it, True), _item_body(fixture, rnd))
        for _ in range(200)
    ]
    lines["request_submit"] = [
        _line("POST", "/api/v1/requests", _auth(marketing, True), _request_body(rnd))
        for _ in range(200)
    ]
    mixed = [line for name, weight in MIX.items() for line in _cycle(lines[name], weight * 10)]
    rnd.shuffle(mixed)
    lines["mix"] = mixed
    return lines


def _cycle(lines: list[str], count: int) -> list[str]:
    return [lines[i % len(lines)] for i in range(count)]


def _item_body(fixture: Fixture, rnd: random.Random) -> dict[str, Any]:
    return {
        "title": _text(rnd, 6),
        "description": _text(rnd, 60),
        "acceptance_criteria": [_text(rnd, 8) for _ in range(3)],
        "story_points": rnd.choice([1, 2, 3, 5, 8]),
        "business_value": rnd.randint(1, 10),
        "time_criticality": rnd.randint(1, 10),
        "risk_reduction": rnd.randint(1, 10),
        "team_id": rnd.choice(fixture.team_ids),
        "labels": rnd.sample(WORDS, 2),
    }


def _request_body(rnd: random.Random) -> dict[str, Any]:
    return {
        "title": _text(rnd, 6),
        "description": _text(rnd, 80),
        "business_goal": _text(rnd, 20),
        "business_value": rnd.randint(1, 10),
        "time_criticality": rnd.randint(1, 10),
        "department": "E-commerce",
    }


class Servers:
    """The app and both references, each on its own free port."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url, self.workdir = database_url, workdir
        self.env = {
            **os.environ,
            "BB_DATABASE_URL": database_url,
            "BB_LOG_LEVEL": "WARNING",
            "BB_SECRET_KEY": Fernet.generate_key().decode(),
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


async def measure_database(
    database_url: str, args: argparse.Namespace, rnd: random.Random
) -> dict[str, Any]:
    fixture = await prepare(database_url, rnd)
    log(f"{database_url}: {fixture.items} items")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        servers = Servers(database_url, work)
        try:
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
            lines["ref_a"] = [_line("GET", "/ref/memory", "")]
            lines["ref_b"] = [_line("GET", "/ref/driver", "")]
            lines["ref_b_deep"] = [
                _line("GET", f"/ref/driver?rank={quote(rank)}&id={i}", "")
                for _, rank, i in fixture.deep
            ]
            results: dict[str, Any] = {"items": fixture.items, "workloads": {}}
            for name in WORKLOADS:
                if args.only and name not in args.only and not name.startswith("ref_"):
                    continue
                url = a_url if name == "ref_a" else b_url if name.startswith("ref_b") else app_url
                file = work / f"{name}.txt"
                file.write_text("\n".join(lines[name]) + "\n")
                for line in lines[name][:1] if name != "mix" else []:
                    await check_once(url, line)
                cpu = servers.cpu_seconds(url)
                loaded = wrk(url, file, connections=args.connections, seconds=args.duration)
                loaded["cpu_ms"] = (servers.cpu_seconds(url) - cpu) * 1000 / loaded["requests"]
                unloaded = wrk(url, file, connections=1, seconds=args.duration / 2)
                results["workloads"][name] = {"loaded": loaded, "unloaded": unloaded}
                log(
                    f"{name}: {loaded['rps']:.0f} req/s loaded, {loaded['cpu_ms']:.2f} ms CPU"
                    f" per request, p50 {unloaded['p50']:.2f} ms alone"
                )
        finally:
            servers.stop()
    return results


def table(result: dict[str, Any]) -> str:
    runs = result["workloads"]
    a, b = runs["ref_a"]["loaded"]["rps"], runs["ref_b"]["loaded"]["rps"]
    # Server CPU per request: what throughput would be on an idle machine (one busy worker),
    # and far steadier than req/s while other work shares the 2 cores.
    cpu_a = runs["ref_a"]["loaded"]["cpu_ms"]
    cpu_b = (runs["ref_b_deep"]["loaded"]["cpu_ms"], runs["ref_b"]["loaded"]["cpu_ms"])
    rows = [
        "| workload | req/s (32 conn) | x (a) | x (b) | p50 / p99 loaded (ms) "
        "| p50 / p99 unloaded (ms) | server CPU ms/req | CPU x (a) | CPU x (b) | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in WORKLOADS.items():
        if name not in runs:
            continue
        loaded, alone = runs[name]["loaded"], runs[name]["unloaded"]
        ref_b = runs["ref_b_deep" if name == "page_deep" else "ref_b"]["loaded"]["rps"]
        rows.append(
            f"| {label} | {loaded['rps']:.0f} | {loaded['rps'] / a:.2f} | "
            f"{loaded['rps'] / (ref_b if name != 'ref_b' else b):.2f} | "
            f"{loaded['p50']:.2f} / {loaded['p99']:.2f} | {alone['p50']:.2f} / {alone['p99']:.2f} "
            f"| {loaded['cpu_ms']:.2f} | {cpu_a / loaded['cpu_ms']:.2f} "
            f"| {cpu_b[name != 'page_deep'] / loaded['cpu_ms']:.2f} "
            f"| {loaded['non2xx'] + alone['non2xx']} |"
        )
    return "\n".join(rows)


def scaling(small: dict[str, Any], large: dict[str, Any]) -> str:
    rows = [
        f"| workload | unloaded p50 {_n(small['items'])} / {_n(large['items'])} (ms) | ratio "
        "| loaded p99 (ms) | ratio | req/s | ratio | server CPU ms/req | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in WORKLOADS.items():
        if name not in small["workloads"]:
            continue
        s, big = small["workloads"][name], large["workloads"][name]
        p50s, p50l = s["unloaded"]["p50"], big["unloaded"]["p50"]
        p99s, p99l = s["loaded"]["p99"], big["loaded"]["p99"]
        rs, rl = s["loaded"]["rps"], big["loaded"]["rps"]
        cs, cl = s["loaded"]["cpu_ms"], big["loaded"]["cpu_ms"]
        rows.append(
            f"| {label} | {p50s:.2f} / {p50l:.2f} | {p50l / p50s:.2f}x | {p99s:.1f} / {p99l:.1f} "
            f"| {p99l / p99s:.2f}x | {rs:.0f} / {rl:.0f} | {rl / rs:.2f}x "
            f"| {cs:.2f} / {cl:.2f} | {cl / cs:.2f}x |"
        )
    return "\n".join(rows)


def targets(small: dict[str, Any], large: dict[str, Any]) -> str:
    """Issue #9's targets, judged on the largest database (scaling: against the smallest)."""
    runs = large["workloads"]
    a = runs["ref_a"]["loaded"]["rps"]
    checks: list[tuple[str, float, str, bool]] = []

    def rps(name: str) -> float:
        return float(runs[name]["loaded"]["rps"])

    def cpu_ms(name: str) -> float:
        return float(runs[name]["loaded"]["cpu_ms"])

    def p50(name: str) -> float:
        return float(runs[name]["unloaded"]["p50"])

    for page, ref in (("page_first", "ref_b"), ("page_deep", "ref_b_deep")):
        if page in runs:
            checks.append((f"{page} >= 0.33x (a)", rps(page) / a, "x", rps(page) / a >= 0.33))
            ratio = rps(page) / rps(ref)
            checks.append((f"{page} >= 0.8x (b)", ratio, "x", ratio >= 0.8))
            cpu = cpu_ms(ref) / cpu_ms(page)
            checks.append((f"{page} >= 0.8x (b), by server CPU", cpu, "x", cpu >= 0.8))
            cpu = cpu_ms("ref_a") / cpu_ms(page)
            checks.append((f"{page} >= 0.33x (a), by server CPU", cpu, "x", cpu >= 0.33))
            checks.append((f"{page} unloaded p50 <= 2 ms", p50(page), "ms", p50(page) <= 2))
    for name in ("item_create", "item_move", "request_submit"):
        if name in runs:
            checks.append((f"{name} unloaded p50 <= 5 ms", p50(name), "ms", p50(name) <= 5))
    if "webhook" in runs:
        ratio = rps("webhook") / a
        checks.append(("webhook >= 0.3x (a)", ratio, "x", ratio >= 0.3))
        cpu = cpu_ms("ref_a") / cpu_ms("webhook")
        checks.append(("webhook >= 0.3x (a), by server CPU", cpu, "x", cpu >= 0.3))
    for name in runs:
        if not name.startswith("ref_") and name in small["workloads"]:
            ratio = p50(name) / small["workloads"][name]["unloaded"]["p50"]
            label = f"{name} unloaded p50 {_n(large['items'])} / {_n(small['items'])} <= 1.5x"
            checks.append((label, ratio, "x", ratio <= 1.5))
            ratio = cpu_ms(name) / small["workloads"][name]["loaded"]["cpu_ms"]
            label = f"{name} server CPU {_n(large['items'])} / {_n(small['items'])} <= 1.5x"
            checks.append((label, ratio, "x", ratio <= 1.5))
    rows = ["| target | measured | met |", "|---|---:|---|"]
    rows += [f"| {t} | {v:.2f} {unit} | {'yes' if ok else '**no**'} |" for t, v, unit, ok in checks]
    return "\n".join(rows)


def _revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


def _n(items: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if items >= size:
            return f"{items / size:g}{suffix}"
    return str(items)


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
    out = [f"{meta}"]
    for url, result in results.items():
        out += ["", f"### {url} ({_n(result['items'])} items)", "", table(result)]
    for backend in ("postgresql", "sqlite"):
        runs = [r for url, r in results.items() if url.startswith(backend)]
        by_size = sorted(runs, key=lambda r: r["items"])
        if len(by_size) > 1:
            small, large = by_size[0], by_size[-1]
            title = f"{backend}: {_n(large['items'])} against {_n(small['items'])}"
            out += ["", f"### {title}", "", scaling(small, large)]
            out += ["", f"### {backend}: targets of issue #9", "", targets(small, large)]
    sys.stdout.write("\n".join(out) + "\n")
    if args.results:
        args.results.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
