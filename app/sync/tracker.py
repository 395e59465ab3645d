"""What the worker needs from a tracker, whatever the tracker: a Protocol and plain data."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MARKER_PREFIX = "backlog-bridge:"


@dataclass(frozen=True)
class ItemSnapshot:
    """What is pushed: never notes or internal comments; impacts only when allowed."""

    key: str
    title: str
    description: str | None
    acceptance_criteria: list[str]
    status: str
    labels: list[str]
    link_back: str
    impacts: dict[str, str] = field(default_factory=dict)

    @property
    def marker(self) -> str:
        """Hidden in every issue we create, so a create whose outcome is unknown can be found."""
        return f"{MARKER_PREFIX}{self.key}"


@dataclass(frozen=True)
class RemoteIssue:
    key: str  # always a string: "MKT-12", or "12" on GitHub
    url: str


@dataclass(frozen=True)
class IssuePage:
    """Remote issues as the tracker's REST API returns them, oldest change first, and where
    the next page starts (None: this was the last)."""

    issues: list[dict[str, Any]]
    next_cursor: str | None


class TrackerError(Exception):
    """A failed call. `permanent`: retrying cannot help (a 4xx other than 408/409/429).
    `outcome_unknown`: the request may have taken effect (timeout, reset, 5xx after sending).
    `retry_after`: seconds the tracker asked us to wait."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after


class Tracker(Protocol):
    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue: ...

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue: ...

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None: ...

    async def list_issues(
        self, *, since: datetime | None, cursor: str | None, open_only: bool = False
    ) -> IssuePage: ...

    async def get_issue(self, remote_key: str) -> dict[str, Any]:
        """One issue as the tracker's REST API shows it."""
        ...
