from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from app.core.schemas import Id, InputModel, OutputModel, fields_of
from app.sprints.models import SprintState

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Goal = Annotated[str, StringConstraints(max_length=5_000)]
MAX_SPRINT_DAYS = 90
Capacity = Annotated[int, Field(ge=0, le=10_000)]


class _Dates(InputModel):
    @model_validator(mode="after")
    def _ordered(self) -> "_Dates":
        start, end = getattr(self, "start_date", None), getattr(self, "end_date", None)
        if start is not None and end is not None:
            if end < start:
                raise ValueError("end_date is before start_date")
            if (end - start).days >= MAX_SPRINT_DAYS:
                raise ValueError(f"a sprint lasts at most {MAX_SPRINT_DAYS} days")
        return self


class SprintCreate(_Dates):
    team_id: Id
    name: Name
    goal: Goal | None = None
    start_date: date | None = None
    end_date: date | None = None
    capacity_points: Capacity | None = Field(
        default=None, description="defaults to the team's default_capacity_points"
    )


class SprintUpdate(_Dates):
    name: Name | None = None
    goal: Goal | None = None
    start_date: date | None = None
    end_date: date | None = None
    capacity_points: Capacity | None = None


class AddItems(InputModel):
    item_ids: Annotated[list[Id], Field(min_length=1, max_length=500)]
    override_reason: Annotated[str, StringConstraints(min_length=1, max_length=2_000)] | None = None


class CloseSprint(InputModel):
    carry_over: Literal["backlog", "next"] = "backlog"
    next_sprint_id: Id | None = None

    @model_validator(mode="after")
    def _next_needs_a_sprint(self) -> "CloseSprint":
        if (self.carry_over == "next") != (self.next_sprint_id is not None):
            raise ValueError("next_sprint_id goes with carry_over=next, and only with it")
        return self


class SprintOut(OutputModel):
    id: int
    team_id: Id
    name: str
    goal: str | None
    start_date: date | None
    end_date: date | None
    state: SprintState
    capacity_points: int
    planned_points: int = Field(description="points of the items in the sprint now")
    committed_points: int | None
    completed_points: int | None
    started_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class BurndownDay(OutputModel):
    date: date
    remaining_points: int | None = Field(description="at the end of the day; null in the future")


class SprintReport(OutputModel):
    sprint_id: int
    state: SprintState
    committed_points: int
    added_points: int
    removed_points: int
    completed_points: int
    carried_over_points: int
    remaining_points: int
    burndown: list[BurndownDay]


SprintCreate.read_only = SprintUpdate.read_only = fields_of(SprintOut)
