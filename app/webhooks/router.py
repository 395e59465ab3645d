from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import SecretBox
from app.core.db import SessionDep, open_session
from app.core.errors import error_responses
from app.core.fastlane import FastLane, fast_lane
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.sync.deps import ManagedIntegration, ReadableIntegration
from app.sync.models import TrackerKind
from app.webhooks import service
from app.webhooks.models import Outcome
from app.webhooks.schemas import Accepted, DeliveryOut, Pong

router = APIRouter(prefix="/api/v1", tags=["webhooks"])
_INBOUND_ERRORS = error_responses(400, 401, 404, 413, 422)
_BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}


def _box(request: Request) -> SecretBox:
    """Called, not a dependency: FastAPI runs a sync dependency in a worker thread."""
    box: SecretBox = request.app.state.secret_box
    return box


@asynccontextmanager
async def _database(request: Request) -> AsyncIterator[AsyncSession | FastLane]:
    """Where ingest reads and writes: the fast lane (PostgreSQL; each statement commits
    itself), else a session, committed on a clean exit. Not `SessionDep`: see `open_session`."""
    if (lane := fast_lane(request)) is not None:
        yield lane
        return
    async with open_session(request) as session:
        yield session
        await session.commit()


def _answer(delivery_id: int, new: bool) -> JSONResponse:
    """`Accepted`, built as a plain dict: it is all ints and fixed strings."""
    outcome = Outcome.PENDING if new else Outcome.DUPLICATE
    return JSONResponse(
        {"delivery": delivery_id, "outcome": outcome.value}, status_code=202 if new else 200
    )


@router.post(
    "/webhooks/github/{integration_id}",
    status_code=202,
    summary="GitHub webhook deliveries (signed: X-Hub-Signature-256; no bearer token)",
    response_model=Accepted,
    responses={
        200: {"model": Accepted | Pong, "description": "a redelivery, or GitHub's ping"},
        **_INBOUND_ERRORS,
    },
    openapi_extra=_BODY,
)
async def github_delivery(
    integration_id: PathId,
    request: Request,
    x_github_event: Annotated[str, Header(max_length=100)],
    x_github_delivery: Annotated[str, Header(min_length=1, max_length=200)],
    x_hub_signature_256: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    async with _database(request) as db:
        receiver = await service.receiver_for(
            db, integration_id=integration_id, kind=TrackerKind.GITHUB
        )
        body = await request.body()
        service.verify(receiver, _box(request), body, x_hub_signature_256)
        service.parse(body)
        if x_github_event == "ping":
            return JSONResponse({"ok": True}, status_code=200)
        stored_id, new = await service.store(
            db,
            receiver=receiver,
            delivery_id=x_github_delivery,
            event=x_github_event,
            body=body,
        )
    return _answer(stored_id, new)


@router.post(
    "/webhooks/jira/{integration_id}",
    status_code=202,
    summary="Jira webhook deliveries (signed: X-Hub-Signature; no bearer token)",
    response_model=Accepted,
    responses={200: {"model": Accepted, "description": "a redelivery"}, **_INBOUND_ERRORS},
    openapi_extra=_BODY,
)
async def jira_delivery(
    integration_id: PathId,
    request: Request,
    x_hub_signature: Annotated[str | None, Header(max_length=200)] = None,
    x_atlassian_webhook_identifier: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    async with _database(request) as db:
        receiver = await service.receiver_for(
            db, integration_id=integration_id, kind=TrackerKind.JIRA
        )
        body = await request.body()
        service.verify(receiver, _box(request), body, x_hub_signature)
        payload = service.parse(body)
        event = (
            str(payload.get("webhookEvent", "unknown")) if isinstance(payload, dict) else "unknown"
        )
        delivery_id = service.jira_delivery_id(x_atlassian_webhook_identifier, body)
        stored_id, new = await service.store(
            db, receiver=receiver, delivery_id=delivery_id, event=event, body=body
        )
    return _answer(stored_id, new)


@router.get(
    "/integrations/{integration_id}/deliveries",
    tags=["integrations"],
    summary="What arrived by webhook, and what became of it (IT; security reads)",
    responses=error_responses(400, 401, 403, 404, 422),
)
async def list_deliveries(
    integration: ReadableIntegration,
    request: Request,
    response: Response,
    session: SessionDep,
    outcome: Outcome | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    rows, last_id = await service.list_deliveries(
        session,
        integration_id=integration.id,
        outcome=outcome,
        limit=limit,
        after_id=decode_id_cursor(cursor),
    )
    return id_page(request, response, [DeliveryOut.model_validate(d) for d in rows], last_id)


@router.post(
    "/integrations/{integration_id}/deliveries/{delivery_id}/replay",
    tags=["integrations"],
    summary="Process a delivery again (IT)",
    responses=error_responses(401, 403, 404, 409),
)
async def replay_delivery(
    integration: ManagedIntegration,
    delivery_id: PathId,
    session: SessionDep,
) -> DeliveryOut:
    delivery = await service.replay(session, integration_id=integration.id, delivery_id=delivery_id)
    await session.commit()
    return DeliveryOut.model_validate(delivery)
