from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.money import Money
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.plans import report, service
from app.plans.models import Plan, PlanStatus
from app.plans.schemas import Agreement, Horizon, PlanCreate, PlanOut, PlanReport, PlanUpdate
from app.users.auth import CurrentUser, require_roles
from app.users.models import Role, User
from app.users.service import ensure_role

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


async def _done(session: SessionDep, plan_id: int, response: Response) -> PlanOut:
    await session.commit()
    plan = await service.get_plan(session, plan_id=plan_id)
    set_etag(response, plan.version)
    return (await _out(session, [plan]))[0]


async def _plan(plan_id: PathId, session: SessionDep) -> Plan:
    return await service.get_plan(session, plan_id=plan_id)


LoadedPlan = Annotated[Plan, Depends(_plan)]


async def _editable_plan(actor: CurrentUser, plan: LoadedPlan) -> Plan:
    service.ensure_may_edit(plan, actor)
    return plan


async def _owned_plan(actor: CurrentUser, plan: LoadedPlan) -> Plan:
    service.ensure_owner(plan, actor)
    return plan


async def _managed_plan(actor: CurrentUser, plan: LoadedPlan) -> Plan:
    ensure_role(actor, Role.IT, Role.ADMIN)
    return plan


@router.post(
    "",
    status_code=201,
    summary="Write a business plan (marketing or IT); it starts as a draft",
    response_model=PlanOut,
    responses=error_responses(403, 422),
)
async def create_plan(
    actor: Annotated[User, require_roles(Role.MARKETING, Role.IT, Role.ADMIN)],
    body: PlanCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[PlanOut, dict[str, str]]:
        plan = await service.create_plan(session, data=body, actor=actor)
        headers = {"ETag": etag(plan.version), "Location": f"{router.prefix}/{plan.id}"}
        return (await _out(session, [plan]))[0], headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /plans", body),
        create=create,
    )


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
    return id_page(request, response, await _out(session, plans), last_id)


@router.get("/{plan_id}", summary="One business plan", responses=error_responses(404))
async def get_plan(
    viewer: CurrentUser, plan: LoadedPlan, response: Response, session: SessionDep
) -> PlanOut:
    set_etag(response, plan.version)
    return (await _out(session, [plan]))[0]


@router.patch(
    "/{plan_id}",
    summary="Edit a plan; changing agreed content is an amendment back to draft",
    responses=_WRITE_ERRORS,
)
async def update_plan(
    actor: CurrentUser,
    plan: Annotated[Plan, Depends(_editable_plan)],
    body: PlanUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> PlanOut:
    check_if_match(if_match, plan.version)
    await service.update_plan(session, plan=plan, data=body, actor=actor)
    return await _done(session, plan.id, response)


@router.post(
    "/{plan_id}/agree",
    summary="Agree to the current revision (each owner); both make the plan `agreed`",
    responses=_WRITE_ERRORS,
)
async def agree(
    actor: CurrentUser,
    plan: Annotated[Plan, Depends(_owned_plan)],
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> PlanOut:
    check_if_match(if_match, plan.version)
    await service.agree(session, plan=plan, actor=actor)
    return await _done(session, plan.id, response)


@router.post(
    "/{plan_id}/activate", summary="Start running an agreed plan (IT)", responses=_WRITE_ERRORS
)
async def activate(
    actor: CurrentUser,
    plan: Annotated[Plan, Depends(_managed_plan)],
    response: Response,
    session: SessionDep,
) -> PlanOut:
    await service.move(session, plan=plan, target=PlanStatus.ACTIVE, actor=actor)
    return await _done(session, plan.id, response)


@router.post(
    "/{plan_id}/close", summary="Close a plan; it becomes read-only (IT)", responses=_WRITE_ERRORS
)
async def close(
    actor: CurrentUser,
    plan: Annotated[Plan, Depends(_managed_plan)],
    response: Response,
    session: SessionDep,
) -> PlanOut:
    await service.move(session, plan=plan, target=PlanStatus.CLOSED, actor=actor)
    return await _done(session, plan.id, response)


@router.get(
    "/{plan_id}/report",
    summary="Per quarter: requests and items, progress, money by sourcing, risk, lead time",
    responses=error_responses(404),
)
async def plan_report(viewer: CurrentUser, plan: LoadedPlan, session: SessionDep) -> PlanReport:
    return await report.plan_report(session, plan=plan)
