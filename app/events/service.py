"""Reading the event log: per-entity history and the change feed, as each reader may see it."""

from typing import Any

from sqlalchemy import ColumnClause, Select, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_postgresql
from app.core.events import Event
from app.core.pagination import (
    NOT_ISSUED,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    is_db_int,
    page_of,
    row_limit,
)
from app.events.schemas import EventOut
from app.users.models import Role, User

ADMIN_ONLY_ENTITIES = ("user", "token", "integration")
NOTE_FIELDS = frozenset({"notes", "risk_notes", "mitigation"})
# On PostgreSQL, events of transactions still running (or younger than the oldest running
# one) are held back, so a reader's cursor never passes an event that commits later.
_PG_VISIBLE_BELOW: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: None if k in NOTE_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def event_out(event: Event, viewer: User) -> EventOut:
    out = EventOut.model_validate(event)
    if viewer.role is Role.MARKETING:
        out.data = _redact(out.data)
    return out


def _visible_to(query: Select[Event], viewer: User) -> Select[Event]:
    if viewer.role is Role.ADMIN:
        return query
    return query.where(Event.entity.not_in(ADMIN_ONLY_ENTITIES))


async def history(
    session: AsyncSession, *, entity: str, entity_id: int, limit: int, after_id: int | None
) -> tuple[list[Event], int | None]:
    query = select(Event).where(Event.entity == entity, Event.entity_id == entity_id)
    if after_id is not None:
        query = query.where(Event.id > after_id)
    rows, last = page_of(
        (await session.scalars(query.order_by(Event.id).limit(row_limit(limit + 1)))).all(), limit
    )
    return rows, last.id if last else None


async def feed(
    session: AsyncSession, *, viewer: User, after: str | None, limit: int
) -> tuple[list[Event], str]:
    """Events after the cursor, in commit-safe order; the cursor to continue from."""
    txid, last_id = _feed_position(after)
    postgres = on_postgresql(session)
    query = _visible_to(select(Event), viewer)
    if postgres:
        query = query.where(
            Event.txid < _PG_VISIBLE_BELOW, tuple_(Event.txid, Event.id) > tuple_(txid, last_id)
        ).order_by(Event.txid, Event.id)
    else:  # SQLite has one writer at a time: id order is commit order
        query = query.where(Event.id > last_id).order_by(Event.id)
    events = list((await session.scalars(query.limit(row_limit(limit)))).all())
    if events:
        txid, last_id = (events[-1].txid or 0), events[-1].id
    return events, encode_cursor({"t": txid, "i": last_id})


def _feed_position(cursor: str | None) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    position = decode_cursor(cursor)
    txid, last_id = position.get("t"), position.get("i")
    if not is_db_int(txid, bits=64) or not is_db_int(last_id, bits=64):
        raise InvalidCursor(NOT_ISSUED)
    return txid, last_id
