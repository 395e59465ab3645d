from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
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
from app.core.schemas import ASCII_DIGITS, Page, PathId
from app.sprints import report
from app.teams import service
from app.teams.models import Team
from app.teams.schemas import TeamCreate, TeamOut, TeamUpdate, Velocity
from app.users.auth import CurrentUser, ITUser
from app.users.models import Role
from app.users.service import ensure_role

router = APIRouter(prefix="/api/v1/teams", tags=["teams"], responses=error_responses(401))


def team_out(team: Team) -> TeamOut:
    return TeamOut.model_validate(
        {
            **{c.key: getattr(team, c.key) for c in Team.__table__.columns},
            "members": team.member_ids,
        }
    )


async def _team(team_id: PathId, session: SessionDep) -> Team:
    return await service.get_team(session, team_id=team_id)


LoadedTeam = Annotated[Team, Depends(_team)]


async def _managed_team(actor: CurrentUser, team: LoadedTeam) -> Team:
    ensure_role(actor, Role.IT, Role.ADMIN)
    return team


@router.post(
    "",
    status_code=201,
    summary="Create a team (IT)",
    response_model=TeamOut,
    responses=error_responses(403, 409, 422),
)
async def create_team(
    actor: ITUser,
    body: TeamCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[TeamOut, dict[str, str]]:
        team = await service.create_team(session, data=body, actor=actor)
        headers = {"ETag": etag(team.version), "Location": f"{router.prefix}/{team.id}"}
        return team_out(team), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /teams", body),
        create=create,
    )


@router.get("", summary="List teams", responses=error_responses(400, 422))
async def list_teams(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TeamOut]:
    teams, last_id = await service.list_teams(
        session, limit=limit, after_id=decode_id_cursor(cursor)
    )
    return id_page(request, response, [team_out(t) for t in teams], last_id)


@router.get("/{team_id}", summary="One team", responses=error_responses(404))
async def get_team(viewer: CurrentUser, team: LoadedTeam, response: Response) -> TeamOut:
    set_etag(response, team.version)
    return team_out(team)


@router.patch(
    "/{team_id}",
    summary="Change a team (IT); `members` replaces the list",
    responses=error_responses(403, 404, 409, 412, 422),
)
async def update_team(
    actor: CurrentUser,
    team: Annotated[Team, Depends(_managed_team)],
    body: TeamUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> TeamOut:
    check_if_match(if_match, team.version)
    await service.update_team(session, team=team, data=body, actor=actor)
    await session.commit()
    set_etag(response, team.version)
    return team_out(team)


@router.get(
    "/{team_id}/velocity",
    summary="Committed vs completed points of recent sprints",
    responses=error_responses(404, 422),
)
async def velocity(
    viewer: CurrentUser,
    team: LoadedTeam,
    session: SessionDep,
    last: Annotated[
        int, Query(ge=1, le=50, description="how many closed sprints"), ASCII_DIGITS
    ] = 3,
) -> Velocity:
    return await report.velocity(session, team_id=team.id, last=last)
