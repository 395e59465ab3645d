"""Receiving webhook deliveries: verify, store once, answer fast. Processing happens later."""

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import SecretBox
from app.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from app.core.pagination import page_of
from app.sync.models import Integration, TrackerKind
from app.webhooks import signatures
from app.webhooks.models import Delivery, Outcome


class NotJson(BadRequest):
    slug, title = "not-json", "Body is not JSON"


async def integration_for(
    session: AsyncSession, *, integration_id: int, kind: TrackerKind
) -> Integration:
    integration = await session.get(Integration, integration_id)
    if integration is None or not integration.enabled or integration.kind is not kind:
        raise NotFound("integration", integration_id)
    return integration


def verify(integration: Integration, box: SecretBox, body: bytes, signature: str | None) -> None:
    """An integration without a webhook secret accepts nothing; a bad signature is a 401."""
    if integration.webhook_secret_sealed is None:
        raise Unauthorized("This integration has no webhook secret: it accepts no deliveries.")
    if not signatures.valid(box.open(integration.webhook_secret_sealed), body, signature):
        raise Unauthorized("The signature does not match the body.")


def parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise NotJson("The delivery body is not JSON.") from exc


def jira_delivery_id(header: str | None, body: bytes) -> str:
    """Jira's X-Atlassian-Webhook-Identifier, or (older senders) a hash of the body."""
    return header or "sha256:" + hashlib.sha256(body).hexdigest()


async def store(
    session: AsyncSession, *, integration: Integration, delivery_id: str, event: str, body: bytes
) -> tuple[int, bool]:
    """The stored delivery's id, and whether it is new (False: a redelivery, recorded as a
    duplicate). One `INSERT ... ON CONFLICT DO NOTHING RETURNING id` (the partial unique
    index on the first delivery of an id is the arbiter) instead of a SAVEPOINT round."""
    first = {
        "integration_id": integration.id,
        "delivery_id": delivery_id[:200],
        "event": event[:100],
    }
    values = {**first, "body": body.decode("utf-8", "replace")}
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (postgresql.insert if postgres else sqlite.insert)(Delivery).values(values)
    new_id = await session.scalar(insert.on_conflict_do_nothing().returning(Delivery.id))
    if new_id is not None:
        return new_id, True
    duplicate = Delivery(
        **first, body="", outcome=Outcome.DUPLICATE, note="redelivery of an id already received"
    )
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
        list(await session.scalars(query.order_by(Delivery.id).limit(limit + 1))), limit
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
