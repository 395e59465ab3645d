from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.core.db import SessionDep
from app.core.errors import UnprocessableEntity, error_responses
from app.core.schemas import ASCII_DIGITS, QueryId
from app.reports import service
from app.reports.quarters import Quarter, QuarterText
from app.reports.schemas import BudgetReport, ImpactReport, LeadTimeReport, Roadmap
from app.users.auth import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=error_responses(401, 422))
MAX_QUARTERS = 12


@router.get("/roadmap", summary="Requests and items by target quarter, with progress and money")
async def roadmap(
    session: SessionDep,
    viewer: CurrentUser,
    from_: Annotated[QuarterText | None, Query(alias="from", description="e.g. 2027-Q1")] = None,
    to: Annotated[QuarterText | None, Query(description="e.g. 2027-Q4")] = None,
) -> Roadmap:
    first = Quarter.parse(from_) if from_ else Quarter.of(datetime.now(UTC).date())
    last = Quarter.parse(to) if to else Quarter(first.year + 1, first.number)
    if last < first or len(first.until(last)) > MAX_QUARTERS:
        raise UnprocessableEntity(
            f"`to` must not precede `from`, and the span is at most {MAX_QUARTERS} quarters.",
            errors=[{"loc": ["query", "to"], "msg": "out of range"}],
        )
    return await service.roadmap(session, first=first, last=last)


@router.get("/reports/lead-time", summary="Days from submission to delivery, p50/p85 by department")
async def lead_time(
    session: SessionDep,
    viewer: CurrentUser,
    since: Annotated[date | None, Query(description="delivered on or after")] = None,
    until: Annotated[date | None, Query(description="delivered on or before")] = None,
    department: Annotated[str | None, Query(max_length=100)] = None,
) -> LeadTimeReport:
    return await service.lead_time(session, since=since, until=until, department=department)


@router.get("/reports/budget", summary="Requested budget vs estimated cost, per currency")
async def budget(session: SessionDep, viewer: CurrentUser) -> BudgetReport:
    return await service.budget(session)


@router.get("/reports/impact", summary="Items by stability and security impact, per sprint")
async def impact(
    session: SessionDep,
    viewer: CurrentUser,
    team_id: QueryId = None,
    last: Annotated[int, Query(ge=1, le=50, description="the latest N sprints"), ASCII_DIGITS] = 10,
) -> ImpactReport:
    return await service.impact(session, team_id=team_id, last=last)
