"""Opaque keyset cursors and the `Link: rel="next"` header."""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator

from app.core.errors import BadRequest, UnprocessableEntity

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
T = TypeVar("T")

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


def page_of(rows: Sequence[T], limit: int) -> tuple[list[T], T | None]:
    """Split rows fetched with `limit + 1`: the page, and its last row when more follow."""
    if len(rows) > limit:
        return list(rows[:limit]), rows[limit - 1]
    return list(rows), None


@dataclass(frozen=True)
class Keyset:
    """A sort order (`field` or `-field`, nulls last, ties by id) and its keyset condition."""

    name: str
    column: InstrumentedAttribute[Any]
    descending: bool
    tie_breaker: InstrumentedAttribute[int]

    @classmethod
    def parse(
        cls,
        sort: str,
        columns: dict[str, InstrumentedAttribute[Any]],
        *,
        tie_breaker: InstrumentedAttribute[int],
    ) -> "Keyset":
        name = sort.removeprefix("-")
        if name not in columns:
            raise UnprocessableEntity(
                f"sort must be one of {', '.join(columns)} (prefix - for descending).",
                errors=[{"loc": ["query", "sort"], "msg": f"unknown sort field {name!r}"}],
            )
        return cls(name, columns[name], sort.startswith("-"), tie_breaker)

    def order_by(self) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        ordered = self.column.desc() if self.descending else self.column.asc()
        return ordered.nulls_last(), self.tie_breaker.asc()

    def after(self, value: Any, last_id: int) -> ColumnElement[bool]:
        if value is None:  # already in the trailing run of nulls
            return and_(self.column.is_(None), self.tie_breaker > last_id)
        beyond = self.column < value if self.descending else self.column > value
        tie = and_(self.column == value, self.tie_breaker > last_id)
        return or_(beyond, tie, self.column.is_(None))

    def encode(self, row: Any) -> str:
        return encode_cursor({"s": self.name, "v": getattr(row, self.name), "i": row.id})

    def decode(self, cursor: str) -> tuple[Any, int]:
        position = decode_cursor(cursor)
        last_id, raw = position.get("i"), position.get("v")
        if position.get("s") != self.name or not isinstance(last_id, int):
            raise InvalidCursor("The cursor belongs to another sort order or is damaged.")
        if raw is None:
            return None, last_id
        try:
            return _typed(_python_type(self.column), raw), last_id
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("The cursor is damaged.") from exc


def _python_type(column: InstrumentedAttribute[Any]) -> type:
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime: its impl knows the type
        column_type = column_type.impl_instance
    python_type: type = column_type.python_type
    return python_type


def _typed(python_type: type, raw: Any) -> Any:
    if python_type is datetime:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return value
    if python_type is date:
        return date.fromisoformat(raw)
    if not isinstance(raw, python_type) or isinstance(raw, bool):
        raise TypeError(f"expected {python_type.__name__}")
    return raw


async def keyset_page(
    session: AsyncSession,
    query: Select[T],
    *,
    keyset: Keyset,
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """One page of `query` in `keyset` order, and the cursor of the next page (if any)."""
    if cursor is not None:
        query = query.where(keyset.after(*keyset.decode(cursor)))
    rows = (await session.scalars(query.order_by(*keyset.order_by()).limit(limit + 1))).all()
    page, last = page_of(rows, limit)
    return page, keyset.encode(last) if last is not None else None
