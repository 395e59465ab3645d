"""Opaque keyset cursors and the `Link: rel="next"` header."""

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query, Request, Response

from app.core.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 200).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`.")
]


class InvalidCursor(BadRequest):
    slug, title = "invalid-cursor", "Invalid cursor"


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("The cursor is not one this service issued.") from exc
    if not isinstance(position, dict):
        raise InvalidCursor("The cursor is not one this service issued.")
    return position


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    if next_cursor is not None:
        url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'


def encode_id_cursor(last_id: int | None) -> str | None:
    return None if last_id is None else encode_cursor({"id": last_id})


def decode_id_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    last_id = decode_cursor(cursor).get("id")
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise InvalidCursor("The cursor is not one this service issued.")
    return last_id
