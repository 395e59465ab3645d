from datetime import date

from pydantic import BaseModel, Field

from app.backlog.models import ItemStatus
from app.core.money import Money
from app.requests.models import RequestStatus


class Progress(BaseModel):
    done_points: int
    total_points: int


class RoadmapItem(BaseModel):
    id: int
    key: str
    title: str
    status: ItemStatus
    story_points: int | None
    target: str | None


class RoadmapRequest(BaseModel):
    id: int
    key: str
    title: str
    plan_id: int | None
    department: str | None
    status: RequestStatus
    target_date: date | None
    budget: Money | None
    estimated_cost: Money | None
    progress: Progress
    items: list[RoadmapItem]


class RoadmapQuarter(BaseModel):
    quarter: str
    requests: list[RoadmapRequest]
    items: list[RoadmapItem]  # items with this target and no request


class RoadmapPlan(BaseModel):
    id: int
    title: str
    status: str
    horizon: dict[str, str]
    request_ids: list[int]


class Roadmap(BaseModel):
    from_quarter: str
    to_quarter: str
    quarters: list[RoadmapQuarter]
    plans: list[RoadmapPlan]  # the plans of the requests shown, to group them by plan


class LeadTimeGroup(BaseModel):
    department: str | None
    count: int
    p50_days: float | None
    p85_days: float | None


class LeadTimeReport(BaseModel):
    since: date | None
    until: date | None
    overall: LeadTimeGroup
    by_department: list[LeadTimeGroup]


class BudgetLine(BaseModel):
    key: str | None  # the department or the sourcing
    currency: str
    requested: str = Field(description="sum of the requests' budgets in this currency")
    estimated: str = Field(description="sum of IT's estimated costs in this currency")
    requests: int = Field(description="requests with a budget in this currency")
    assessed: int = Field(description="requests with an estimated cost in this currency")


class BudgetReport(BaseModel):
    by_department: list[BudgetLine]
    by_sourcing: list[BudgetLine]


class ImpactCounts(BaseModel):
    none: int = 0
    low: int = 0
    medium: int = 0
    high: int = 0
    critical: int = 0
    unset: int = 0


class SprintImpact(BaseModel):
    sprint_id: int
    team_id: int
    name: str
    state: str
    stability: ImpactCounts
    security: ImpactCounts


class ImpactReport(BaseModel):
    sprints: list[SprintImpact]
