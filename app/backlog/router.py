from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from app.backlog import conversion, readiness, service
from app.backlog.models import BacklogItem, ItemStatus, ItemType
from app.backlog.schemas import (
    ClearanceIn,
    ConvertIn,
    ConvertOut,
    ItemCreate,
    ItemOut,
    ItemUpdate,
    MoveIn,
)
from app.backlog.views import item_out, items_out, listed_items_out
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import Cursor, Limit, set_next_link
from app.core.schemas import Page, PathId, QueryId, UtcDateTime
from app.requests.deps import acting
from app.requests.models import Impact, MarketingRequest
from app.requests.workflow import Action
from app.users.auth import CurrentUser, ITUser
from app.users.models import Role
from app.users.service import ensure_role

router = APIRouter(prefix="/api/v1", tags=["backlog"], responses=error_responses(401))
_WRITE_ERRORS = error_responses(403, 404, 409, 412, 422)


async def _item(item_id: PathId, session: SessionDep) -> BacklogItem:
    return await service.get_item(session, item_id=item_id)


async def _item_to_rank(item_id: PathId, session: SessionDep) -> BacklogItem:
    return await service.get_item(session, item_id=item_id, to_rank=True)


def item_for(*roles: Role, to_rank: bool = False) -> Any:
    """A dependency: the item (404), if the caller's role may act on it (403); before the body.
    `to_rank`: for a route that ranks the item (`service.get_item`)."""
    loaded = Annotated[BacklogItem, Depends(_item_to_rank if to_rank else _item)]

    async def load(actor: CurrentUser, item: loaded) -> BacklogItem:
        ensure_role(actor, *roles)
        return item

    return Depends(load)


EditableItem = Annotated[BacklogItem, item_for(Role.IT, Role.ADMIN, Role.SECURITY)]
PlannedItem = Annotated[BacklogItem, item_for(Role.IT, Role.ADMIN)]
MovedItem = Annotated[BacklogItem, item_for(Role.IT, Role.ADMIN, to_rank=True)]
ClearedItem = Annotated[BacklogItem, item_for(Role.SECURITY)]
SprintFilter = Annotated[
    str | None, Query(pattern=r"^(none|[0-9]{1,9})$", description="a sprint id, or `none`")
]
ItemSort = Annotated[
    str, Query(max_length=32, description="rank|wsjf|created_at|updated_at; -field descends")
]


@router.post(
    "/items",
    status_code=201,
    summary="Create a backlog item (IT); it starts as `new` at the bottom of its backlog",
    response_model=ItemOut,
    responses=error_responses(403, 422),
)
async def create_item(
    actor: ITUser,
    body: ItemCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:

    async def create() -> tuple[ItemOut, dict[str, str]]:
        item = await service.create_item(session, data=body, actor=actor)
        headers = {"ETag": etag(item.version), "Location": f"/api/v1/items/{item.id}"}
        return item_out(item, {item.id: 0} if item.type is ItemType.EPIC else {}), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /items", body),
        create=create,
    )


# On PostgreSQL the plain backlog page is answered before this route: app/backlog/page_route.py
@router.get("/items", summary="List and search backlog items", responses=error_responses(400, 422))
async def list_items(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    status: Annotated[list[ItemStatus] | None, Query(description="repeatable")] = None,
    type: ItemType | None = None,
    team_id: QueryId = None,
    sprint_id: SprintFilter = None,
    request_id: QueryId = None,
    label: Annotated[str | None, Query(max_length=50)] = None,
    assignee_id: QueryId = None,
    min_stability_impact: Impact | None = None,
    min_security_impact: Impact | None = None,
    q: Annotated[str | None, Query(max_length=200, description="title, description or key")] = None,
    updated_since: UtcDateTime | None = None,
    sort: ItemSort = "rank",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ItemOut]:
    filters: dict[str, Any] = {
        "status": status or [],
        "type": type,
        "team_id": team_id,
        "backlog_only": sprint_id == "none",
        "sprint_id": int(sprint_id) if sprint_id and sprint_id != "none" else None,
        "request_id": request_id,
        "label": label,
        "assignee_id": assignee_id,
        "min_stability_impact": min_stability_impact,
        "min_security_impact": min_security_impact,
        "q": q,
        "updated_since": updated_since,
    }
    items, next_cursor = await service.list_items(
        session, filters=filters, sort=sort, limit=limit, cursor=cursor
    )
    set_next_link(request, response, next_cursor)
    return Page[ItemOut](items=await listed_items_out(session, items), next_cursor=next_cursor)


