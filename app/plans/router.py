from fastapi import APIRouter, Request, Response

from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.money import Money
from app.core.pagination import Cursor, Limit, decode_id_cursor, encode_id_cursor, set_next_link
from app.core.schemas import Page, PathId
from app.plans import report, service
from app.plans.models import Plan, PlanStatus
from app.plans.schemas import Agreement, Horizon, PlanCreate, PlanOut, PlanReport, PlanUpdate
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1/plans", tags=["plans"], responses=error_responses(401))
_WRITE_ERRORS = error_responses(403, 404, 409, 412, 422)


async def _out(session: SessionDep, plans: list[Plan]) -> list[PlanOut]:
    request_ids = await service.request_ids(session, [p.id for p in plans])
    return [
        PlanOut(
            id=p.id,
            title=p.title,
            objective=p.objective,
            kpis=p.kpis,
            marketing_owner_id=p.marketing_owner_id,
            it_owner_id=p.it_owner_id,
            horizon=Horizon.model_validate({"from": p.horizon_from, "to": p.horizon_to}),
            budget=Money.maybe(p.budget_minor, p.budget_currency),
            status=p.status,
            revision=p.revision,
            agreements=[
                Agreement.model_validate(a) for a in p.agreements if a.revision == p.revision
            ],
            request_ids=request_ids[p.id],
            created_at=p.created_at,
            updated_at=p.updated_at,
            version=p.version,
        )
        for p in plans
    ]


async def _done(session: SessionDep, plan_id: PathId, response: Response) -> PlanOut:
    await session.commit()
    plan = await service.get_plan(session, plan_id=plan_id)
    set_etag(response, plan.version)
    return (await _out(session, [plan]))[0]


@router.post(
    "",
    status_code=201,
    summary="Write a business plan (marketing or IT); it starts as a draft",
    responses=error_responses(403, 422),
)
async def create_plan(
    body: PlanCreate, response: Response, session: SessionDep, actor: CurrentUser
) -> PlanOut:
    plan = await service.create_plan(session, data=body, actor=actor)
    response.headers["Location"] = f"{router.prefix}/{plan.id}"
    return await _done(session, plan.id, response)


@router.get("", summary="List business plans", responses=error_responses(400, 422))
async def list_plans(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    status: PlanStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PlanOut]:
    plans, last_id = await service.list_plans(
        session, status=status, limit=limit, after_id=decode_id_cursor(cursor)
    )
    next_cursor = encode_id_cursor(last_id)
    set_next_link(request, response, next_cursor)
    return Page[PlanOut](items=await _out(session, plans), next_cursor=next_cursor)


@router.get("/{plan_id}", summary="One business plan", responses=error_responses(404))
async def get_plan(
    plan_id: PathId, response: Response, session: SessionDep, viewer: CurrentUser
) -> PlanOut:
    plan = await service.get_plan(session, plan_id=plan_id)
    set_etag(response, plan.version)
    return (await _out(session, [plan]))[0]


@router.patch(
    "/{plan_id}",
    summary="Edit a plan; changing agreed content is an amendment back to draft",
    responses=_WRITE_ERRORS,
)
async def update_plan(
    plan_id: PathId,
    body: PlanUpdate,
    response: Response,
    session: SessionDep,
    actor: CurrentUser,
    if_match: IfMatch = None,
) -> PlanOut:
    plan = await service.get_plan(session, plan_id=plan_id)
    check_if_match(if_match, plan.version)
    await service.update_plan(session, plan=plan, data=body, actor=actor)
    return await _done(session, plan_id, response)


@router.post(
    "/{plan_id}/agree",
    summary="Agree to the current revision (each owner); both make the plan `agreed`",
    responses=_WRITE_ERRORS,
)
async def agree(
    plan_id: PathId,
    response: Response,
    session: SessionDep,
    actor: CurrentUser,
    if_match: IfMatch = None,
) -> PlanOut:
    plan = await service.get_plan(session, plan_id=plan_id)
    check_if_match(if_match, plan.version)
    await service.agree(session, plan=plan, actor=actor)
    return await _done(session, plan_id, response)


@router.post(
    "/{plan_id}/activate", summary="Start running an agreed plan (IT)", responses=_WRITE_ERRORS
)
async def activate(
    plan_id: PathId, response: Response, session: SessionDep, actor: CurrentUser
) -> PlanOut:
    plan = await service.get_plan(session, plan_id=plan_id)
    await service.move(session, plan=plan, target=PlanStatus.ACTIVE, actor=actor)
    return await _done(session, plan_id, response)


@router.post(
    "/{plan_id}/close", summary="Close a plan; it becomes read-only (IT)", responses=_WRITE_ERRORS
)
async def close(
    plan_id: PathId, response: Response, session: SessionDep, actor: CurrentUser
) -> PlanOut:
    plan = await service.get_plan(session, plan_id=plan_id)
    await service.move(session, plan=plan, target=PlanStatus.CLOSED, actor=actor)
    return await _done(session, plan_id, response)


@router.get(
    "/{plan_id}/report",
    summary="Per quarter: requests and items, progress, money by sourcing, risk, lead time",
    responses=error_responses(404),
)
async def plan_report(plan_id: PathId, session: SessionDep, viewer: CurrentUser) -> PlanReport:
    plan = await service.get_plan(session, plan_id=plan_id)
    return await report.plan_report(session, plan=plan)
