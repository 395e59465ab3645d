"""Checks every request passes before any route runs."""

from fastapi import Request

from app.core.errors import BadRequest


async def reject_nul_query(request: Request) -> None:
    """NUL characters in query parameters are a 400 (PostgreSQL cannot store or compare them)."""
    raw: bytes = request.scope.get("query_string", b"")
    if b"%00" in raw.lower() or b"\x00" in raw:
        raise BadRequest("Query parameters may not contain NUL characters.")
