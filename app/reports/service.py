"""Read-only views across domains: the roadmap and the management reports. Writes nothing."""

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem, ItemStatus
from app.core.events import Event
from app.core.money import Money, format_minor_units
from app.core.pagination import row_limit
from app.plans.models import Plan
from app.reports.quarters import Quarter
from app.reports.schemas import (
    BudgetLine,
    BudgetReport,
    ImpactCounts,
    ImpactReport,
    LeadTimeGroup,
    LeadTimeReport,
    Progress,
    Roadmap,
    RoadmapItem,
    RoadmapPlan,
    RoadmapQuarter,
    RoadmapRequest,
    SprintImpact,
)
from app.requests.models import MarketingRequest, RequestStatus
from app.sprints.models import Sprint

NOT_ON_THE_ROADMAP = (RequestStatus.DRAFT, RequestStatus.REJECTED, RequestStatus.WITHDRAWN)


def _item(item: BacklogItem) -> RoadmapItem:
    return RoadmapItem(
        id=item.id,
        key=item.key,
        title=item.title,
        status=item.status,
        story_points=item.story_points,
        target=item.target,
    )


def progress_of(items: list[BacklogItem]) -> Progress:
    """Points done of points planned; cancelled items count for neither."""
    counted = [i for i in items if i.status is not ItemStatus.CANCELLED]
    done = sum(i.story_points or 0 for i in counted if i.status is ItemStatus.DONE)
    return Progress(done_points=done, total_points=sum(i.story_points or 0 for i in counted))


def roadmap_request(request: MarketingRequest, items: list[BacklogItem]) -> RoadmapRequest:
    assessment = request.assessment
    return RoadmapRequest(
        id=request.id,
        key=request.key,
        title=request.title,
        plan_id=request.plan_id,
        department=request.department,
        status=request.status,
        target_date=request.target_date,
        budget=Money.maybe(request.budget_minor, request.budget_currency),
        estimated_cost=Money.maybe(
            assessment.estimated_cost_minor, assessment.estimated_cost_currency
        )
        if assessment
        else None,
        progress=progress_of(items),
        items=[_item(i) for i in items],
    )


async def requests_with_items(
    session: AsyncSession, *conditions: ColumnElement[bool]
) -> tuple[list[MarketingRequest], dict[int, list[BacklogItem]]]:
    """The requests matching `conditions` (by target date), and each one's items: two queries
    whatever the numbers (the items are selected by subquery, not by a list of ids)."""
    requests = list(
        await session.scalars(
            select(MarketingRequest)
            .where(*conditions)
            .order_by(MarketingRequest.target_date, MarketingRequest.id)
        )
    )
    items_of: dict[int, list[BacklogItem]] = defaultdict(list)
    if requests:
        ids = select(MarketingRequest.id).where(*conditions)
        query = select(BacklogItem).where(BacklogItem.request_id.in_(ids))
        for item in await session.scalars(query.order_by(BacklogItem.id)):
            items_of[item.request_id or 0].append(item)
    return requests, items_of


async def roadmap(session: AsyncSession, *, first: Quarter, last: Quarter) -> Roadmap:
    """Requests by the quarter of their target date, with their items; team work by target."""
    quarters = first.until(last)
    requests, items_of = await requests_with_items(
        session,
        MarketingRequest.target_date.between(first.first_day(), last.last_day()),
        MarketingRequest.status.not_in(NOT_ON_THE_ROADMAP),
    )
    loose = await session.scalars(
        select(BacklogItem)
        .where(BacklogItem.request_id.is_(None), BacklogItem.target.in_(map(str, quarters)))
        .order_by(BacklogItem.rank, BacklogItem.id)
    )
    loose_by_quarter: dict[str, list[BacklogItem]] = defaultdict(list)
    for item in loose:
        loose_by_quarter[item.target or ""].append(item)
    by_quarter: dict[Quarter, list[RoadmapRequest]] = defaultdict(list)
    for request in requests:
        assert request.target_date is not None
        by_quarter[Quarter.of(request.target_date)].append(
            roadmap_request(request, items_of[request.id])
        )
    return Roadmap(
        from_quarter=str(first),
        to_quarter=str(last),
        plans=await _plans(session, requests),
        quarters=[
            RoadmapQuarter(
                quarter=str(q),
                requests=by_quarter[q],
                items=[_item(i) for i in loose_by_quarter[str(q)]],
            )
            for q in quarters
        ],
    )


async def _plans(session: AsyncSession, requests: list[MarketingRequest]) -> list[RoadmapPlan]:
    by_plan: dict[int, list[int]] = defaultdict(list)
    for request in requests:
        if request.plan_id is not None:
            by_plan[request.plan_id].append(request.id)
    if not by_plan:
        return []
    plans = await session.scalars(select(Plan).where(Plan.id.in_(by_plan)).order_by(Plan.id))
    return [
        RoadmapPlan(
            id=plan.id,
            title=plan.title,
            status=plan.status,
            horizon={"from": plan.horizon_from, "to": plan.horizon_to},
            request_ids=by_plan[plan.id],
        )
        for plan in plans
    ]


def nearest_rank(values: list[float], percentile: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percentile / 100 * len(ordered))) - 1]


