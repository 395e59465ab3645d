"""Jira Cloud over REST v3: create (ADF description, a marker property), edit, transitions."""

import math
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, StrictInt, StrictStr, TypeAdapter

from app.core.http import AsyncClient, HTTPError, Response, TimeoutException
from app.sync.http_errors import check_answer, malformed, raise_for, read_answer
from app.sync.tracker import (
    JIRA_ISSUE_ID,
    IssuePage,
    ItemSnapshot,
    RemoteIssue,
    TrackerError,
    jira_key_ok,
    segment,
)

MARKER_PROPERTY = "backlog-bridge"
PAGE_SIZE = 100
PULLED_FIELDS = "summary,description,labels,status,updated"
T = TypeVar("T")


class _Named(BaseModel):
    name: StrictStr | None = None


class _Fields(BaseModel):
    status: _Named | None = None


class _Issue(BaseModel):
    """What we read of an issue: its key, and (transitions) its status."""

    key: StrictStr
    fields: _Fields = Field(default_factory=_Fields)


class _Transition(BaseModel):
    id: StrictStr | StrictInt
    to: _Named = Field(default_factory=_Named)


class _Transitions(BaseModel):
    transitions: list[_Transition]


class _Found(BaseModel):
    issues: list[_Issue] = Field(default_factory=list)


class _Page(BaseModel):
    """A page of a JQL search (the field names are Jira's)."""

    issues: list[dict[str, Any]] = Field(default_factory=list)
    isLast: bool | None = None
    nextPageToken: StrictStr | None = None


_OBJECT = TypeAdapter(dict[str, Any])
_ISSUE, _TRANSITIONS = TypeAdapter(_Issue), TypeAdapter(_Transitions)
_FOUND, _PAGE = TypeAdapter(_Found), TypeAdapter(_Page)


def _paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}] if text else []}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": text}]}


def description_adf(item: ItemSnapshot) -> dict[str, Any]:
    """The description as Atlassian Document Format: key and link back, text, criteria."""
    content = [_paragraph(f"{item.key} · {item.link_back}")]
    content += [_paragraph(line) for line in (item.description or "").split("\n") if line]
    if item.acceptance_criteria:
        content.append(_heading("Acceptance criteria"))
        content.append(
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [_paragraph(c)]}
                    for c in item.acceptance_criteria
                ],
            }
        )
    if item.impacts:
        content.append(_heading("Impact"))
        content += [_paragraph(f"{k}: {v}") for k, v in sorted(item.impacts.items())]
    return {"type": "doc", "version": 1, "content": content}


