from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.backlog.models import ItemStatus
from app.core.outbox import JobKind, JobState
from app.core.schemas import Id, InputModel, OutputModel, fields_of
from app.sync.models import SyncState, TrackerKind

Secret = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]


def _no_dot_segments(repository: str) -> str:
    """`.` and `..` pass the pattern, but in a URL path they are steps up, out of the repo."""
    if any(part in (".", "..") for part in repository.split("/")):
        raise ValueError("owner and repository may not be . or ..")
    return repository


Repository = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"),
    AfterValidator(_no_dot_segments),
]
ProjectKey = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")]
RemoteStatus = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Auth(BaseModel):
    """Write-only: a token (GitHub, or Jira with `email` for basic auth)."""

    model_config = ConfigDict(extra="forbid")

    token: Secret
    email: Annotated[str, StringConstraints(max_length=254)] | None = None


class StatusMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_remote: dict[ItemStatus, RemoteStatus] = Field(default_factory=dict)
    from_remote: dict[RemoteStatus, ItemStatus] = Field(default_factory=dict)


class IntegrationCreate(InputModel):
    kind: TrackerKind
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    base_url: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="GitHub: https://api.github.com by default"
    )
    project_key: ProjectKey | None = None
    repository: Repository | None = None
    auth: Auth | None = None
    webhook_secret: Secret | None = None
    team_id: Id | None = None
    status_map: StatusMap | None = None
    push_impact: bool = False
    auto_import: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _target(self) -> "IntegrationCreate":
        if self.kind is TrackerKind.GITHUB and not self.repository:
            raise ValueError("a GitHub integration names its repository (owner/repo)")
        if self.kind is TrackerKind.JIRA and not (self.project_key and self.base_url):
            raise ValueError("a Jira integration names its base_url and project_key")
        return self


class IntegrationUpdate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    base_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    project_key: ProjectKey | None = None
    repository: Repository | None = None
    auth: Auth | None = None
    webhook_secret: Secret | None = None
    team_id: Id | None = None
    status_map: StatusMap | None = None
    push_impact: bool | None = None
    auto_import: bool | None = None
    enabled: bool | None = None


class IntegrationOut(OutputModel):
    id: int
    kind: TrackerKind
    name: str
    base_url: str
    project_key: str | None
    repository: str | None
    team_id: int | None
    status_map: dict[str, dict[str, str]]
    push_impact: bool
    auto_import: bool
    enabled: bool
    has_auth: bool = Field(description="credentials are set (they are never shown)")
    has_webhook_secret: bool
    reconciled_through: datetime | None = Field(
        default=None, description="remote changes up to this moment were pulled (reconciliation)"
    )
    created_at: datetime
    updated_at: datetime
    version: int


class LinkCreate(InputModel):
    integration_id: Id
    remote_key: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class LinkOut(OutputModel):
    id: int
    integration_id: int
    remote_key: str | None
    url: str | None
    sync_state: SyncState
    last_synced_at: datetime | None
    last_error: str | None


class JobOut(OutputModel):
    id: int
    integration_id: int
    item_id: int | None
    link_id: int | None
    kind: JobKind
    state: JobState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime


class CredentialCheck(BaseModel):
    ok: bool
    status: int | None
    detail: str


IntegrationCreate.read_only = IntegrationUpdate.read_only = fields_of(IntegrationOut)
LinkCreate.read_only = fields_of(LinkOut)
