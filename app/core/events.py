"""The append-only event log: every change, written in the transaction that makes it.

Domains call `record_event`; history endpoints and the change feed read the rows back.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, FetchedValue, Index, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum, utcnow


class ActorKind(StrEnum):
    USER = "user"
    INTEGRATION = "integration"
    SYSTEM = "system"


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int]
    actor_id: Mapped[int | None]
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, length=16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # PostgreSQL: the writing transaction's id (server default pg_current_xact_id()); the feed
    # serves only events below the oldest running transaction, so it never skips one.
    txid: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())

    __table_args__ = (
        Index("ix_events_entity_entity_id_id", "entity", "entity_id", "id"),
        Index("ix_events_txid_id", "txid", "id"),
    )


def jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`{"before": {...}, "after": {...}}` restricted to the fields that changed."""
    changed = [key for key in after if jsonable(before.get(key)) != jsonable(after[key])]
    return {
        "before": {key: jsonable(before.get(key)) for key in changed},
        "after": {key: jsonable(after[key]) for key in changed},
    }


def record_event(
    session: AsyncSession,
    *,
    type: str,
    entity: str,
    entity_id: int,
    actor_id: int | None,
    data: dict[str, Any],
    actor_kind: ActorKind = ActorKind.USER,
) -> Event:
    if actor_id is None and actor_kind is ActorKind.USER:
        actor_kind = ActorKind.SYSTEM
    event = Event(
        type=type,
        entity=entity,
        entity_id=entity_id,
        actor_id=actor_id,
        actor_kind=actor_kind,
        data=jsonable(data),
    )
    session.add(event)
    return event
