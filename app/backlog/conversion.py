"""Turning an approved request into backlog items that inherit its value and review triggers."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import service
from app.backlog.models import STORY_POINTS, BacklogItem
from app.backlog.schemas import ConvertIn, ConvertItem
from app.requests import actions, workflow
from app.requests import service as requests_service
from app.requests.models import MarketingRequest
from app.users.models import User


def quarter_of(day: date | None) -> str | None:
    return None if day is None else f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _from_request(request: MarketingRequest, spec: ConvertItem, *, single: bool) -> BacklogItem:
    assessment = request.assessment
    assert assessment is not None, "an approved request has an assessment"
    points = spec.story_points
    if points is None and single and assessment.effort_points in STORY_POINTS:
        points = assessment.effort_points
    return BacklogItem(
        **spec.model_dump(exclude={"story_points", "target"}),
        story_points=points,
        target=spec.target or quarter_of(request.target_date),
        business_value=request.business_value,
        time_criticality=request.time_criticality,
        stability_impact=assessment.stability_impact,
        security_impact=assessment.security_impact,
        data_classification=assessment.data_classification,
        personal_data=assessment.personal_data,
        external_exposure=assessment.external_exposure,
        security_cleared=workflow.has_current_approval(request),
        request_id=request.id,
    )


async def convert_request(
    session: AsyncSession, *, request_id: int, data: ConvertIn, actor: User
) -> list[BacklogItem]:
    """One item from the request itself, or the given ones; the request becomes `planned`."""
    request = await requests_service.get_request(session, request_id=request_id)
    workflow.check(request, workflow.Action.CONVERT, actor)
    specs = data.items or [ConvertItem(title=request.title, description=request.description)]
    items = []
    for spec in specs:
        item = _from_request(request, spec, single=len(specs) == 1)
        items.append(await service.add_item(session, item, actor=actor))
    await actions.mark_planned(
        session, request=request, item_ids=[item.id for item in items], actor=actor
    )
    return items
