from fastapi import APIRouter, Request, Response

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
from app.core.schemas import Page
from app.requests import service as requests_service
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["comments"], responses=error_responses(401))


@router.get(
    "/requests/{request_id}/comments",
    summary="Comments on a request, oldest first",
    responses=error_responses(400, 404, 422),
)
async def list_request_comments(
    request_id: int,
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CommentOut]:
    await requests_service.get_request(session, request_id=request_id)
    comments, last_id = await service.list_request_comments(
        session, request_id=request_id, limit=limit, after_id=decode_id_cursor(cursor)
    )
    next_cursor = encode_id_cursor(last_id)
    set_next_link(request, response, next_cursor)
    return Page[CommentOut](
        items=[CommentOut.model_validate(c) for c in comments], next_cursor=next_cursor
    )


@router.post(
    "/requests/{request_id}/comments",
    status_code=201,
    summary="Comment on a request (anyone who can read it)",
    responses=error_responses(404, 422),
)
async def add_request_comment(
    request_id: int, body: CommentCreate, session: SessionDep, actor: CurrentUser
) -> CommentOut:
    await requests_service.get_request(session, request_id=request_id)
    comment = await service.add_request_comment(
        session, request_id=request_id, body=body.body, actor=actor
    )
    await session.commit()
    return CommentOut.model_validate(comment)
