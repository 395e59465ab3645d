"""Opaque keyset cursors, signed by the service, and the `Link: rel="next"` header."""

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard, TypeVar

from fastapi import Query, Request, Response
from sqlalchemy import ColumnElement, Select, and_, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator
from starlette.datastructures import URL

from app.core.errors import BadRequest, UnprocessableEntity
from app.core.schemas import ASCII_DIGITS, Page

if TYPE_CHECKING:
    from app.core.crypto import SecretBox

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# A keyset cursor holds its row's sort value: a 200-character title of 4-byte characters
# takes ~1.1k characters, so 512 refused cursors the service itself had issued.
MAX_CURSOR_LENGTH = 2048
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 200)."), ASCII_DIGITS]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="Opaque cursor from `next_cursor`."),
]


class InvalidCursor(BadRequest):
    slug, title = "invalid-cursor", "Invalid cursor"


NOT_ISSUED = "The cursor is not one this service issued."
_SIGNED = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})")  # payload.tag, base64url
_TAG_BYTES = 16
# The key signing the cursors of the request at hand: the app's, set for each request by the
# outermost middleware (`app.core.middleware`), before any route. Outside a request (a script,
# a test) a fixed key no server signs with, so such a cursor is refused by every server.
_NO_APP_KEY = hashlib.sha256(b"backlog-bridge: cursors outside an app").digest()
_cursor_key: ContextVar[bytes] = ContextVar("cursor_key", default=_NO_APP_KEY)


def cursor_key(box: "SecretBox") -> bytes:
    """The app's cursor key, derived from `BB_SECRET_KEY`: every worker process has it."""
    return box.derived_key("cursors")


def use_cursor_key(key: bytes) -> None:
    _cursor_key.set(key)


def encode_cursor(position: dict[str, Any]) -> str:
    text = json.dumps(position, separators=(",", ":"), ensure_ascii=False, default=str)
    raw = text.encode("utf-8", "surrogatepass")  # as json.loads reads it: never an error here
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_tag(payload)}"


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position a cursor holds, if this service signed it; else `InvalidCursor`. Its values
    are still the caller's to check against their types (`Keyset.decode`, `is_db_int`)."""
    signed = _SIGNED.fullmatch(cursor)
    if signed is None or not hmac.compare_digest(signed[2], _tag(signed[1])):
        raise InvalidCursor(NOT_ISSUED)
    try:
        position = json.loads(base64.urlsafe_b64decode(signed[1] + "=" * (-len(signed[1]) % 4)))
    except (binascii.Error, ValueError) as exc:  # a key that leaked, or a bug: still a 400
        raise InvalidCursor(NOT_ISSUED) from exc
    if not isinstance(position, dict):
        raise InvalidCursor(NOT_ISSUED)
    return position


