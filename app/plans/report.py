"""A plan's report: per quarter of its horizon, progress, money by sourcing, risk, lead time."""

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.money import Money
from app.plans.models import Plan
from app.plans.schemas import PlanMoney, PlanQuarter, PlanReport, SourcingCost, SupplierFlag
from app.reports import service as reports
from app.reports.quarters import Quarter
from app.reports.schemas import ImpactCounts, RoadmapRequest
from app.requests.models import MarketingRequest, RequestStatus
from app.suppliers.models import Supplier

CONTRACT_WARNING = timedelta(days=90)


def _money(plan: Plan, requests: list[MarketingRequest]) -> PlanMoney:
    """Budget vs the estimated cost of the assessed requests, per sourcing and currency."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for request in requests:
        assessment = request.assessment
        if assessment and assessment.estimated_cost_minor is not None:
            currency = assessment.estimated_cost_currency or ""
            totals[(assessment.sourcing.value, currency)] += assessment.estimated_cost_minor
    budget = Money.maybe(plan.budget_minor, plan.budget_currency)
    same_currency = sum(v for (_, cur), v in totals.items() if cur == plan.budget_currency)
    return PlanMoney(
        budget=budget,
        estimated_in_budget_currency=Money.from_minor_units(
            same_currency, plan.budget_currency
        ).amount
        if plan.budget_currency
        else None,
        by_sourcing=[
            SourcingCost(
                sourcing=sourcing,
                currency=currency,
                estimated=Money.from_minor_units(total, currency).amount,
            )
            for (sourcing, currency), total in sorted(totals.items())
        ],
        over_budget=plan.budget_minor is not None and same_currency > plan.budget_minor,
    )


def _risk(items: list[BacklogItem]) -> tuple[ImpactCounts, ImpactCounts]:
    stability, security = ImpactCounts(), ImpactCounts()
    for item in items:
        pairs = ((stability, item.stability_impact), (security, item.security_impact))
        for counts, level in pairs:
            name = level.value if level else "unset"
            setattr(counts, name, getattr(counts, name) + 1)
    return stability, security


async def _supplier_flags(
    session: AsyncSession, plan: Plan, requests: list[MarketingRequest]
) -> list[SupplierFlag]:
    """Suppliers the plan relies on whose contract ends within 90 days of its horizon."""
    supplier_ids = {
        r.assessment.supplier_id
        for r in requests
        if r.assessment and r.assessment.supplier_id is not None
    }
    if not supplier_ids:
        return []
    horizon_end = Quarter.parse(plan.horizon_to).last_day()
    suppliers = await session.scalars(
        select(Supplier).where(Supplier.id.in_(supplier_ids)).order_by(Supplier.id)
    )
    return [
        SupplierFlag(
            supplier_id=s.id,
            name=s.name,
            contract_end=str(s.contract_end),
            reason="ends before the horizon does"
            if s.contract_end < horizon_end
            else "ends within 90 days after the horizon",
        )
        for s in suppliers
        if s.contract_end is not None and s.contract_end <= horizon_end + CONTRACT_WARNING
    ]


async def plan_report(session: AsyncSession, *, plan: Plan) -> PlanReport:
    requests, items_of = await reports.requests_with_items(
        session, MarketingRequest.plan_id == plan.id
    )
    items = [item for request in requests for item in items_of[request.id]]
    quarters = Quarter.parse(plan.horizon_from).until(Quarter.parse(plan.horizon_to))
    by_quarter: dict[str, list[RoadmapRequest]] = defaultdict(list)
    unscheduled: list[RoadmapRequest] = []
    for request in requests:
        view = reports.roadmap_request(request, items_of[request.id])
        quarter = Quarter.of(request.target_date) if request.target_date else None
        (by_quarter[str(quarter)] if quarter in quarters else unscheduled).append(view)
    delivered = select(MarketingRequest.id).where(
        MarketingRequest.plan_id == plan.id, MarketingRequest.status == RequestStatus.DELIVERED
    )
    leads = await reports.lead_times(session, delivered)
    stability, security = _risk(items)
    return PlanReport(
        plan_id=plan.id,
        quarters=[PlanQuarter(quarter=str(q), requests=by_quarter[str(q)]) for q in quarters],
        unscheduled=unscheduled,
        progress=reports.progress_of(items).model_dump(),
        money=_money(plan, requests),
        stability=stability,
        security=security,
        lead_time=reports.lead_time_group(None, [days for _, days in leads.values()]),
        supplier_flags=await _supplier_flags(session, plan, requests),
    )
