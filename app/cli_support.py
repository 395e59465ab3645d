"""What every `backlog-bridge` command shares: how a failure is worded, settings, sessions.

A mistake is one line `error: ...` on stderr and a non-zero exit (2 for usage), never a
traceback: the person at the terminal needs the reason, not our call stack.
"""

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.crypto import SecretBox, secret_box
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import AppError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
USAGE = 2  # argparse's exit status for a bad command line; ours for bad argument values
logger = logging.getLogger("app.cli")


class CliError(Exception):
    """A mistake the person can fix, worded for them; `code` 2 when it is one of usage."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def report(exc: BaseException) -> int:
    """Print `exc` as one `error:` line; return the exit status."""
    message, code = _describe(exc)
    print(f"error: {message}", file=sys.stderr)
    return code


def _describe(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, AppError):
        return exc.detail or exc.title, 1
    if isinstance(exc, ValidationError):
        return _first_problem(exc), USAGE
    # Anything else is our fault, not the person's: one line still, the stack for a bug report.
    logger.debug("unexpected failure", exc_info=exc)
    return (
        f"unexpected {type(exc).__name__}: {exc} (BB_LOG_LEVEL=DEBUG shows where it happened)",
        1,
    )


def _first_problem(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """`--email: String should match pattern ...`: the first of pydantic's errors, by our name."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    name = (names or {}).get(field, field)
    extra = len(exc.errors()) - 1
    more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
    return f"{name}: {error['msg']}{more}"


def quiet_routine_logs(command: str) -> None:
    """Alembic's chatter only for `migrate`, whose progress it is; elsewhere only its warnings."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if command != "migrate":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def load_settings() -> Settings:
    """The `BB_*` settings; a bad one is named by its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        names = {field: f"BB_{field.upper()}" for field in Settings.model_fields}
        raise CliError(f"invalid setting {_first_problem(exc, names)}") from exc


def checked_secret_box(settings: Settings) -> SecretBox:
    """The box of `BB_SECRET_KEY`, or a one-line error saying what is wrong with it."""
    try:
        return secret_box(settings)
    except (RuntimeError, ValueError) as exc:  # missing on PostgreSQL; not a Fernet key
        message = str(exc)
        raise CliError(
            message if "BB_SECRET_KEY" in message else f"BB_SECRET_KEY: {message}"
        ) from exc


def validated(model: type[M], options: dict[str, str], **values: Any) -> M:
    """`model` built from command-line values; `options` maps its fields to option names."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise CliError(_first_problem(exc, options), code=USAGE) from exc


def shown_url(database_url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unreadable BB_DATABASE_URL)"


@contextlib.contextmanager
def about_database(database_url: str) -> Iterator[None]:
    """A database that is missing, unreachable or refuses us becomes one line naming it."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise CliError(f"database {shown_url(database_url)}: {reason}") from exc
    except (OSError, SQLAlchemyError) as exc:  # refused, unknown host, timeout, bad URL
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"database {shown_url(database_url)}: {reason}") from exc


def run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` in one session and transaction, committed when it returns."""

    async def run() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    with about_database(settings.database_url):
        return asyncio.run(run())