def lead_time_group(department: str | None, days: list[float]) -> LeadTimeGroup:
    p50, p85 = nearest_rank(days, 50), nearest_rank(days, 85)
    return LeadTimeGroup(
        department=department,
        count=len(days),
        p50_days=None if p50 is None else round(p50, 2),
        p85_days=None if p85 is None else round(p85, 2),
    )


async def _event_times(
    session: AsyncSession, event_type: str, ids: Select[Any], latest: bool
) -> dict[int, datetime]:
    pick = func.max(Event.at) if latest else func.min(Event.at)
    rows = await session.execute(
        select(Event.entity_id, pick)
        .where(Event.entity == "request", Event.type == event_type, Event.entity_id.in_(ids))
        .group_by(Event.entity_id)
    )
    return {entity_id: at for entity_id, at in rows}


async def lead_times(
    session: AsyncSession, request_ids: Select[Any]
) -> dict[int, tuple[datetime, float]]:
    """For delivered requests (`request_ids` selects their ids): when they were delivered, and
    the days since their first submission."""
    submitted = await _event_times(session, "request.submit", request_ids, latest=False)
    delivered = await _event_times(
        session, "request.delivery_status_changed", request_ids, latest=True
    )
    return {
        rid: (at, (at - submitted[rid]).total_seconds() / 86_400)
        for rid, at in delivered.items()
        # delivered before submitted cannot happen; such a record is skipped, not averaged in
        if rid in submitted and at >= submitted[rid]
    }


async def lead_time(
    session: AsyncSession, *, since: date | None, until: date | None, department: str | None
) -> LeadTimeReport:
    """Days from first submission to delivery, for requests delivered in the window."""
    query = select(MarketingRequest.id, MarketingRequest.department).where(
        MarketingRequest.status == RequestStatus.DELIVERED
    )
    if department is not None:
        query = query.where(MarketingRequest.department == department)
    departments = {rid: dep for rid, dep in await session.execute(query)}
    ids = query.with_only_columns(MarketingRequest.id)
    low = datetime.combine(since, time.min, UTC) if since else None
    high = datetime.combine(until, time.max, UTC) if until else None
    days: dict[str | None, list[float]] = defaultdict(list)
    for rid, (delivered_at, lead) in (await lead_times(session, ids)).items():
        if (low is None or delivered_at >= low) and (high is None or delivered_at <= high):
            days[departments[rid]].append(lead)
    everything = [d for values in days.values() for d in values]
    groups = [lead_time_group(dep, days[dep]) for dep in sorted(days, key=lambda d: d or "")]
    return LeadTimeReport(
        since=since, until=until, overall=lead_time_group(None, everything), by_department=groups
    )


async def budget(session: AsyncSession) -> BudgetReport:
    """Requested budget vs IT's estimated cost by department and by sourcing, per currency.

    Summed exactly in Python over the live requests (never converted between currencies).
    """
    query = select(MarketingRequest).where(MarketingRequest.status.not_in(NOT_ON_THE_ROADMAP))
    lines: dict[tuple[str, str | None, str], dict[str, int]] = defaultdict(
        lambda: {"requested": 0, "estimated": 0, "requests": 0, "assessed": 0}
    )
    for request in await session.scalars(query):
        assessment = request.assessment
        keys = [("department", request.department)]
        if assessment is not None:
            keys.append(("sourcing", assessment.sourcing.value))
        for kind, key in keys:
            if request.budget_minor is not None and request.budget_currency:
                line = lines[(kind, key, request.budget_currency)]
                line["requested"] += request.budget_minor
                line["requests"] += 1
            if assessment and assessment.estimated_cost_minor is not None:
                line = lines[(kind, key, assessment.estimated_cost_currency or "")]
                line["estimated"] += assessment.estimated_cost_minor
                line["assessed"] += 1
    ordered = sorted(lines.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2]))
    out: dict[str, list[BudgetLine]] = {"department": [], "sourcing": []}
    for (kind, key, currency), totals in ordered:
        out[kind].append(
            BudgetLine(
                key=key,
                currency=currency,
                requested=format_minor_units(totals["requested"], currency),
                estimated=format_minor_units(totals["estimated"], currency),
                requests=totals["requests"],
                assessed=totals["assessed"],
            )
        )
    return BudgetReport(by_department=out["department"], by_sourcing=out["sourcing"])


async def impact(session: AsyncSession, *, team_id: int | None, last: int) -> ImpactReport:
    """Items by stability and by security impact, per sprint (latest sprints first)."""
    query = select(Sprint).order_by(Sprint.id.desc()).limit(row_limit(last))
    if team_id is not None:
        query = query.where(Sprint.team_id == team_id)
    sprints = list(await session.scalars(query))
    counts = {s.id: (ImpactCounts(), ImpactCounts()) for s in sprints}
    for index, column in enumerate((BacklogItem.stability_impact, BacklogItem.security_impact)):
        rows = await session.execute(
            select(BacklogItem.sprint_id, column, func.count())
            .where(BacklogItem.sprint_id.in_(list(counts)))
            .group_by(BacklogItem.sprint_id, column)
        )
        for sprint_id, level, count in rows:
            if sprint_id is None:
                continue
            target = counts[sprint_id][index]
            setattr(target, level.value if level else "unset", count)
    return ImpactReport(
        sprints=[
            SprintImpact(
                sprint_id=s.id,
                team_id=s.team_id,
                name=s.name,
                state=s.state,
                stability=counts[s.id][0],
                security=counts[s.id][1],
            )
            for s in sprints
        ]
    )
