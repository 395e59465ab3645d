"""Receiving webhook deliveries: verify, store once, answer fast. Processing happens later."""

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import SecretBox
from app.core.db import on_postgresql, utcnow
from app.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from app.core.fastlane import FastLane
from app.core.pagination import page_of, row_limit
from app.sync.models import Integration, TrackerKind
from app.sync.tracker import MAX_JSON_DEPTH, JsonTooDeep, clean_text, decode_json
from app.webhooks import signatures
from app.webhooks.models import Delivery, Outcome


class NotJson(BadRequest):
    slug, title = "not-json", "Body is not JSON"


@dataclass(frozen=True, slots=True)
class Receiver:
    """What ingest needs of an integration: its id and its sealed webhook secret."""

    id: int
    webhook_secret_sealed: str | None


# The fast lane's statements (PostgreSQL): each one autocommit statement, safe to run twice.
_RECEIVER = "SELECT webhook_secret_sealed FROM integrations WHERE id = $1 AND kind = $2 AND enabled"
# Columns and values as the ORM path's INSERT writes them (its Python-side defaults included).
_STORE = (
    "INSERT INTO webhook_deliveries"
    " (integration_id, delivery_id, event, body, outcome, attempts, received_at)"
    " VALUES ($1, $2, $3, $4, 'pending', 0, $5) ON CONFLICT DO NOTHING RETURNING id"
)
_STORE_DUPLICATE = (
    "INSERT INTO webhook_deliveries"
    " (integration_id, delivery_id, event, body, outcome, note, attempts, received_at)"
    " VALUES ($1, $2, $3, '', 'duplicate', $4, 0, $5) RETURNING id"
)
_DUPLICATE_NOTE = "redelivery of an id already received"


async def receiver_for(
    db: AsyncSession | FastLane, *, integration_id: int, kind: TrackerKind
) -> Receiver:
    """The enabled integration of `kind` with this id, else NotFound."""
    if isinstance(db, FastLane):
        row = await db.fetchrow(_RECEIVER, integration_id, kind.value)
        if row is None:
            raise NotFound("integration", integration_id)
        return Receiver(integration_id, row["webhook_secret_sealed"])
    integration = await db.get(Integration, integration_id)
    if integration is None or not integration.enabled or integration.kind is not kind:
        raise NotFound("integration", integration_id)
    return Receiver(integration.id, integration.webhook_secret_sealed)


def verify(receiver: Receiver, box: SecretBox, body: bytes, signature: str | None) -> None:
    """An integration without a webhook secret accepts nothing; a bad signature is a 401."""
    if receiver.webhook_secret_sealed is None:
        raise Unauthorized("This integration has no webhook secret: it accepts no deliveries.")
    if not signatures.valid(box.open(receiver.webhook_secret_sealed), body, signature):
        raise Unauthorized("The signature does not match the body.")


def parse(body: bytes) -> Any:
    """The body as JSON, else NotJson: UTF-8 (a UTF-16 body stored as text would hold NULs,
    which PostgreSQL refuses), at most `MAX_JSON_DEPTH` deep (never a 500 on a deep body)."""
    try:
        return decode_json(body)
    except JsonTooDeep as exc:
        raise NotJson(f"The delivery body nests deeper than {MAX_JSON_DEPTH} levels.") from exc
    except ValueError as exc:  # UnicodeDecodeError included
        raise NotJson("The delivery body is not UTF-8 JSON.") from exc


def jira_delivery_id(header: str | None, body: bytes) -> str:
    """Jira's X-Atlassian-Webhook-Identifier, or (older senders) a hash of the body."""
    return header or "sha256:" + hashlib.sha256(body).hexdigest()


async def store(
    db: AsyncSession | FastLane, *, receiver: Receiver, delivery_id: str, event: str, body: bytes
) -> tuple[int, bool]:
    """The stored delivery's id, and whether it is new (False: a redelivery, recorded as a
    duplicate beside the first). The first of an id is one `INSERT ... ON CONFLICT DO NOTHING
    RETURNING id` (the partial unique index on the first delivery of an id is the arbiter).
    In the fast lane (PostgreSQL) each statement commits itself, so the delivery is durable
    when this returns; a session's caller commits."""
    delivery_id, event = clean_text(delivery_id)[:200], clean_text(event)[:100]
    text = body.decode("utf-8", "replace")
    if isinstance(db, AsyncSession):
        return await _store_orm(
            db, integration_id=receiver.id, delivery_id=delivery_id, event=event, body=text
        )
    args = (receiver.id, delivery_id, event)
    row = await db.fetchrow(_STORE, *args, text, utcnow())
    if row is not None:
        return row["id"], True
    row = await db.fetchrow(_STORE_DUPLICATE, *args, _DUPLICATE_NOTE, utcnow())
    assert row is not None  # an INSERT ... RETURNING without ON CONFLICT returns its row
    return row["id"], False


async def _store_orm(
    session: AsyncSession, *, integration_id: int, delivery_id: str, event: str, body: str
) -> tuple[int, bool]:
    first = {"integration_id": integration_id, "delivery_id": delivery_id, "event": event}
    postgres = on_postgresql(session)
    insert = (postgresql.insert if postgres else sqlite.insert)(Delivery).values(
        {**first, "body": body}
    )
    new_id = await session.scalar(insert.on_conflict_do_nothing().returning(Delivery.id))
    if new_id is not None:
        return new_id, True
    duplicate = Delivery(**first, body="", outcome=Outcome.DUPLICATE, note=_DUPLICATE_NOTE)
    session.add(duplicate)
    await session.flush()
    return duplicate.id, False


async def list_deliveries(
    session: AsyncSession,
    *,
    integration_id: int,
    outcome: Outcome | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[Delivery], int | None]:
    query = select(Delivery).where(Delivery.integration_id == integration_id)
    if outcome is not None:
        query = query.where(Delivery.outcome == outcome)
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    rows, last = page_of(
        list(await session.scalars(query.order_by(Delivery.id).limit(row_limit(limit + 1)))), limit
    )
    return rows, last.id if last else None


async def replay(session: AsyncSession, *, integration_id: int, delivery_id: int) -> Delivery:
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.integration_id != integration_id:
        raise NotFound("delivery", delivery_id)
    if delivery.outcome == Outcome.DUPLICATE:
        raise Conflict("A duplicate has nothing of its own to replay; replay the first one.")
    delivery.outcome, delivery.note, delivery.processed_at = Outcome.PENDING, None, None
    await session.flush()
    return delivery
