"""The two reference apps of issue #9, served like `backlog-bridge serve` serves the real one.

    python bench/refapps.py memory --port 8101 --page-file page.json
    python bench/refapps.py driver --port 8102 --database-url postgresql://.../bench_perf_1m

- `memory` (reference a, the HTTP+JSON ceiling): a bare FastAPI app whose one endpoint returns
  a 50-object JSON list held in memory (`--page-file`: the items of a real first backlog page,
  so the payload is the same size as the app's; FastAPI's default serialisation).
- `driver` (reference b, the DB-backed ceiling): a bare FastAPI endpoint doing the backlog
  keyset page (`sprint_id IS NULL`, `ORDER BY rank, id`, 51 rows) straight through the driver
  (an asyncpg pool of `BB_DB_POOL_SIZE`, default 10, or aiosqlite connections), returning the
  rows as a list of objects. `?rank=…&id=…` continues after that row (the deep page).

Both run under uvicorn with `app.cli.UVICORN_OPTIONS`, one worker, on 127.0.0.1: the same
settings as `backlog-bridge serve`. No middleware, no auth, no ORM, no response model.
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.cli import UVICORN_OPTIONS

PAGE = 50
FIRST = "SELECT * FROM backlog_items WHERE sprint_id IS NULL ORDER BY rank, id LIMIT {n}"
AFTER = (
    "SELECT * FROM backlog_items WHERE sprint_id IS NULL AND (rank, id) > ({r}, {i}) "
    "ORDER BY rank, id LIMIT {n}"
)


def memory_app() -> FastAPI:
    items: list[dict[str, Any]] = json.loads(Path(os.environ["BENCH_PAGE_FILE"]).read_text())
    app = FastAPI()

    @app.get("/ref/memory")
    async def page() -> list[dict[str, Any]]:
        return items

    return app


class _SqlitePool:
    """aiosqlite connections handed out one request at a time (aiosqlite has no pool)."""

    def __init__(self, path: str, size: int) -> None:
        self.path, self.size = path, size
        self.free: asyncio.Queue[Any] = asyncio.Queue()

    async def open(self) -> None:
        import aiosqlite

        for _ in range(self.size):
            connection = await aiosqlite.connect(self.path)
            connection.row_factory = aiosqlite.Row
            await connection.execute("PRAGMA journal_mode=WAL")
            self.free.put_nowait(connection)

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        connection = await self.free.get()
        try:
            cursor = await connection.execute(query, args)
            return [dict(row) for row in await cursor.fetchall()]
        finally:
            self.free.put_nowait(connection)

    async def close(self) -> None:
        while not self.free.empty():
            await self.free.get_nowait().close()


def driver_app() -> FastAPI:
    url = make_url(os.environ["BB_DATABASE_URL"])
    size = int(os.environ.get("BB_DB_POOL_SIZE", "10"))
    sqlite = url.drivername.startswith("sqlite")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if sqlite:
            pool = _SqlitePool(str(url.database), size)
            await pool.open()
            state["fetch"] = pool.fetch
            yield
            await pool.close()
            return
        import asyncpg

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        async with asyncpg.create_pool(dsn, min_size=size, max_size=size) as pg:

            async def fetch(query: str, *args: Any) -> list[dict[str, Any]]:
                return [dict(row) for row in await pg.fetch(query, *args)]

            state["fetch"] = fetch
            yield

    app = FastAPI(lifespan=lifespan)
    marks = ("?", "?", "?") if sqlite else ("$1", "$2", "$3")
    first = FIRST.format(n=marks[0])
    after = AFTER.format(r=marks[0], i=marks[1], n=marks[2])

    @app.get("/ref/driver")
    async def page(rank: str | None = None, id: int | None = None) -> dict[str, Any]:
        if rank is None or id is None:
            rows = await state["fetch"](first, PAGE + 1)
        else:
            rows = await state["fetch"](after, rank, id, PAGE + 1)
        last = rows[PAGE - 1] if len(rows) > PAGE else None
        cursor = {"rank": last["rank"], "id": last["id"]} if last else None
        return {"items": rows[:PAGE], "next": cursor}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["memory", "driver"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-file", help="memory: a JSON list of the 50 objects to serve")
    parser.add_argument("--database-url", help="driver: the database (else BB_DATABASE_URL)")
    args = parser.parse_args()
    if args.page_file:
        os.environ["BENCH_PAGE_FILE"] = args.page_file
    if args.database_url:
        os.environ["BB_DATABASE_URL"] = args.database_url
    uvicorn.run(
        f"refapps:{args.which}_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        app_dir=str(Path(__file__).resolve().parent),
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
