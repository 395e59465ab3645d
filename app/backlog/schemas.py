from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.backlog.models import STORY_POINTS, ItemStatus, ItemType
from app.core.schemas import Id, InputModel, OutputModel, fields_of
from app.requests.models import DataClassification, Impact

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Score = Annotated[int, Field(ge=1, le=10)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=1_000)]


def _fibonacci(points: int) -> int:
    if points not in STORY_POINTS:
        raise ValueError(f"story_points must be one of {', '.join(map(str, STORY_POINTS))}")
    return points


Points = Annotated[int, AfterValidator(_fibonacci)]
Quarter = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-Q[1-4]$")]

IMPACT_FIELDS = (
    "stability_impact",
    "security_impact",
    "data_classification",
    "personal_data",
    "external_exposure",
)


class _ItemFields(InputModel):
    """What IT writes on an item; rank, sprint, clearance and WSJF have their own ways."""

    @field_validator("labels", check_fields=False)
    @classmethod
    def _unique_labels(cls, labels: list[str] | None) -> list[str] | None:
        return None if labels is None else list(dict.fromkeys(labels))


class ItemCreate(_ItemFields):
    type: ItemType = ItemType.STORY
    title: Title
    description: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    acceptance_criteria: Annotated[list[Criterion], Field(max_length=50)] = Field(
        default_factory=list
    )
    status: Literal[ItemStatus.NEW] = ItemStatus.NEW
    story_points: Points | None = None
    business_value: Score | None = None
    time_criticality: Score | None = None
    risk_reduction: Score | None = None
    stability_impact: Impact | None = None
    security_impact: Impact | None = None
    data_classification: DataClassification | None = None
    personal_data: bool = False
    external_exposure: bool = False
    parent_id: Id | None = None
    team_id: Id | None = None
    assignee_id: Id | None = None
    labels: Annotated[list[Label], Field(max_length=30)] = Field(default_factory=list)
    target: Quarter | None = None


class ItemUpdate(_ItemFields):
    type: ItemType | None = None
    title: Title | None = None
    description: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    acceptance_criteria: Annotated[list[Criterion], Field(max_length=50)] | None = None
    status: ItemStatus | None = None
    story_points: Points | None = None
    business_value: Score | None = None
    time_criticality: Score | None = None
    risk_reduction: Score | None = None
    stability_impact: Impact | None = None
    security_impact: Impact | None = None
    data_classification: DataClassification | None = None
    personal_data: bool | None = None
    external_exposure: bool | None = None
    parent_id: Id | None = None
    team_id: Id | None = None
    assignee_id: Id | None = None
    labels: Annotated[list[Label], Field(max_length=30)] | None = None
    target: Quarter | None = None


NOT_NULL_ON_UPDATE = frozenset(
    {
        "type",
        "title",
        "status",
        "personal_data",
        "external_exposure",
        "acceptance_criteria",
        "labels",
    }
)


class MoveIn(InputModel):
    """Exactly one of: before_id, after_id, position."""

    before_id: Id | None = None
    after_id: Id | None = None
    position: Literal["top", "bottom"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "MoveIn":
        given = [v for v in (self.before_id, self.after_id, self.position) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of before_id, after_id, position")
        return self


class ConvertItem(InputModel):
    type: ItemType = ItemType.STORY
    title: Title
    description: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    acceptance_criteria: Annotated[list[Criterion], Field(max_length=50)] = Field(
        default_factory=list
    )
    story_points: Points | None = None
    team_id: Id | None = None
    labels: Annotated[list[Label], Field(max_length=30)] = Field(default_factory=list)
    target: Quarter | None = None


class ConvertIn(InputModel):
    items: Annotated[list[ConvertItem], Field(min_length=1, max_length=100)] | None = None


class ClearanceIn(InputModel):
    notes: Annotated[str, StringConstraints(max_length=5_000)] | None = None


class ItemOut(OutputModel):
    id: int
    key: str
    type: ItemType
    title: str
    description: str | None
    acceptance_criteria: list[str]
    status: ItemStatus
    story_points: int | None
    business_value: int | None
    time_criticality: int | None
    risk_reduction: int | None
    wsjf: float | None
    stability_impact: Impact | None
    security_impact: Impact | None
    data_classification: DataClassification | None
    personal_data: bool
    external_exposure: bool
    security_cleared: bool
    security_review_required: bool
    request_id: int | None
    parent_id: int | None
    rollup_points: int | None = Field(description="epics: the sum of their children's points")
    team_id: int | None
    sprint_id: int | None
    assignee_id: int | None
    labels: list[str]
    rank: str
    target: str | None
    links: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    version: int


class ConvertOut(BaseModel):
    items: list[ItemOut]


ItemCreate.read_only = ItemUpdate.read_only = ConvertItem.read_only = fields_of(ItemOut)
