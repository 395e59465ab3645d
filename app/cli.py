"""`backlog-bridge` command line: serve, migrate, worker, users, tokens, openapi, demo.

A mistake is one line `error: ...` on stderr and a non-zero exit (2 for usage), never a
traceback. This module imports only the standard library at the top: `serve --workers N`
starts each worker process by importing it afresh, and a worker that is still importing
cannot answer its supervisor; each command imports what it needs when it runs.
"""

import argparse
import sys
from importlib import metadata
from typing import Any, NoReturn

# How `serve` runs uvicorn (bench/refapps.py serves its reference apps the same way).
UVICORN_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False, "proxy_headers": False}
ROLES = ("marketing", "it", "security", "admin")  # app.users.models.Role, without importing it
USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, as every other mistake (argparse would print the usage first)."""
        self.exit(USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def positive_int(text: str) -> int:
    """An integer of ASCII digits, at least 1 (`int()` alone takes `٣` and `-1`)."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def boolean(text: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.lower() not in words:
        raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")
    return words[text.lower()]


def _version() -> str:
    try:
        return metadata.version("backlog-bridge")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP API (migrates first on SQLite)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=positive_int, default=8000)
    serve.add_argument("--workers", type=positive_int, default=1, help="processes (default 1)")
    serve.add_argument(
        "--worker-start-timeout",
        type=positive_int,
        default=None,
        metavar="S",
        help="with --workers > 1: seconds a worker may take to start (and, once started, to "
        "answer its supervisor) before it is replaced (default BB_WORKER_START_TIMEOUT_S, 60)",
    )
    serve.add_argument(
        "--timeout-keep-alive",
        type=positive_int,
        default=5,
        help="seconds an idle keep-alive connection stays open (uvicorn's; default 5)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=positive_int,
        default=None,
        help="answer 503 beyond this many open connections per process (default: no limit)",
    )


def _add_users(commands: Any) -> None:
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user; prints its token last")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--email")
    listing = users.add_parser("list", help="list users")
    listing.add_argument("--role", choices=ROLES, help="only users with this role")
    update = users.add_parser(
        "update", help="change a user's role, email or active flag (inactive: tokens revoked)"
    )
    update.add_argument("name", metavar="NAME")
    update.add_argument("--role", choices=ROLES)
    update.add_argument("--email")
    update.add_argument("--active", type=boolean, metavar="true|false")


def _add_tokens(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", help="issue a token for a user; prints it last")
    create.add_argument("--user", required=True, help="the user's name")
    create.add_argument("--name", default="cli")
    listing = tokens.add_parser("list", help="list a user's tokens (never their secrets)")
    listing.add_argument("--user", required=True, help="the user's name")
    revoke = tokens.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=positive_int, metavar="ID")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backlog-bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    migrate = commands.add_parser(
        "migrate", help="bring the database schema to the newest revision"
    )
    migrate.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 when the database is behind this release, 0 at its head",
    )
    worker = commands.add_parser("worker", help="deliver outbox jobs to Jira and GitHub")
    worker.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    commands.add_parser("openapi", help="print the OpenAPI document as JSON")
    commands.add_parser(
        "demo", help="load demo users and requests; prints the demo admin's token last"
    )
    _add_users(commands)
    _add_tokens(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    updating = args.command == "users" and args.action == "update"
    if updating and args.role is None and args.email is None and args.active is None:
        parser.error("users update: give at least one of --role, --email, --active")
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130  # the shell's convention for Ctrl-C; the person knows why
    except Exception as exc:
        from app.cli_support import report

        return report(exc)


def _run(args: argparse.Namespace) -> int:
    from app.cli_support import load_settings, quiet_routine_logs
    from app.core.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    quiet_routine_logs(args.command)
    if args.command == "serve":
        from app.cli_serve import serve

        return serve(args, settings)
    if args.command == "openapi":
        print(openapi_json())  # the committed openapi/openapi.json ends with this blank line
        return 0
    if args.command in ("users", "tokens"):
        from app.cli_accounts import run_account_command

        return run_account_command(args, settings)
    from app.cli_ops import run_ops_command

    return run_ops_command(args, settings)


def openapi_json() -> str:
    import json

    from app.core.config import Settings
    from app.main import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.exit(main())
