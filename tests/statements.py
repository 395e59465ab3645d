"""What a test's app ran on the database: statements recorded off the engine."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_TEST_SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")


@contextmanager
def recorded(engine: AsyncEngine, *, starting: str | tuple[str, ...] = "") -> Iterator[list[str]]:
    """The statements run on `engine` meanwhile (those `starting` so, if given), without the
    SAVEPOINTs that keep each test in its own transaction."""
    seen: list[str] = []

    def on_execute(_conn: object, _cursor: object, statement: str, *rest: object) -> None:
        if statement.startswith(starting) and not statement.startswith(_TEST_SAVEPOINTS):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