@router.get("/items/{item_id}", summary="One backlog item", responses=error_responses(404))
async def get_item(
    viewer: CurrentUser,
    item: Annotated[BacklogItem, Depends(_item)],
    response: Response,
    session: SessionDep,
) -> ItemOut:
    set_etag(response, item.version)
    return (await items_out(session, [item]))[0]


async def _committed(session: SessionDep, item: BacklogItem, response: Response) -> ItemOut:
    """Commit and answer with the item as committed: its state after the flush (every column
    is written from Python, version and updated_at included, so nothing needs reading back),
    its roll-up and links read in the same transaction, then commit before answering."""
    await session.flush()
    answer = (await items_out(session, [item]))[0]
    await session.commit()
    set_etag(response, item.version)
    return answer


@router.patch(
    "/items/{item_id}",
    summary="Edit an item, including its status (DoR applies to `ready` and beyond)",
    responses=_WRITE_ERRORS,
)
async def update_item(
    actor: CurrentUser,
    item: EditableItem,
    body: ItemUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> ItemOut:
    check_if_match(if_match, item.version)
    await service.update_item(session, item=item, data=body, actor=actor)
    return await _committed(session, item, response)


@router.post(
    "/items/{item_id}/move",
    summary="Reorder: before or after another item of the same backlog, or to top/bottom",
    responses=_WRITE_ERRORS,
)
async def move_item(
    actor: CurrentUser,
    item: MovedItem,
    body: MoveIn,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> ItemOut:
    check_if_match(if_match, item.version)
    await service.move_item(
        session,
        item=item,
        before_id=body.before_id,
        after_id=body.after_id,
        position=body.position,
        actor=actor,
    )
    return await _committed(session, item, response)


@router.post(
    "/items/{item_id}/security-clearance",
    summary="Clear an item for delivery (security)",
    responses=_WRITE_ERRORS,
)
async def clear_item(
    actor: CurrentUser,
    item: ClearedItem,
    response: Response,
    session: SessionDep,
    body: ClearanceIn | None = None,
    if_match: IfMatch = None,
) -> ItemOut:
    check_if_match(if_match, item.version)
    notes = body.notes if body else None
    await readiness.clear_security(session, item=item, notes=notes, actor=actor)
    return await _committed(session, item, response)


@router.delete(
    "/items/{item_id}",
    status_code=204,
    summary="Delete an item (IT); not while it has children or is in a sprint",
    responses=_WRITE_ERRORS,
)
async def delete_item(
    actor: CurrentUser, item: PlannedItem, session: SessionDep, if_match: IfMatch = None
) -> Response:
    check_if_match(if_match, item.version)
    await service.delete_item(session, item=item, actor=actor)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/requests/{request_id}/convert",
    status_code=201,
    tags=["requests"],
    summary="Turn an approved request into backlog items (IT); the request becomes `planned`",
    response_model=ConvertOut,
    responses=_WRITE_ERRORS,
)
async def convert_request(
    actor: CurrentUser,
    request: Annotated[MarketingRequest, acting(Action.CONVERT)],
    session: SessionDep,
    body: ConvertIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[ConvertOut, dict[str, str]]:
        items = await conversion.convert_request(
            session, request_id=request.id, data=body or ConvertIn(), actor=actor
        )
        return ConvertOut(items=await items_out(session, items)), {}

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint(f"POST /requests/{request.id}/convert", body),
        create=create,
    )
