from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.backlog import service as backlog_service
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.events import service
from app.events.schemas import EventOut, FeedPage
from app.requests import service as requests_service
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["events"], responses=error_responses(401))


@router.get(
    "/events",
    summary="Change feed: every change after a cursor, never skipping one",
    description="Poll with the returned `next_cursor` (always present). Events of "
    "transactions that have not committed yet are held back until they have.",
    responses=error_responses(400, 422),
)
async def events_feed(
    session: SessionDep,
    viewer: CurrentUser,
    after: Annotated[str | None, Query(max_length=512, description="cursor")] = None,
    limit: Limit = 50,
) -> FeedPage:
    events, next_cursor = await service.feed(session, viewer=viewer, after=after, limit=limit)
    return FeedPage(items=[service.event_out(e, viewer) for e in events], next_cursor=next_cursor)


async def _history(
    session: SessionDep,
    request: Request,
    response: Response,
    viewer: CurrentUser,
    entity: str,
    entity_id: PathId,
    limit: int,
    cursor: str | None,
) -> Page[EventOut]:
    events, last_id = await service.history(
        session,
        entity=entity,
        entity_id=entity_id,
        limit=limit,
        after_id=decode_id_cursor(cursor),
    )
    return id_page(request, response, [service.event_out(e, viewer) for e in events], last_id)


@router.get(
    "/requests/{request_id}/history",
    summary="Everything that happened to a request, oldest first",
    tags=["requests"],
    responses=error_responses(400, 404, 422),
)
async def request_history(
    request_id: PathId,
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EventOut]:
    await requests_service.get_request(session, request_id=request_id)
    return await _history(session, request, response, viewer, "request", request_id, limit, cursor)


@router.get(
    "/items/{item_id}/history",
    summary="Everything that happened to a backlog item, oldest first",
    tags=["backlog"],
    responses=error_responses(400, 404, 422),
)
async def item_history(
    item_id: PathId,
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EventOut]:
    await backlog_service.get_item(session, item_id=item_id)
    return await _history(session, request, response, viewer, "item", item_id, limit, cursor)
