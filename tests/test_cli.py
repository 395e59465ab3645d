"""The real `backlog-bridge` command line, run as a subprocess.

A mistake is one line `error: ...` on stderr and a non-zero exit (2 for usage), never a
traceback; the account commands act on the database; log lines are text on a terminal.
"""

import asyncio
import os
import pty
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from app.core.db import make_engine
from app.core.migrations import downgrade, upgrade
from tests.databases import POSTGRES_URL, throwaway_database

CLI = [sys.executable, "-m", "app.cli"]
MISSING_POSTGRES = POSTGRES_URL.rsplit("/", 1)[0] + "/bb_no_such_database"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


def assert_one_error(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    """Exit `code`, and stderr exactly one `error:` line holding each of `parts`."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "BB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_version_names_the_release(sqlite_env: dict[str, str]) -> None:
    done = run(sqlite_env, "--version")
    assert done.returncode == 0
    assert re.fullmatch(r"backlog-bridge \d+\.\d+\.\d+\S*\n", done.stdout)


@pytest.mark.parametrize(
    ("args", "code", "parts"),
    [
        (["users", "create", "--name", "", "--role", "admin"], 2, ["--name", "at least 1"]),
        (["users", "create", "--name", "x", "--role", "it", "--email", "no"], 2, ["--email"]),
        (["users", "create", "--name", "x", "--role", "boss"], 2, ["--role", "boss"]),
        (["users", "create", "--role", "it"], 2, ["--name"]),
        (["users", "update", "nobody"], 2, ["--role", "--active"]),
        (["users", "update", "nobody", "--active", "maybe"], 2, ["--active", "maybe"]),
        (["users", "update", "nobody", "--role", "it"], 1, ["user nobody does not exist"]),
        (["tokens", "list", "--user", "nobody"], 1, ["user nobody does not exist"]),
        (["tokens", "revoke", "99"], 1, ["token 99 does not exist"]),
        (["tokens", "revoke", "\u0663"], 2, ["ID"]),  # an Arabic-Indic three is no id
        (["serve", "--workers", "0"], 2, ["--workers"]),
        (["nonsense"], 2, ["nonsense"]),
    ],
)
def test_a_mistake_is_one_error_line_and_no_traceback(
    sqlite_env: dict[str, str], tmp_path: Path, args: list[str], code: int, parts: list[str]
) -> None:
    assert_one_error(run(sqlite_env, *args), code, *parts)
    if code == 2:  # refused before the database was touched: not even created
        assert not (tmp_path / "cli.db").exists()


def test_a_name_taken_is_one_error_line(sqlite_env: dict[str, str]) -> None:
    assert run(sqlite_env, "users", "create", "--name", "ann", "--role", "it").returncode == 0
    again = run(sqlite_env, "users", "create", "--name", "ann", "--role", "admin")
    assert_one_error(again, 1, "'ann' already exists")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BB_LOG_LEVEL", "loud"),
        ("BB_LOG_FORMAT", "xml"),
        ("BB_TOKEN_TTL_DAYS", "soon"),
        ("BB_WORKER_START_TIMEOUT_S", "0"),
        ("BB_DATABASE_URL", "mysql://root@localhost/db"),
        ("BB_DATABASE_URL", "not a url"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    sqlite_env: dict[str, str], variable: str, value: str
) -> None:
    done = run({**sqlite_env, variable: value}, "migrate")
    assert_one_error(done, 1, f"invalid setting {variable}")


def test_migrate_against_a_missing_postgresql_database_says_so(sqlite_env: dict[str, str]) -> None:
    done = run({**sqlite_env, "BB_DATABASE_URL": MISSING_POSTGRES}, "migrate")
    assert_one_error(done, 1, "bb_no_such_database", "does not exist")


def test_an_unreachable_database_is_named_without_its_password(
    sqlite_env: dict[str, str],
) -> None:
    url = "postgresql://bb:hunter2@127.0.0.1:1/bb"  # nothing listens on port 1
    done = run({**sqlite_env, "BB_DATABASE_URL": url}, "migrate", "--check")
    line = assert_one_error(done, 1, "127.0.0.1:1")
    assert "hunter2" not in line


def test_serve_on_postgresql_without_a_secret_key_says_why(sqlite_env: dict[str, str]) -> None:
    env = {**sqlite_env, "BB_DATABASE_URL": POSTGRES_URL}
    env.pop("BB_SECRET_KEY", None)
    assert_one_error(run(env, "serve", "--port", "1"), 1, "BB_SECRET_KEY is required")
    bad_key = run({**env, "BB_SECRET_KEY": "not-a-fernet-key"}, "serve", "--port", "1")
    assert_one_error(bad_key, 1, "BB_SECRET_KEY")


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_users_and_tokens_are_listed_updated_and_revoked(sqlite_env: dict[str, str]) -> None:
    run(sqlite_env, "users", "create", "--name", "root", "--role", "admin")
    run(sqlite_env, "users", "create", "--name", "it1", "--role", "it", "--email", "i@x.example")
    run(sqlite_env, "tokens", "create", "--user", "it1", "--name", "ci")

    listing = run(sqlite_env, "users", "list").stdout.splitlines()
    assert listing[0].split() == ["ID", "NAME", "ROLE", "ACTIVE", "EMAIL"]
    assert [row.split()[1:] for row in listing[1:]] == [
        ["root", "admin", "yes", "-"],
        ["it1", "it", "yes", "i@x.example"],
    ]
    assert [
        r.split()[1]
        for r in run(sqlite_env, "users", "list", "--role", "it").stdout.splitlines()[1:]
    ] == ["it1"]

    promoted = run(sqlite_env, "users", "update", "it1", "--role", "security")
    assert "role security" in _last_line(promoted)
    tokens = run(sqlite_env, "tokens", "list", "--user", "it1").stdout.splitlines()
    assert [row.split()[1:3] for row in tokens[1:]] == [["cli", "active"], ["ci", "active"]]
    first_id = tokens[1].split()[0]
    assert "is revoked" in _last_line(run(sqlite_env, "tokens", "revoke", first_id))
    tokens = run(sqlite_env, "tokens", "list", "--user", "it1").stdout.splitlines()
    assert [row.split()[2] for row in tokens[1:]] == ["revoked", "active"]

    # Deactivating revokes every token; the last active admin may not be deactivated.
    assert "inactive" in _last_line(run(sqlite_env, "users", "update", "it1", "--active", "false"))
    tokens = run(sqlite_env, "tokens", "list", "--user", "it1").stdout.splitlines()
    assert [row.split()[2] for row in tokens[1:]] == ["revoked", "revoked"]
    last_admin = run(sqlite_env, "users", "update", "root", "--active", "false")
    assert_one_error(last_admin, 1, "last active admin")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migrate_check_exits_1_behind_head_and_0_at_it(backend: str, tmp_path: Path) -> None:
    async with throwaway_database(backend, tmp_path) as url:
        env = {
            **os.environ,
            "BB_DATABASE_URL": url,
            "BB_SECRET_KEY": Fernet.generate_key().decode(),
        }
        never = await asyncio.to_thread(run, env, "migrate", "--check")
        assert never.returncode == 1, never.stderr
        assert "run `backlog-bridge migrate`" in never.stdout
        await asyncio.to_thread(upgrade, url)
        at_head = await asyncio.to_thread(run, env, "migrate", "--check")
        assert at_head.returncode == 0, at_head.stderr
        assert "at head" in at_head.stdout
        await asyncio.to_thread(downgrade, url, "-1")
        behind = await asyncio.to_thread(run, env, "migrate", "--check")
        assert behind.returncode == 1, behind.stderr
        assert "behind head" in behind.stdout
        await _set_revision(url, "from_a_newer_release")
        ahead = await asyncio.to_thread(run, env, "migrate", "--check")
        assert ahead.returncode == 0, ahead.stderr
        assert "ahead of this release" in ahead.stdout


async def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
            )
    finally:
        await engine.dispose()


def test_migrate_check_leaves_no_sqlite_file_behind(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    env = {**os.environ, "BB_DATABASE_URL": f"sqlite:///{database}"}
    done = run(env, "migrate", "--check")
    assert done.returncode == 1
    assert "does not exist yet" in done.stdout
    assert not database.exists()


def _stderr_on_a_terminal(env: dict[str, str], *args: str) -> str:
    """Run with stderr on a pseudo-terminal, as a person at a shell would."""
    reader, writer = pty.openpty()
    try:
        done = subprocess.run(
            [*CLI, *args],
            env=env,
            stderr=writer,
            stdout=subprocess.DEVNULL,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0
        os.close(writer)
        writer = -1
        chunks = []
        while True:
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # the terminal's other side is closed: all read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(reader)
        if writer != -1:
            os.close(writer)


def test_log_lines_are_text_on_a_terminal_and_json_otherwise(sqlite_env: dict[str, str]) -> None:
    terminal = _stderr_on_a_terminal(sqlite_env, "migrate").splitlines()
    assert terminal, "migrate logs what it does"
    assert all(re.match(r"\d\d:\d\d:\d\d INFO +alembic\.", line) for line in terminal), terminal

    piped = run(sqlite_env, "migrate").stderr.splitlines()
    assert piped
    assert all(line.startswith('{"at": ') for line in piped), piped

    text_lines = run({**sqlite_env, "BB_LOG_FORMAT": "text"}, "migrate").stderr.splitlines()
    assert text_lines
    assert all(re.match(r"\d\d:\d\d:\d\d INFO ", line) for line in text_lines), text_lines
    json_on_terminal = _stderr_on_a_terminal({**sqlite_env, "BB_LOG_FORMAT": "json"}, "migrate")
    assert all(line.startswith('{"at": ') for line in json_on_terminal.splitlines())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_taken_port_ends_with_one_error_line(
    sqlite_env: dict[str, str], workers: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run(sqlite_env, "serve", "--port", port, "--workers", workers)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr
    assert "address already in use" in done.stderr.lower()  # uvicorn's log line says why
