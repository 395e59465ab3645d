"""The fast lane's own pool (PostgreSQL): JSON both ways as the ORM has it, and a pooled
connection the server dropped is replaced without the caller seeing it."""

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
