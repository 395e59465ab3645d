from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.money import Money
from app.core.schemas import Id, InputModel, OutputModel, fields_of
from app.plans.models import PlanStatus
from app.reports.quarters import Quarter, QuarterText
from app.reports.schemas import ImpactCounts, LeadTimeGroup, RoadmapRequest

Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Kpi(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Short
    target: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    unit: Annotated[str, StringConstraints(max_length=50)] = ""


class Horizon(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: QuarterText = Field(alias="from")
    to: QuarterText

    @model_validator(mode="after")
    def _ordered(self) -> "Horizon":
        if Quarter.parse(self.to) < Quarter.parse(self.from_):
            raise ValueError("the horizon ends before it starts")
        if len(Quarter.parse(self.from_).until(Quarter.parse(self.to))) > 12:
            raise ValueError("a horizon spans at most 12 quarters")
        return self


Kpis = Annotated[list[Kpi], Field(max_length=30)]
Objective = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class PlanCreate(InputModel):
    title: Short
    objective: Objective
    kpis: Kpis = Field(default_factory=list)
    marketing_owner_id: Id
    it_owner_id: Id
    horizon: Horizon
    budget: Money | None = None


class PlanUpdate(InputModel):
    title: Short | None = None
    objective: Objective | None = None
    kpis: Kpis | None = None
    marketing_owner_id: Id | None = None
    it_owner_id: Id | None = None
    horizon: Horizon | None = None
    budget: Money | None = None


class Agreement(OutputModel):
    user_id: int
    revision: int
    at: datetime


class PlanOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    title: str
    objective: str
    kpis: list[Kpi]
    marketing_owner_id: int
    it_owner_id: int
    horizon: Horizon
    budget: Money | None
    status: PlanStatus
    revision: int = Field(description="the content version the owners agree to")
    agreements: list[Agreement] = Field(description="agreements to the current revision")
    request_ids: list[int]
    created_at: datetime
    updated_at: datetime
    version: int


class SourcingCost(BaseModel):
    sourcing: str
    currency: str
    estimated: str


class PlanMoney(BaseModel):
    budget: Money | None
    estimated_in_budget_currency: str | None
    by_sourcing: list[SourcingCost]
    over_budget: bool


class PlanQuarter(BaseModel):
    quarter: str
    requests: list[RoadmapRequest]


class SupplierFlag(BaseModel):
    supplier_id: int
    name: str
    contract_end: str
    reason: str


class PlanReport(BaseModel):
    plan_id: int
    quarters: list[PlanQuarter]
    unscheduled: list[RoadmapRequest] = Field(description="requests with no target in the horizon")
    progress: dict[str, int]
    money: PlanMoney
    stability: ImpactCounts
    security: ImpactCounts
    lead_time: LeadTimeGroup
    supplier_flags: list[SupplierFlag]


PlanCreate.read_only = PlanUpdate.read_only = fields_of(PlanOut)
