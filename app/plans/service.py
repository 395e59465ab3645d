"""Business plans: written by marketing and IT together, agreed by both owners, then run."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from app.core.events import diff, record_event
from app.core.money import Money
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.plans.models import Plan, PlanAgreement, PlanStatus
from app.plans.schemas import Horizon, PlanCreate, PlanUpdate
from app.requests.models import MarketingRequest
from app.users.models import Role, User
from app.users.service import ensure_role

# Changing any of these after agreement is an amendment: both owners must agree again.
AGREED_CONTENT = ("objective", "kpis", "horizon", "budget", "marketing_owner_id", "it_owner_id")


class PlanClosed(Conflict):
    slug, title = "plan-closed", "Plan is closed"


class InvalidPlanTransition(Conflict):
    slug, title = "invalid-transition", "Not allowed in this state"


def snapshot(plan: Plan) -> dict[str, Any]:
    budget = Money.maybe(plan.budget_minor, plan.budget_currency)
    return {
        "title": plan.title,
        "objective": plan.objective,
        "kpis": plan.kpis,
        "marketing_owner_id": plan.marketing_owner_id,
        "it_owner_id": plan.it_owner_id,
        "horizon": {"from": plan.horizon_from, "to": plan.horizon_to},
        "budget": budget.model_dump() if budget else None,
    }


def _record(session: AsyncSession, type: str, plan: Plan, actor: User, data: Any) -> None:
    record_event(session, type=type, entity="plan", entity_id=plan.id, actor_id=actor.id, data=data)


async def _check_owners(session: AsyncSession, marketing_id: int, it_id: int) -> None:
    errors: list[dict[str, Any]] = []
    for field, user_id, roles in (
        ("marketing_owner_id", marketing_id, (Role.MARKETING,)),
        ("it_owner_id", it_id, (Role.IT,)),
    ):
        user = await session.get(User, user_id)
        if user is None or not user.active or user.role not in (*roles, Role.ADMIN):
            errors.append({"loc": ["body", field], "msg": f"must be an active {roles[0]} user"})
    if marketing_id == it_id:
        errors.append(
            {"loc": ["body", "it_owner_id"], "msg": "the two owners are different people"}
        )
    if errors:
        raise UnprocessableEntity("The plan's owners are not right.", errors=errors)


def _apply(plan: Plan, values: dict[str, Any]) -> None:
    for name in ("title", "objective", "kpis", "marketing_owner_id", "it_owner_id"):
        if name in values:
            setattr(plan, name, values[name])
    if "horizon" in values:
        horizon = Horizon.model_validate(values["horizon"])
        plan.horizon_from, plan.horizon_to = horizon.from_, horizon.to
    if "budget" in values:
        budget = Money(**values["budget"]) if values["budget"] else None
        plan.budget_minor = budget.to_minor_units() if budget else None
        plan.budget_currency = budget.currency if budget else None


async def create_plan(session: AsyncSession, *, data: PlanCreate, actor: User) -> Plan:
    ensure_role(actor, Role.MARKETING, Role.IT, Role.ADMIN)
    await _check_owners(session, data.marketing_owner_id, data.it_owner_id)
    plan = Plan(status=PlanStatus.DRAFT, revision=1, agreements=[])
    _apply(plan, data.model_dump(by_alias=True))
    session.add(plan)
    await session.flush()
    _record(session, "plan.created", plan, actor, {"before": {}, "after": snapshot(plan)})
    return plan


def ensure_owner(plan: Plan, actor: User) -> None:
    if actor.id not in (plan.marketing_owner_id, plan.it_owner_id):
        raise Forbidden("Only the plan's two owners agree to it.")


def ensure_may_edit(plan: Plan, actor: User) -> None:
    owners = (plan.marketing_owner_id, plan.it_owner_id)
    if actor.role not in (Role.IT, Role.ADMIN) and actor.id not in owners:
        raise Forbidden("Only the plan's owners, IT and admins edit a plan.")
    if plan.status is PlanStatus.CLOSED:
        raise PlanClosed(f"Plan {plan.id} is closed and read-only.")


async def update_plan(session: AsyncSession, *, plan: Plan, data: PlanUpdate, actor: User) -> Plan:
    """Edit; a change to the agreed content sends an agreed or active plan back to draft."""
    ensure_may_edit(plan, actor)
    changes = data.model_dump(exclude_unset=True, by_alias=True)
    reject_nulls(
        changes, ("title", "objective", "kpis", "marketing_owner_id", "it_owner_id", "horizon")
    )
    marketing = changes.get("marketing_owner_id", plan.marketing_owner_id)
    it = changes.get("it_owner_id", plan.it_owner_id)
    if {"marketing_owner_id", "it_owner_id"} & changes.keys():
        await _check_owners(session, marketing, it)
    before = snapshot(plan)
    _apply(plan, changes)
    change = diff(before, snapshot(plan))
    if not change["after"]:
        return plan
    if set(change["after"]) & set(AGREED_CONTENT):
        plan.revision += 1
        if plan.status in (PlanStatus.AGREED, PlanStatus.ACTIVE):
            change |= {"status": {"before": plan.status, "after": PlanStatus.DRAFT}}
            plan.status = PlanStatus.DRAFT
            await session.flush()
            _record(session, "plan.amended", plan, actor, change | {"revision": plan.revision})
            return plan
    await session.flush()
    _record(session, "plan.updated", plan, actor, change)
    return plan


async def agree(session: AsyncSession, *, plan: Plan, actor: User) -> Plan:
    """One owner's agreement to the current revision; both owners make the plan `agreed`."""
    ensure_owner(plan, actor)
    if plan.status is PlanStatus.AGREED and actor.id in plan.agreed_by():
        return plan  # agreeing again to what one already agreed to changes nothing
    if plan.status is not PlanStatus.DRAFT:
        raise InvalidPlanTransition(
            f"A plan in state {plan.status} cannot be agreed to.", state=plan.status.value
        )
    if actor.id not in plan.agreed_by():
        plan.agreements.append(PlanAgreement(user_id=actor.id, revision=plan.revision))
        _record(session, "plan.agreement", plan, actor, {"revision": plan.revision})
    if plan.agreed_by() >= {plan.marketing_owner_id, plan.it_owner_id}:
        plan.status = PlanStatus.AGREED
        _record(session, "plan.agreed", plan, actor, {"revision": plan.revision})
    await session.flush()
    return plan