def _tag(payload: str) -> str:
    digest = hmac.digest(_cursor_key.get(), payload.encode(), "sha256")[:_TAG_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    if next_cursor is not None:
        response.headers["Link"] = next_link(request.url, next_cursor)


def next_link(url: URL, next_cursor: str) -> str:
    return f'<{url.include_query_params(cursor=next_cursor)}>; rel="next"'


def encode_id_cursor(last_id: int | None) -> str | None:
    return None if last_id is None else encode_cursor({"id": last_id})


def decode_id_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    last_id = decode_cursor(cursor).get("id")
    if not is_db_int(last_id):
        raise InvalidCursor(NOT_ISSUED)
    return int(last_id)


def is_db_int(value: object, *, bits: int = 32) -> TypeGuard[int]:
    """An integer the database can compare with (not a bool, within the column's range)."""
    limit = 2 ** (bits - 1)
    return isinstance(value, int) and not isinstance(value, bool) and -limit <= value < limit


def row_limit(count: int) -> ColumnElement[int]:
    """A LIMIT written into the statement's text on execution: with `LIMIT $n` PostgreSQL's
    generic plan expects a tenth of the table, so it planned every call of a big table's page
    afresh (0.4 ms of CPU each on the backlog)."""
    return literal(count, literal_execute=True)


def page_of(rows: Sequence[T], limit: int) -> tuple[list[T], T | None]:
    """Split rows fetched with `limit + 1`: the page, and its last row when more follow."""
    if len(rows) > limit:
        return list(rows[:limit]), rows[limit - 1]
    return list(rows), None


@dataclass(frozen=True)
class Keyset:
    """A sort order (`field` or `-field`; ties by id in the same direction; nulls last).

    Conditions are row comparisons, `(field, id) > (value, last_id)`, so PostgreSQL and SQLite
    answer a deep page with an index range scan rather than by skipping rows. A nullable
    field is paged in two runs, its values first and then its nulls, each in index order.
    """

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

    @property
    def nullable(self) -> bool:
        return bool(self.column.nullable) and self.column is not self.tie_breaker

    def order_by(self, column: InstrumentedAttribute[Any]) -> tuple[ColumnElement[Any], ...]:
        columns = (column, self.tie_breaker) if column is not self.tie_breaker else (column,)
        return tuple(c.desc() if self.descending else c.asc() for c in columns)

    def beyond(self, value: Any, last_id: int) -> ColumnElement[bool]:
        """Rows after (value, last_id) in this order; value None means the run of nulls."""
        if value is None:
            after_id = self.tie_breaker < last_id if self.descending else self.tie_breaker > last_id
            return and_(self.column.is_(None), after_id)
        if self.column is self.tie_breaker:
            row, bound = tuple_(self.column), tuple_(value)
        else:
            row, bound = tuple_(self.column, self.tie_breaker), tuple_(value, last_id)
        beyond: ColumnElement[bool] = row < bound if self.descending else row > bound
        return beyond

    def encode(self, row: Any) -> str:
        return self.encode_position(getattr(row, self.name), row.id)

    def encode_position(self, value: Any, row_id: int) -> str:
        return encode_cursor({"s": self.name, "v": value, "i": row_id})

    def decode(self, cursor: str) -> tuple[Any, int]:
        position = decode_cursor(cursor)
        last_id, raw = position.get("i"), position.get("v")
        if position.get("s") != self.name or not is_db_int(last_id):
            raise InvalidCursor("The cursor belongs to another sort order or is damaged.")
        if raw is None and self.nullable:
            return None, last_id
        try:
            return _typed(python_type_of(self.column), raw), last_id
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidCursor("The cursor is damaged.") from exc


def python_type_of(column: Any) -> type:
    """The Python type of a column's values (a mapped attribute or a table column)."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime: its impl knows the type
        column_type = column_type.impl_instance
    python_type: type = column_type.python_type
    return python_type


def _typed(python_type: type, raw: Any) -> Any:
    """The cursor's value as the column's type, or TypeError, ValueError or OverflowError for
    one the database could not compare with (an error there would be a 500)."""
    if python_type is datetime:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return value.astimezone(UTC)  # OverflowError past year 1..9999 in UTC
    if python_type is date:
        return date.fromisoformat(raw)
    if not isinstance(raw, python_type) or isinstance(raw, bool):
        raise TypeError(f"expected {python_type.__name__}")
    if isinstance(raw, int) and not is_db_int(raw):
        raise ValueError("out of range")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError("not a finite number")
    if isinstance(raw, str) and ("\x00" in raw or _unencodable(raw)):
        raise ValueError("NUL or a lone surrogate")
    return raw


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


async def keyset_page(
    session: AsyncSession,
    query: Select[T],
    *,
    keyset: Keyset,
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """One page of `query` in `keyset` order, and the cursor of the next page (if any)."""
    value, last_id = keyset.decode(cursor) if cursor is not None else (None, None)
    rows: list[T] = []
    values_left = cursor is None or value is not None
    if values_left:  # the rows with a value (all rows, for a NOT NULL field)
        run = query.where(keyset.column.is_not(None)) if keyset.nullable else query
        if last_id is not None:
            run = run.where(keyset.beyond(value, last_id))
        rows += (
            await session.scalars(
                run.order_by(*keyset.order_by(keyset.column)).limit(row_limit(limit + 1))
            )
        ).all()
    if keyset.nullable and len(rows) <= limit:  # then the nulls, by id
        run = query.where(keyset.column.is_(None))
        if last_id is not None and not values_left:
            run = run.where(keyset.beyond(None, last_id))
        rows += (
            await session.scalars(
                run.order_by(*keyset.order_by(keyset.tie_breaker)).limit(
                    row_limit(limit + 1 - len(rows))
                )
            )
        ).all()
    page, last = page_of(rows, limit)
    return page, keyset.encode(last) if last is not None else None


def id_page(request: Request, response: Response, items: list[T], last_id: int | None) -> "Page[T]":
    """A page continued by id, with its `next_cursor` and `Link: rel="next"` header."""
    next_cursor = encode_id_cursor(last_id)
    set_next_link(request, response, next_cursor)
    return Page[T](items=items, next_cursor=next_cursor)
