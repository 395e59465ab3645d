"""Jira Cloud over REST v3: create (ADF description, a marker property), edit, transitions."""

import math
from datetime import UTC, datetime
from typing import Any

from app.core.http import AsyncClient, HTTPError, TimeoutException
from app.sync.http_errors import raise_for
from app.sync.tracker import IssuePage, ItemSnapshot, RemoteIssue, TrackerError

MARKER_PROPERTY = "backlog-bridge"
PAGE_SIZE = 100
PULLED_FIELDS = "summary,description,labels,status,updated"


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

    async def _send(self, method: str, path: str, json: Any = None, params: Any = None) -> Any:
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
        return response.json() if response.content else None

    def _fields(self, item: ItemSnapshot) -> dict[str, Any]:
        return {
            "summary": item.title,
            "description": description_adf(item),
            "labels": [label.replace(" ", "-") for label in item.labels],
        }

    def _remote(self, key: str) -> RemoteIssue:
        return RemoteIssue(key=key, url=f"{self.base_url}/browse/{key}")

    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue:
        fields = self._fields(item) | {
            "project": {"key": self.project_key},
            "issuetype": {"name": "Task"},
        }
        marker = [{"key": MARKER_PROPERTY, "value": {"item": item.key}}]
        created = await self._send(
            "POST", "/rest/api/3/issue", {"fields": fields, "properties": marker}
        )
        issue = self._remote(str(created["key"]))
        try:
            await self._transition(issue.key, item.status)
        except TrackerError as error:  # the issue exists: the retry adopts it by marker
            raise TrackerError(str(error), outcome_unknown=True) from error
        return issue

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue:
        await self._send("PUT", f"/rest/api/3/issue/{remote_key}", {"fields": self._fields(item)})
        await self._transition(remote_key, item.status)
        return self._remote(remote_key)

    async def _transition(self, key: str, status: str) -> None:
        """Move to the status `status_map` names, through the transition that leads there."""
        target = self.to_remote.get(status)
        issue = await self._send("GET", f"/rest/api/3/issue/{key}", params={"fields": "status"})
        current = issue.get("fields", {}).get("status", {}).get("name")
        if target is None or current == target:
            return
        options = await self._send("GET", f"/rest/api/3/issue/{key}/transitions")
        for transition in options.get("transitions", []):
            if transition.get("to", {}).get("name") == target:
                await self._send(
                    "POST",
                    f"/rest/api/3/issue/{key}/transitions",
                    {"transition": {"id": str(transition["id"])}},
                )
                return
        raise TrackerError(
            f"no Jira transition leads from {current!r} to {target!r}", permanent=True
        )

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None:
        jql = f'issue.property[{MARKER_PROPERTY}].item = "{item.key}"'
        found = await self._send(
            "GET", "/rest/api/3/search/jql", params={"jql": jql, "fields": "key", "maxResults": "2"}
        )
        issues = (found or {}).get("issues", [])
        return self._remote(str(issues[0]["key"])) if issues else None

    async def get_issue(self, remote_key: str) -> dict[str, Any]:
        params = {"fields": PULLED_FIELDS}
        issue: dict[str, Any] = await self._send(
            "GET", f"/rest/api/3/issue/{remote_key}", params=params
        )
        return issue

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
        found = await self._send("GET", "/rest/api/3/search/jql", params=params) or {}
        last = found.get("isLast") is True or not found.get("nextPageToken")
        return IssuePage(list(found.get("issues", [])), None if last else found["nextPageToken"])