async def move(session: AsyncSession, *, plan: Plan, target: PlanStatus, actor: User) -> Plan:
    """`activate` (agreed -> active) and `close` (anything open -> closed), by IT or admin."""
    ensure_role(actor, Role.IT, Role.ADMIN)
    allowed = {
        PlanStatus.ACTIVE: (PlanStatus.AGREED,),
        PlanStatus.CLOSED: (PlanStatus.DRAFT, PlanStatus.AGREED, PlanStatus.ACTIVE),
    }
    if plan.status not in allowed[target]:
        raise InvalidPlanTransition(
            f"A plan in state {plan.status} cannot become {target}.", state=plan.status.value
        )
    before, plan.status = plan.status, target
    await session.flush()
    _record(
        session,
        f"plan.{'activated' if target is PlanStatus.ACTIVE else 'closed'}",
        plan,
        actor,
        {"before": {"status": before}, "after": {"status": target}},
    )
    return plan


async def get_plan(session: AsyncSession, *, plan_id: int) -> Plan:
    plan = await session.get(Plan, plan_id, populate_existing=True)
    if plan is None:
        raise NotFound("plan", plan_id)
    return plan


async def list_plans(
    session: AsyncSession, *, status: PlanStatus | None, limit: int, after_id: int | None
) -> tuple[list[Plan], int | None]:
    query = select(Plan).order_by(Plan.id).limit(row_limit(limit + 1))
    if status is not None:
        query = query.where(Plan.status == status)
    if after_id is not None:
        query = query.where(Plan.id > after_id)
    plans, last = page_of(list(await session.scalars(query)), limit)
    return plans, last.id if last else None


async def request_ids(session: AsyncSession, plan_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {plan_id: [] for plan_id in plan_ids}
    if plan_ids:
        rows = await session.execute(
            select(MarketingRequest.plan_id, MarketingRequest.id)
            .where(MarketingRequest.plan_id.in_(plan_ids))
            .order_by(MarketingRequest.id)
        )
        for plan_id, request_id in rows:
            if plan_id is not None:
                found[plan_id].append(request_id)
    return found
