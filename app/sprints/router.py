from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId, QueryId
from app.sprints import lifecycle, planning, report, service
from app.sprints.models import Sprint, SprintState
from app.sprints.schemas import (
    AddItems,
    CloseSprint,
    SprintCreate,
    SprintOut,
    SprintReport,
    SprintUpdate,
)
from app.users.auth import CurrentUser, ITUser
from app.users.models import Role
from app.users.service import ensure_role

router = APIRouter(prefix="/api/v1/sprints", tags=["sprints"], responses=error_responses(401))
_WRITE_ERRORS = error_responses(403, 404, 409, 412, 422)


async def _sprint(sprint_id: PathId, session: SessionDep) -> Sprint:
    return await service.get_sprint(session, sprint_id=sprint_id)


async def _managed_sprint(sprint_id: PathId, session: SessionDep, actor: CurrentUser) -> Sprint:
    """The sprint, its row locked until commit (planning races serialise here), for IT."""
    sprint = await service.get_sprint(session, sprint_id=sprint_id, lock=True)
    ensure_role(actor, Role.IT, Role.ADMIN)
    return sprint


LoadedSprint = Annotated[Sprint, Depends(_sprint)]
ManagedSprint = Annotated[Sprint, Depends(_managed_sprint)]


async def _out(session: SessionDep, sprints: list[Sprint]) -> list[SprintOut]:
    points = await service.planned_points(session, [s.id for s in sprints])
    return [
        SprintOut.model_validate(
            {
                **{c.key: getattr(s, c.key) for c in Sprint.__table__.columns},
                "planned_points": points[s.id],
            }
        )
        for s in sprints
    ]


async def _done(session: SessionDep, sprint_id: int, response: Response) -> SprintOut:
    await session.commit()
    sprint = await service.get_sprint(session, sprint_id=sprint_id)
    set_etag(response, sprint.version)
    return (await _out(session, [sprint]))[0]


@router.post(
    "",
    status_code=201,
    summary="Plan a sprint (IT)",
    response_model=SprintOut,
    responses=error_responses(403, 422),
)
async def create_sprint(
    actor: ITUser,
    body: SprintCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[SprintOut, dict[str, str]]:
        sprint = await service.create_sprint(session, data=body, actor=actor)
        headers = {"ETag": etag(sprint.version), "Location": f"{router.prefix}/{sprint.id}"}
        return (await _out(session, [sprint]))[0], headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /sprints", body),
        create=create,
    )


@router.get("", summary="List sprints", responses=error_responses(400, 422))
async def list_sprints(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    team_id: QueryId = None,
    state: SprintState | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SprintOut]:
    sprints, last_id = await service.list_sprints(
        session, team_id=team_id, state=state, limit=limit, after_id=decode_id_cursor(cursor)
    )
    return id_page(request, response, await _out(session, sprints), last_id)


@router.get("/{sprint_id}", summary="One sprint", responses=error_responses(404))
async def get_sprint(
    viewer: CurrentUser, sprint: LoadedSprint, response: Response, session: SessionDep
) -> SprintOut:
    set_etag(response, sprint.version)
    return (await _out(session, [sprint]))[0]


@router.patch(
    "/{sprint_id}", summary="Change a planned or active sprint (IT)", responses=_WRITE_ERRORS
)
async def update_sprint(
    actor: CurrentUser,
    sprint: ManagedSprint,
    body: SprintUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> SprintOut:
    check_if_match(if_match, sprint.version)
    await service.update_sprint(session, sprint=sprint, data=body, actor=actor)
    return await _done(session, sprint.id, response)


@router.post(
    "/{sprint_id}/items",
    summary="Plan items into the sprint: all or none; capacity and stability budget apply",
    description="Over capacity or over the team's stability budget is 409 unless "
    "`override_reason` is given (recorded as a `sprint.override` event).",
    responses=_WRITE_ERRORS,
)
async def add_items(
    actor: CurrentUser,
    sprint: ManagedSprint,
    body: AddItems,
    response: Response,
    session: SessionDep,
) -> SprintOut:
    await planning.add_items(
        session,
        sprint=sprint,
        item_ids=body.item_ids,
        override_reason=body.override_reason,
        actor=actor,
    )
    return await _done(session, sprint.id, response)


@router.delete(
    "/{sprint_id}/items/{item_id}",
    status_code=204,
    summary="Return an item to the backlog",
    responses=_WRITE_ERRORS,
)
async def remove_item(
    actor: CurrentUser, sprint: ManagedSprint, item_id: PathId, session: SessionDep
) -> Response:
    await planning.remove_item(session, sprint=sprint, item_id=item_id, actor=actor)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/{sprint_id}/start",
    summary="Start the sprint: snapshots the commitment",
    responses=_WRITE_ERRORS,
)
async def start_sprint(
    actor: CurrentUser,
    sprint: ManagedSprint,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> SprintOut:
    check_if_match(if_match, sprint.version)
    await lifecycle.start(session, sprint=sprint, actor=actor)
    return await _done(session, sprint.id, response)


@router.post(
    "/{sprint_id}/close",
    summary="Close the sprint and carry unfinished items over",
    responses=_WRITE_ERRORS,
)
async def close_sprint(
    actor: CurrentUser,
    sprint: ManagedSprint,
    response: Response,
    session: SessionDep,
    body: CloseSprint | None = None,
    if_match: IfMatch = None,
) -> SprintOut:
    check_if_match(if_match, sprint.version)
    body = body or CloseSprint()
    await lifecycle.close(
        session,
        sprint=sprint,
        carry_over=body.carry_over,
        next_sprint_id=body.next_sprint_id,
        actor=actor,
    )
    return await _done(session, sprint.id, response)


@router.get(
    "/{sprint_id}/report",
    summary="Commitment, scope change, completion, burndown",
    responses=error_responses(404),
)
async def sprint_report(
    viewer: CurrentUser, sprint: LoadedSprint, session: SessionDep
) -> SprintReport:
    return await report.sprint_report(session, sprint=sprint)
