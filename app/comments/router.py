from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.backlog import service as backlog_service
from app.comments import service
from app.comments.schemas import CommentCreate, CommentOut
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.requests import service as requests_service
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["comments"], responses=error_responses(401))
_READ_ERRORS = error_responses(400, 404, 422)
_WRITE_ERRORS = error_responses(404, 422)


async def _request_id(request_id: PathId, session: SessionDep) -> int:
    return (await requests_service.get_request(session, request_id=request_id)).id


async def _item_id(item_id: PathId, session: SessionDep) -> int:
    return (await backlog_service.get_item(session, item_id=item_id)).id


RequestId = Annotated[int, Depends(_request_id)]
ItemId = Annotated[int, Depends(_item_id)]


async def _page(
    session: SessionDep,
    request: Request,
    response: Response,
    parent: service.Parent,
    parent_id: int,
    limit: int,
    cursor: str | None,
) -> Page[CommentOut]:
    comments, last_id = await service.list_comments(
        session, parent=parent, parent_id=parent_id, limit=limit, after_id=decode_id_cursor(cursor)
    )
    return id_page(request, response, [CommentOut.model_validate(c) for c in comments], last_id)


async def _add(
    session: SessionDep,
    parent: service.Parent,
    parent_id: int,
    body: CommentCreate,
    actor: CurrentUser,
    key: str | None,
) -> JSONResponse:
    async def create() -> tuple[CommentOut, dict[str, str]]:
        comment = await service.add_comment(
            session, parent=parent, parent_id=parent_id, body=body.body, actor=actor
        )
        return CommentOut.model_validate(comment), {}

    return await run_once(
        session,
        user_id=actor.id,
        key=key,
        print_=fingerprint(f"POST /{parent}s/{parent_id}/comments", body),
        create=create,
    )


@router.get(
    "/requests/{request_id}/comments",
    summary="Comments on a request, oldest first",
    responses=_READ_ERRORS,
)
async def list_request_comments(
    viewer: CurrentUser,
    request_id: RequestId,
    request: Request,
    response: Response,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommentOut]:
    return await _page(session, request, response, "request", request_id, limit, cursor)


@router.post(
    "/requests/{request_id}/comments",
    status_code=201,
    summary="Comment on a request (anyone who can read it)",
    response_model=CommentOut,
    responses=_WRITE_ERRORS,
)
async def add_request_comment(
    actor: CurrentUser,
    request_id: RequestId,
    body: CommentCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _add(session, "request", request_id, body, actor, idempotency_key)


@router.get(
    "/items/{item_id}/comments", summary="Comments on an item, oldest first", responses=_READ_ERRORS
)
async def list_item_comments(
    viewer: CurrentUser,
    item_id: ItemId,
    request: Request,
    response: Response,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommentOut]:
    return await _page(session, request, response, "item", item_id, limit, cursor)


@router.post(
    "/items/{item_id}/comments",
    status_code=201,
    summary="Comment on an item (anyone who can read it)",
    response_model=CommentOut,
    responses=_WRITE_ERRORS,
)
async def add_item_comment(
    actor: CurrentUser,
    item_id: ItemId,
    body: CommentCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _add(session, "item", item_id, body, actor, idempotency_key)
