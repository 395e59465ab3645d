"""Demo delivery: two teams, backlog items, two closed sprints with history, an active one.

Runs after the demo requests exist. Each sprint step is dated back to when it would have
happened, so reports, burndowns and velocity have something true to show.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog import conversion, readiness
from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem, ItemStatus
from app.backlog.schemas import ConvertIn, ItemCreate, ItemUpdate
from app.core.db import utcnow
from app.core.events import Event
from app.requests.models import MarketingRequest, RequestStatus
from app.sprints import lifecycle, planning
from app.sprints import service as sprints_service
from app.sprints.models import Sprint
from app.sprints.schemas import SprintCreate
from app.teams import service as teams_service
from app.teams.models import Team
from app.teams.schemas import TeamCreate
from app.users.models import User

# title, points, stability impact, security impact, labels
STORIES = (
    ("Productfilters op maat en kleur", 5, "low", "low", ["webshop", "ux"]),
    ("Checkout: iDEAL en Apple Pay bovenaan", 8, "high", "medium", ["checkout"]),
    ("Sitemap and canonical URLs for campaign pages", 3, "low", "none", ["seo"]),
    ("Lighthouse performance above 90 on mobile", 5, "medium", "none", ["performance"]),
    ("Wishlist delen via link", 3, "low", "low", ["webshop"]),
    ("Order status e-mails in de huisstijl", 2, "low", "low", ["crm"]),
    ("Cookie consent v2 (TCF 2.2)", 5, "medium", "high", ["privacy"]),
    ("Segment export to the e-mail platform", 8, "medium", "medium", ["crm", "data"]),
    ("Loyalty points on the account page", 5, "low", "low", ["loyalty"]),
    ("A/B test framework for landing pages", 13, "medium", "low", ["experiments"]),
)


@dataclass
class Clock:
    """Dates the events written since the last call, as if they happened at `moment`."""

    session: AsyncSession
    seen: int = 0

    async def mark(self) -> None:
        self.seen = (await self.session.scalar(select(func.max(Event.id)))) or 0

    async def at(self, day: date, hour: int = 10) -> None:
        moment = min(datetime.combine(day, time(hour), UTC), utcnow())  # never in the future
        await self.session.execute(update(Event).where(Event.id > self.seen).values(at=moment))
        await self.mark()


async def _ready(session: AsyncSession, item: BacklogItem, *, it: User, security: User) -> None:
    if item.review_required:
        await readiness.clear_security(session, item=item, notes="Reviewed in demo", actor=security)
    fields: dict[str, Any] = {
        "acceptance_criteria": ["Works on mobile and desktop", "Copy approved by brand"],
        "status": "ready",
    }
    if item.story_points is None:
        fields["story_points"] = 5
    update_ = ItemUpdate.model_validate(fields)
    await backlog_service.update_item(session, item=item, data=update_, actor=it)


async def _items(
    session: AsyncSession,
    requests: list[MarketingRequest],
    team: Team,
    *,
    it: User,
    security: User,
) -> list[BacklogItem]:
    items: list[BacklogItem] = []
    approved = [r for r in requests if r.status is RequestStatus.APPROVED]
    for request in approved[:-1]:  # one approved request stays waiting for conversion
        items += await conversion.convert_request(
            session, request_id=request.id, data=ConvertIn(), actor=it
        )
    for title, points, stability, security_impact, labels in STORIES:
        data = ItemCreate.model_validate(
            {
                "title": title,
                "story_points": points,
                "stability_impact": stability,
                "security_impact": security_impact,
                "labels": labels,
                "team_id": team.id,
                "business_value": 3 + points % 7,
                "time_criticality": 2 + points % 5,
                "risk_reduction": 1 + points % 3,
            }
        )
        items.append(await backlog_service.create_item(session, data=data, actor=it))
    for item in items:
        await _ready(session, item, it=it, security=security)
    return items


async def _sprint(session: AsyncSession, team: Team, name: str, start: date, *, it: User) -> Sprint:
    data = SprintCreate(
        team_id=team.id,
        name=name,
        start_date=start,
        end_date=start + timedelta(days=13),
        goal=f"{name}: ship what we promised",
    )
    return await sprints_service.create_sprint(session, data=data, actor=it)


async def _set_status(
    session: AsyncSession, item: BacklogItem, status: ItemStatus, it: User
) -> None:
    await backlog_service.update_item(session, item=item, data=ItemUpdate(status=status), actor=it)


async def _play_sprint(
    session: AsyncSession,
    clock: Clock,
    sprint: Sprint,
    plan: list[BacklogItem],
    done: list[BacklogItem],
    *,
    next_sprint: Sprint | None,
    it: User,
) -> None:
    """Plan, start, finish some items day by day, close; each step dated in the past."""
    assert sprint.start_date is not None
    await planning.add_items(
        session,
        sprint=sprint,
        item_ids=[i.id for i in plan],
        override_reason="Demo: release weekend",
        actor=it,
    )
    await clock.at(sprint.start_date - timedelta(days=3))
    await lifecycle.start(session, sprint=sprint, actor=it)
    await clock.at(sprint.start_date, hour=8)
    for day, item in enumerate(done, start=2):
        await _set_status(session, item, ItemStatus.IN_PROGRESS, it)
        await _set_status(session, item, ItemStatus.DONE, it)
        await clock.at(sprint.start_date + timedelta(days=day), hour=15)
    if next_sprint is not None:
        await lifecycle.close(
            session, sprint=sprint, carry_over="next", next_sprint_id=next_sprint.id, actor=it
        )
        await clock.at(sprint.start_date + timedelta(days=13), hour=16)


async def _teams(session: AsyncSession, it: User) -> Team:
    """Two teams; the demo's sprints run in the first."""
    teams = [
        await teams_service.create_team(
            session,
            data=TeamCreate(
                name=name,
                default_capacity_points=capacity,
                stability_budget=1,
                timezone="Europe/Amsterdam",
                members=members,
            ),
            actor=it,
        )
        for name, capacity, members in (("Webshop", 21, [it.id]), ("CRM & Data", 13, []))
    ]
    return teams[0]


async def load_delivery(
    session: AsyncSession,
    *,
    requests: list[MarketingRequest],
    it: User,
    security: User,
    today: date,
) -> None:
    webshop = await _teams(session, it)
    monday = today - timedelta(days=today.weekday())
    clock = Clock(session)
    # Everything so far (users, requests, their assessments and reviews) happened before the
    # first sprint was planned, so lead times run forwards.
    await clock.at(monday - timedelta(days=70))
    items = await _items(session, requests, webshop, it=it, security=security)
    first, second, current, _next = [
        await _sprint(session, webshop, f"Sprint {n}", monday + timedelta(days=14 * k), it=it)
        for n, k in ((1, -4), (2, -2), (3, 0), (4, 2))
    ]
    await clock.at(monday - timedelta(days=62))

    def pick(*indexes: int) -> list[BacklogItem]:
        return [items[i] for i in indexes]

    # items[0] and [1] came from requests: the first gets delivered, the second is in delivery.
    await _play_sprint(
        session, clock, first, pick(0, 1, 2, 3), pick(0, 2), next_sprint=second, it=it
    )
    await _play_sprint(
        session, clock, second, pick(4, 5), pick(3, 4, 5), next_sprint=current, it=it
    )
    await _play_sprint(session, clock, current, pick(6, 7), pick(6), next_sprint=None, it=it)