class JiraTracker:
    def __init__(
        self,
        client: AsyncClient,
        *,
        base_url: str,
        project_key: str,
        headers: dict[str, str],
        to_remote: dict[str, str],
    ) -> None:
        self.client, self.base_url, self.project_key = client, base_url, project_key
        self.headers = headers | {"Accept": "application/json"}
        self.to_remote = to_remote

    async def _request(
        self, method: str, path: str, json: Any = None, params: Any = None
    ) -> Response:
        write = method != "GET"
        try:
            response = await self.client.request(
                method, f"{self.base_url}{path}", json=json, params=params, headers=self.headers
            )
        except TimeoutException as exc:
            raise TrackerError("Jira timed out", outcome_unknown=write) from exc
        except HTTPError as exc:
            raise TrackerError(
                f"Jira unreachable: {type(exc).__name__}", outcome_unknown=write
            ) from exc
        raise_for(response, sent_write=write)
        return response

    async def _read(
        self, method: str, path: str, shape: TypeAdapter[T], json: Any = None, params: Any = None
    ) -> tuple[T, Response]:
        """A call whose answer we read: checked against `shape` (else a malformed answer)."""
        response = await self._request(method, path, json, params)
        answer = read_answer(response, shape, tracker="Jira", sent_write=method != "GET")
        return answer, response

    def _issue_path(self, key: str, *rest: str) -> str:
        """The REST path of an issue of our project: a key of it or an id, or nothing is sent."""
        if not jira_key_ok(key, self.project_key):
            raise TrackerError(
                f"{key[:60]!r} is not an issue of Jira project {self.project_key}", permanent=True
            )
        return "/".join(["/rest/api/3/issue", segment(key), *rest])

    def _own(self, issue: _Issue, response: Response) -> str:
        """An answer's issue key, which must be one of our project's (not a bare id)."""
        if JIRA_ISSUE_ID.fullmatch(issue.key) or not jira_key_ok(issue.key, self.project_key):
            reason = f"issue {issue.key[:60]!r} is not of project {self.project_key}"
            raise malformed(response, "Jira", reason, sent_write=response.request.method != "GET")
        return issue.key

    def _fields(self, item: ItemSnapshot) -> dict[str, Any]:
        return {
            "summary": item.title,
            "description": description_adf(item),
            "labels": [label.replace(" ", "-") for label in item.labels],
        }

    def _remote(self, key: str) -> RemoteIssue:
        return RemoteIssue(key=key, url=f"{self.base_url}/browse/{segment(key)}")

    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue:
        fields = self._fields(item) | {
            "project": {"key": self.project_key},
            "issuetype": {"name": "Task"},
        }
        marker = [{"key": MARKER_PROPERTY, "value": {"item": item.key}}]
        created, response = await self._read(
            "POST", "/rest/api/3/issue", _ISSUE, {"fields": fields, "properties": marker}
        )
        issue = self._remote(self._own(created, response))
        try:
            await self._transition(issue.key, item.status)
        except TrackerError as error:  # the issue exists: the retry adopts it by marker
            raise TrackerError(str(error), outcome_unknown=True) from error
        return issue

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue:
        fields = {"fields": self._fields(item)}
        await self._request("PUT", self._issue_path(remote_key), fields)
        await self._transition(remote_key, item.status)
        return self._remote(remote_key)

    async def _transition(self, key: str, status: str) -> None:
        """Move to the status `status_map` names, through the transition that leads there."""
        target = self.to_remote.get(status)
        params = {"fields": "status"}
        issue, _ = await self._read("GET", self._issue_path(key), _ISSUE, params=params)
        current = issue.fields.status.name if issue.fields.status else None
        if target is None or current == target:
            return
        path = self._issue_path(key, "transitions")
        options, _ = await self._read("GET", path, _TRANSITIONS)
        for transition in options.transitions:
            if transition.to.name == target:
                await self._request("POST", path, {"transition": {"id": str(transition.id)}})
                return
        raise TrackerError(
            f"no Jira transition leads from {current!r} to {target!r}", permanent=True
        )

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None:
        """Our issue for the item: the marker is searched site-wide, so only an issue of this
        project counts (another project may hold another integration's issue for it)."""
        jql = f'issue.property[{MARKER_PROPERTY}].item = "{item.key}"'
        params = {"jql": jql, "fields": "key", "maxResults": "20"}
        found, _ = await self._read("GET", "/rest/api/3/search/jql", _FOUND, params=params)
        for issue in found.issues:
            if not JIRA_ISSUE_ID.fullmatch(issue.key) and jira_key_ok(issue.key, self.project_key):
                return self._remote(issue.key)
        return None

    async def get_issue(self, remote_key: str) -> tuple[str, dict[str, Any]]:
        """The issue as REST v3 shows it; one of another project (a numeric id may name any
        issue the credential reaches) is refused before anything reads or writes it."""
        params = {"fields": PULLED_FIELDS}
        issue, response = await self._read(
            "GET", self._issue_path(remote_key), _OBJECT, params=params
        )
        checked = check_answer(issue, _ISSUE, response=response, tracker="Jira", sent_write=False)
        if not jira_key_ok(checked.key, self.project_key) or JIRA_ISSUE_ID.fullmatch(checked.key):
            raise TrackerError(
                f"issue {remote_key} is {checked.key[:60]!r}, not an issue of project "
                f"{self.project_key}",
                permanent=True,
            )
        return checked.key, issue

    async def list_issues(
        self, *, since: datetime | None, cursor: str | None, open_only: bool = False
    ) -> IssuePage:
        """The project's issues, least recently updated first. `since` becomes a relative JQL
        date ("-15m"): JQL reads absolute dates in the user's time zone, minutes ago in none."""
        jql = f'project = "{self.project_key}"'
        if open_only:
            jql += " AND statusCategory != Done"
        if since is not None:
            minutes = math.ceil((datetime.now(UTC) - since).total_seconds() / 60) + 1
            jql += f' AND updated >= "-{max(minutes, 1)}m"'
        params = {"jql": f"{jql} ORDER BY updated ASC", "fields": PULLED_FIELDS}
        params["maxResults"] = str(PAGE_SIZE)
        if cursor:
            params["nextPageToken"] = cursor
        found, _ = await self._read("GET", "/rest/api/3/search/jql", _PAGE, params=params)
        last = found.isLast is True or not found.nextPageToken
        return IssuePage(found.issues, None if last else found.nextPageToken)
