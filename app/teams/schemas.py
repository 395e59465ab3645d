from datetime import datetime
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, StringConstraints

from app.core.schemas import Id, InputModel, OutputModel, fields_of


def _iana(name: str) -> str:
    if name not in _ZONES:
        raise ValueError(f"{name!r} is not an IANA time zone")
    return name


_ZONES = frozenset(available_timezones())
TimeZone = Annotated[str, AfterValidator(_iana)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Members = Annotated[list[Id], Field(max_length=200)]


class TeamCreate(InputModel):
    name: Name
    default_capacity_points: Annotated[int, Field(ge=0, le=10_000)] = 0
    stability_budget: Annotated[int, Field(ge=0, le=1_000)] = 1
    timezone: TimeZone = "UTC"
    members: Members = Field(default_factory=list, description="user ids")


class TeamUpdate(InputModel):
    name: Name | None = None
    default_capacity_points: Annotated[int, Field(ge=0, le=10_000)] | None = None
    stability_budget: Annotated[int, Field(ge=0, le=1_000)] | None = None
    timezone: TimeZone | None = None
    members: Members | None = None


class TeamOut(OutputModel):
    id: int
    name: str
    default_capacity_points: int
    stability_budget: int
    timezone: str
    members: list[int]
    created_at: datetime
    updated_at: datetime
    version: int


class VelocitySprint(OutputModel):
    sprint_id: int
    name: str
    end_date: str
    committed_points: int
    completed_points: int


class Velocity(OutputModel):
    team_id: int
    sprints: list[VelocitySprint]
    average_committed: float | None
    average_completed: float | None


TeamCreate.read_only = TeamUpdate.read_only = fields_of(TeamOut)
