"""Profile one request path in-process with pyinstrument (the `bench` extra).

    python bench/hotpath.py --database-url postgresql://postgres@127.0.0.1/bench_perf_1m \
        [--path '/api/v1/items?sprint_id=none&limit=50'] [--method POST --body '{...}'] \
        [--token-user bench-it-1] [--requests 500]
    python bench/hotpath.py --database-url ... --webhook [--cpu]

`--webhook` posts signed GitHub deliveries (the load run's `issues/edited` payload, a fresh
`X-GitHub-Delivery` each) to an integration `bench-hotpath` whose secret it seals with this
run's key, and deletes it and its deliveries at the end.

`--cpu` measures CPU time per request (client and server: one process) without a profiler,
the measure least moved by other work on the machine; with PYTHONPATH set to an exported
revision (`git archive REV app migrations`) it measures that revision.

Runs the real app (create_app, its lifespan, all middleware) behind httpx's ASGI transport,
so everything but uvicorn's HTTP parsing is in the profile. Prints pyinstrument's text report
and the mean time per request.
"""

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr
from pyinstrument import Profiler
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.crypto import SecretBox
from app.core.db import make_engine, make_sessionmaker
from app.main import create_app
from app.sync.models import Integration, TrackerKind
from app.users import service as users_service
from app.webhooks.models import Delivery
from app.webhooks.signatures import sign

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = (ROOT / "tests/fixtures/github/webhooks/issues/edited.payload.json").read_bytes()
WEBHOOK_SECRET = "bench-secret"
HOOK_NAME = "bench-hotpath"


async def token_for(database_url: str, user: str) -> str:
    async with _session(database_url) as session:
        found = await users_service.get_user_by_name(session, name=user)
        _, secret = await users_service.create_token(
            session, user=found, name="bench-profile", ttl=timedelta(days=1)
        )
        await session.commit()
        return secret


async def hook_integration(database_url: str, key: str) -> int:
    """The `bench-hotpath` GitHub integration, its secret sealed with this run's key."""
    async with _session(database_url) as session:
        found = await session.scalar(select(Integration).where(Integration.name == HOOK_NAME))
        if found is None:
            found = Integration(
                kind=TrackerKind.GITHUB,
                name=HOOK_NAME,
                base_url="https://api.github.com",
                repository="acme/webshop",
            )
            session.add(found)
        found.webhook_secret_sealed = SecretBox([key]).seal(WEBHOOK_SECRET)
        found.enabled = True
        await session.commit()
        return found.id


async def drop_hook(database_url: str, integration_id: int) -> None:
    """The integration and its deliveries go: no worker should ever poll or process them."""
    async with _session(database_url) as session:
        await session.execute(delete(Delivery).where(Delivery.integration_id == integration_id))
        await session.execute(delete(Integration).where(Integration.id == integration_id))
        await session.commit()


@asynccontextmanager
async def _session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def hook_headers() -> dict[str, str]:
    return {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, PAYLOAD),
        "Content-Type": "application/json",
    }


def by_package(c_profile: cProfile.Profile, requests: int) -> str:
    """Own (not cumulative) time per request, by top-level package, then the top functions."""
    stats = pstats.Stats(c_profile)
    packages: dict[str, float] = {}
    functions: list[tuple[float, str]] = []
    for (file, line, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        parts = Path(file).parts
        if "site-packages" in parts:
            package = parts[parts.index("site-packages") + 1]
        elif "app" in parts:
            package = "app/" + "/".join(parts[parts.index("app") + 1 :])
        else:
            package = Path(file).name if file != "~" else "<builtins>"
        packages[package] = packages.get(package, 0.0) + own
        functions.append((own, f"{package}:{line} {name}"))
    cumulative = {
        f"{Path(file).name}:{name}": total
        for (file, _, name), (_, _, _, total, _) in stats.stats.items()  # type: ignore[attr-defined]
        if "/app/" in file or name in ("solve_dependencies", "serialize_response")
    }
    lines = [f"{own / requests * 1000:7.3f} ms  {package}" for package, own in packages.items()]
    lines.sort(reverse=True)
    top = sorted(functions, reverse=True)[:40]
    lines += ["", *(f"{own / requests * 1000:7.3f} ms  {where}" for own, where in top)]
    spans = sorted(((total, where) for where, total in cumulative.items()), reverse=True)[:30]
    lines += ["", "cumulative (app functions):"]
    lines += [f"{total / requests * 1000:7.3f} ms  {where}" for total, where in spans]
    return "\n".join(lines[:40] + lines[len(packages) :]) + "\n"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--path", default="/api/v1/items?sprint_id=none&limit=50")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body")
    parser.add_argument("--token-user", default="bench-admin")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--webhook", action="store_true", help="signed GitHub deliveries")
    parser.add_argument(
        "--cpu", action="store_true", help="no profiler: CPU and wall time per request only"
    )
    parser.add_argument(
        "--by-package", action="store_true", help="cProfile own time per package instead"
    )
    return parser.parse_args()


Call = Callable[[], Awaitable[None]]


async def _measure(args: argparse.Namespace, call: Call) -> float:
    """Runs `args.requests` calls the way `args` asks, writes the report; the wall seconds."""
    started = time.perf_counter()
    if args.cpu:
        cpu = time.process_time()
        for _ in range(args.requests):
            await call()
        cpu_ms = (time.process_time() - cpu) / args.requests * 1000
        sys.stdout.write(f"{cpu_ms:.3f} ms CPU per request (client included)\n")
    elif args.by_package:
        c_profile = cProfile.Profile(time.process_time)  # CPU, not waiting
        with c_profile:
            for _ in range(args.requests):
                await call()
        sys.stdout.write(by_package(c_profile, args.requests))
    else:
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        with profiler:
            for _ in range(args.requests):
                await call()
        sys.stdout.write(profiler.output_text(unicode=True, show_all=False))
    return time.perf_counter() - started


async def main() -> None:
    args = _arguments()
    token = await token_for(args.database_url, args.token_user)
    key = SecretStr(Fernet.generate_key().decode())
    hook = await hook_integration(args.database_url, key.get_secret_value()) if args.webhook else 0
    settings = Settings(
        database_url=args.database_url,
        log_level="WARNING",
        secret_key=key,
        rate_limit="999999999/60",  # counted, never reached
    )
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def call() -> None:
                if args.webhook:
                    response = await client.post(
                        f"/api/v1/webhooks/github/{hook}", headers=hook_headers(), content=PAYLOAD
                    )
                else:
                    response = await client.request(
                        args.method, args.path, headers=headers, content=args.body
                    )
                if not response.is_success:
                    raise SystemExit(f"{response.status_code}: {response.text[:300]}")

            for _ in range(50):
                await call()
            elapsed = await _measure(args, call)
    if args.webhook:
        await drop_hook(args.database_url, hook)
    sys.stdout.write(f"\n{elapsed / args.requests * 1000:.2f} ms wall per request\n")


if __name__ == "__main__":
    asyncio.run(main())
