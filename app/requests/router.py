from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from app.backlog import delivery
from app.core.db import SessionDep
from app.core.errors import Forbidden, error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import Cursor, Limit, set_next_link
from app.core.schemas import Page, QueryId, UtcDateTime
from app.requests import actions, service
from app.requests.deps import Loaded, acting
from app.requests.models import MarketingRequest, RequestStatus
from app.requests.schemas import (
    AssessmentIn,
    ReasonIn,
    RequestCreate,
    RequestOut,
    RequestUpdate,
    SecurityReviewIn,
)
from app.requests.views import request_out
from app.requests.workflow import Action
from app.users.auth import CurrentUser, require_roles
from app.users.models import Role, User

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], responses=error_responses(401))
_ACTION_ERRORS = error_responses(403, 404, 409, 412, 422)


async def _editable(actor: CurrentUser, request: Loaded) -> MarketingRequest:
    """Its requester edits a draft; IT may also move it between plans."""
    if actor.id != request.requester_id and actor.role not in (Role.IT, Role.ADMIN):
        raise Forbidden("Only the requester (or IT, for its plan) edits a request.")
    return request


@router.post(
    "",
    status_code=201,
    summary="File a marketing request (as a draft)",
    responses={201: {"model": RequestOut}, **error_responses(403, 422)},
    response_model=RequestOut,
)
async def create_request(
    actor: Annotated[User, require_roles(Role.MARKETING, Role.IT, Role.ADMIN)],
    body: RequestCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[RequestOut, dict[str, str]]:
        request = await service.create_request(session, data=body, actor=actor)
        headers = {"ETag": etag(request.version), "Location": f"{router.prefix}/{request.id}"}
        return request_out(request, actor, []), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /requests", body),
        create=create,
    )


@router.get("", summary="List requests", responses=error_responses(400, 422))
async def list_requests(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    status: Annotated[list[RequestStatus] | None, Query(description="repeatable")] = None,
    department: Annotated[str | None, Query(max_length=100)] = None,
    requester_id: QueryId = None,
    q: Annotated[str | None, Query(max_length=200, description="text in title/description")] = None,
    updated_since: UtcDateTime | None = None,
    sort: Annotated[str, Query(max_length=32, description="field or -field")] = "-created_at",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RequestOut]:
    rows, next_cursor = await service.list_requests(
        session,
        statuses=status or [],
        department=department,
        requester_id=requester_id,
        q=q,
        updated_since=updated_since,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    set_next_link(request, response, next_cursor)
    item_ids = await delivery.item_ids_by_request(session, [r.id for r in rows])
    return Page[RequestOut](
        items=[request_out(r, viewer, item_ids[r.id]) for r in rows], next_cursor=next_cursor
    )


@router.get("/{request_id}", summary="One request", responses=error_responses(404))
async def get_request(
    viewer: CurrentUser, request: Loaded, response: Response, session: SessionDep
) -> RequestOut:
    set_etag(response, request.version)
    return await _out(session, request, viewer)


@router.patch(
    "/{request_id}",
    summary="Edit a draft (its requester or an admin); `plan_id` until delivery (or IT)",
    responses=_ACTION_ERRORS,
)
async def update_request(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, Depends(_editable)],
    body: RequestUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await service.update_request(session, request=request, data=body, actor=actor)
    return await _committed(session, request, response, actor)


async def _committed(
    session: SessionDep, request: MarketingRequest, response: Response, actor: User
) -> RequestOut:
    await session.commit()
    set_etag(response, request.version)
    return await _out(session, request, actor)


async def _out(session: SessionDep, request: MarketingRequest, viewer: User) -> RequestOut:
    item_ids = await delivery.item_ids_by_request(session, [request.id])
    return request_out(request, viewer, item_ids[request.id])


@router.post(
    "/{request_id}/submit", summary="Submit a draft for IT assessment", responses=_ACTION_ERRORS
)
async def submit(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.SUBMIT)],
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.submit(session, request=request, actor=actor)
    return await _committed(session, request, response, actor)


@router.post(
    "/{request_id}/withdraw",
    summary="Withdraw a request (until it is planned)",
    responses=_ACTION_ERRORS,
)
async def withdraw(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.WITHDRAW)],
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.withdraw(session, request=request, actor=actor)
    return await _committed(session, request, response, actor)


@router.post(
    "/{request_id}/return",
    summary="Return a request to its requester as a draft (IT)",
    responses=_ACTION_ERRORS,
)
async def return_request(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.RETURN)],
    body: ReasonIn,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.return_to_requester(session, request=request, reason=body.reason, actor=actor)
    return await _committed(session, request, response, actor)


@router.put(
    "/{request_id}/assessment",
    summary="Record or replace IT's assessment",
    responses=_ACTION_ERRORS,
)
async def put_assessment(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.ASSESS)],
    body: AssessmentIn,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.put_assessment(session, request=request, data=body, actor=actor)
    return await _committed(session, request, response, actor)


@router.post(
    "/{request_id}/approve",
    summary="Approve (IT); routes to security review first when one is required",
    responses=_ACTION_ERRORS,
)
async def approve(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.APPROVE)],
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.approve(session, request=request, actor=actor)
    return await _committed(session, request, response, actor)


@router.post("/{request_id}/reject", summary="Reject with a reason (IT)", responses=_ACTION_ERRORS)
async def reject(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.REJECT)],
    body: ReasonIn,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.reject(session, request=request, reason=body.reason, actor=actor)
    return await _committed(session, request, response, actor)


@router.post(
    "/{request_id}/security-review",
    summary="Record a security review (security)",
    responses=_ACTION_ERRORS,
)
async def security_review(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.SECURITY_REVIEW)],
    body: SecurityReviewIn,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> RequestOut:
    check_if_match(if_match, request.version)
    await actions.record_security_review(session, request=request, data=body, actor=actor)
    return await _committed(session, request, response, actor)
