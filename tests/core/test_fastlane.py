"""The fast lane's own pool (PostgreSQL): JSON both ways as the ORM has it, and a pooled
connection the server dropped is replaced without the caller seeing it."""

import asyncio
from pathlib import Path

import asyncpg

from app.core.fastlane import FastLane
from tests.databases import throwaway_database


async def test_json_goes_both_ways_as_python_values(tmp_path: Path) -> None:
    async with throwaway_database("postgresql", tmp_path) as url:
        lane = await FastLane.open(url, size=1)
        try:
            row = await lane.fetchrow("SELECT $1::jsonb AS b, $2::json AS j", {"a": [1]}, ["é"])
            assert row is not None
            assert (row["b"], row["j"]) == ({"a": [1]}, ["é"])
        finally:
            await lane.close()


async def test_a_connection_the_server_dropped_is_retried_on_a_fresh_one(tmp_path: Path) -> None:
    async with throwaway_database("postgresql", tmp_path) as url:
        lane = await FastLane.open(url, size=1)
        try:
            pid = (await lane.fetch("SELECT pg_backend_pid() AS pid"))[0]["pid"]
            killer = await asyncpg.connect(url.replace("+asyncpg", ""))
            await killer.execute("SELECT pg_terminate_backend($1)", pid)
            await killer.close()
            rows = await lane.fetch("SELECT pg_backend_pid() AS pid")
            assert rows[0]["pid"] != pid
        finally:
            await lane.close()


async def test_callers_are_served_in_turn_while_newcomers_keep_arriving(tmp_path: Path) -> None:
    """A caller waiting for a pooled connection is not overtaken for ever by callers who come
    later (asyncpg's pool alone lets a newcomer take a connection released to a waiter)."""
    async with throwaway_database("postgresql", tmp_path) as url:
        lane = await FastLane.open(url, size=1)
        served: list[int] = []
        flooding = True

        async def early(n: int) -> None:
            await lane.fetch("SELECT $1::int", n)
            served.append(n)

        async def newcomers() -> None:  # one more caller on every turn of the event loop
            calls = []
            while flooding:
                calls.append(asyncio.create_task(lane.fetch("SELECT 1")))
                await asyncio.sleep(0)
            await asyncio.gather(*calls)

        flood = asyncio.create_task(newcomers())
        try:
            await asyncio.sleep(0)
            await asyncio.wait_for(asyncio.gather(*(early(n) for n in range(20))), timeout=10)
        finally:
            flooding = False
            await flood
            await lane.close()
        assert served == list(range(20))
