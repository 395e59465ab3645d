from fastapi import APIRouter, Request, Response

from app.backlog import service as backlog_service
from app.comments import service
from app.comments.schemas import CommentCreate, CommentOut
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    encode_id_cursor,
    set_next_link,
)
from app.core.schemas import Page, PathId
from app.requests import service as requests_service
from app.users.auth import CurrentUser
from app.users.models import User

router = APIRouter(prefix="/api/v1", tags=["comments"], responses=error_responses(401))
_READ_ERRORS = error_responses(400, 404, 422)
_WRITE_ERRORS = error_responses(404, 422)


async def _exists(session: SessionDep, parent: service.Parent, parent_id: PathId) -> None:
    if parent == "request":
        await requests_service.get_request(session, request_id=parent_id)
    else:
        await backlog_service.get_item(session, item_id=parent_id)


async def _page(
    session: SessionDep,
    request: Request,
    response: Response,
    parent: service.Parent,
    parent_id: PathId,
    limit: int,
    cursor: str | None,
) -> Page[CommentOut]:
    await _exists(session, parent, parent_id)
    comments, last_id = await service.list_comments(
        session,
        parent=parent,
        parent_id=parent_id,
        limit=limit,
        after_id=decode_id_cursor(cursor),
    )
    next_cursor = encode_id_cursor(last_id)
    set_next_link(request, response, next_cursor)
    return Page[CommentOut](
        items=[CommentOut.model_validate(c) for c in comments], next_cursor=next_cursor
    )


async def _add(
    session: SessionDep, parent: service.Parent, parent_id: PathId, body: str, actor: User
) -> CommentOut:
    await _exists(session, parent, parent_id)
    comment = await service.add_comment(
        session, parent=parent, parent_id=parent_id, body=body, actor=actor
    )
    await session.commit()
    return CommentOut.model_validate(comment)


@router.get(
    "/requests/{request_id}/comments",
    summary="Comments on a request, oldest first",
    responses=_READ_ERRORS,
)
async def list_request_comments(
    request_id: PathId,
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommentOut]:
    return await _page(session, request, response, "request", request_id, limit, cursor)


@router.post(
    "/requests/{request_id}/comments",
    status_code=201,
    summary="Comment on a request (anyone who can read it)",
    responses=_WRITE_ERRORS,
)
async def add_request_comment(
    request_id: PathId, body: CommentCreate, session: SessionDep, actor: CurrentUser
) -> CommentOut:
    return await _add(session, "request", request_id, body.body, actor)


@router.get(
    "/items/{item_id}/comments", summary="Comments on an item, oldest first", responses=_READ_ERRORS
)
async def list_item_comments(
    item_id: PathId,
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommentOut]:
    return await _page(session, request, response, "item", item_id, limit, cursor)


@router.post(
    "/items/{item_id}/comments",
    status_code=201,
    summary="Comment on an item (anyone who can read it)",
    responses=_WRITE_ERRORS,
)
async def add_item_comment(
    item_id: PathId, body: CommentCreate, session: SessionDep, actor: CurrentUser
) -> CommentOut:
    return await _add(session, "item", item_id, body.body, actor)
