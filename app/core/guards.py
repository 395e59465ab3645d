"""Checks every request passes before any route runs."""

from fastapi import Request

from app.core.errors import BadRequest
from app.core.pagination import cursor_key, use_cursor_key


async def check_request(request: Request) -> None:
    """Before every FastAPI route (an app-wide dependency): a query holding NUL characters is
    a 400 (PostgreSQL cannot store or compare them), and the cursors the route reads and
    writes are signed with the app's key, so every worker process accepts every other's."""
    raw: bytes = request.scope.get("query_string", b"")
    if b"%00" in raw.lower() or b"\x00" in raw:
        raise BadRequest("Query parameters may not contain NUL characters.")
    box = getattr(request.app.state, "secret_box", None)
    if box is not None:  # None only for a test's app without its lifespan: the process's key
        use_cursor_key(cursor_key(box))
