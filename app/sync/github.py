"""GitHub Issues over REST: create, update (title, body, labels, state), find by marker."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, TypeAdapter

from app.core.http import URL, AsyncClient, HTTPError, Response, TimeoutException
from app.sync.http_errors import check_answer, malformed, raise_for, read_answer
from app.sync.tracker import (
    IssuePage,
    ItemSnapshot,
    RemoteIssue,
    TrackerError,
    github_key_ok,
    segment,
)

PAGE_SIZE = 100  # GitHub's largest page
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class _Issue(BaseModel):
    """What we read of an issue: its number (an int, as GitHub writes it) and its page."""

    number: Annotated[int, Field(strict=True, ge=1, lt=10**10)]
    html_url: Annotated[
        str,
        StringConstraints(strict=True, max_length=1000, pattern=r"^https?://[^\x00-\x20\x7f]+$"),
    ]


class _Search(BaseModel):
    items: list[dict[str, Any]] = Field(default_factory=list)


_OBJECT = TypeAdapter(dict[str, Any])
_ISSUE = TypeAdapter(_Issue)
_ISSUES = TypeAdapter(list[dict[str, Any]])
_SEARCH = TypeAdapter(_Search)


def body_markdown(item: ItemSnapshot) -> str:
    """The issue body: our key and a link back, the description, the criteria, impacts."""
    lines = [f"<!-- {item.marker} -->", f"**{item.key}** · [Backlog Bridge]({item.link_back})", ""]
    if item.description:
        lines += [item.description, ""]
    if item.acceptance_criteria:
        lines += ["### Acceptance criteria", *(f"- [ ] {c}" for c in item.acceptance_criteria), ""]
    if item.impacts:
        lines += ["### Impact", *(f"- {k}: {v}" for k, v in sorted(item.impacts.items())), ""]
    return "\n".join(lines).rstrip() + "\n"


def state_fields(remote_status: str) -> tuple[dict[str, Any], str | None]:
    """`open`, `closed`, `closed:not_planned` or `label:<name>` -> fields, and a status label."""
    if remote_status.startswith("label:"):
        return {"state": "open"}, remote_status.removeprefix("label:")
    if remote_status == "closed:not_planned":
        return {"state": "closed", "state_reason": "not_planned"}, None
    if remote_status == "closed":
        return {"state": "closed", "state_reason": "completed"}, None
    return {"state": "open"}, None


class GitHubTracker:
    def __init__(
        self,
        client: AsyncClient,
        *,
        base_url: str,
        repository: str,
        auth: dict[str, str],
        to_remote: dict[str, str],
        status_labels: set[str],
    ) -> None:
        owner, _, name = repository.partition("/")
        if "/" in name:
            raise TrackerError(f"{repository!r} is not owner/repository", permanent=True)
        self.client, self.repository = client, repository
        self.repo_url = f"{base_url}/repos/{segment(owner)}/{segment(name)}"
        self.search_url = f"{base_url}/search/issues"
        self.headers = HEADERS | {"Authorization": f"Bearer {auth['token']}"}
        self.to_remote, self.status_labels = to_remote, status_labels

    def _payload(self, item: ItemSnapshot) -> dict[str, Any]:
        state, status_label = state_fields(self.to_remote.get(item.status, "open"))
        labels = [label for label in item.labels if label not in self.status_labels]
        return {
            "title": item.title,
            "body": body_markdown(item),
            "labels": labels + ([status_label] if status_label else []),
            **state,
        }

    def _issue_url(self, remote_key: str) -> str:
        """The issue's URL in our repository: the key is a number, or nothing is sent."""
        if not github_key_ok(remote_key):
            raise TrackerError(f"{remote_key[:60]!r} is not a GitHub issue number", permanent=True)
        return f"{self.repo_url}/issues/{segment(remote_key)}"

    async def _request(
        self,
        method: str,
        url: str,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Response:
        write = method != "GET"
        try:
            response = await self.client.request(
                method, url, json=json, params=params, headers=self.headers
            )
        except TimeoutException as exc:
            raise TrackerError("GitHub timed out", outcome_unknown=write) from exc
        except HTTPError as exc:
            raise TrackerError(
                f"GitHub unreachable: {type(exc).__name__}", outcome_unknown=write
            ) from exc
        raise_for(response, sent_write=write)
        return response

    async def _issue(
        self, method: str, url: str, json: dict[str, Any] | None = None, *, key: str | None = None
    ) -> tuple[RemoteIssue, dict[str, Any]]:
        """One issue (`key`, or a new one) sent or read, and checked: it, and GitHub's object."""
        response = await self._request(method, url, json)
        write = method != "GET"
        issue = read_answer(response, _OBJECT, tracker="GitHub", sent_write=write)
        remote = self._remote(issue, response)
        if key is not None and remote.key != key:
            reason = f"issue {remote.key} instead of {key}"
            raise malformed(response, "GitHub", reason, sent_write=write)
        return remote, issue

    @staticmethod
    def _remote(issue: dict[str, Any], response: Response) -> RemoteIssue:
        write = response.request.method != "GET"
        checked = check_answer(issue, _ISSUE, response=response, tracker="GitHub", sent_write=write)
        return RemoteIssue(key=str(checked.number), url=checked.html_url)

    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue:
        payload = self._payload(item)
        state: dict[str, Any] = {
            k: payload.pop(k) for k in ("state", "state_reason") if k in payload
        }
        issue, _ = await self._issue("POST", f"{self.repo_url}/issues", payload)
        if state.get("state") == "closed":  # an issue is created open; close it after
            try:
                await self._issue("PATCH", self._issue_url(issue.key), state, key=issue.key)
            except TrackerError as error:  # the issue exists: the retry adopts it by marker
                raise TrackerError(str(error), outcome_unknown=True) from error
        return issue

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue:
        url, payload = self._issue_url(remote_key), self._payload(item)
        issue, _ = await self._issue("PATCH", url, payload, key=remote_key)
        return issue

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None:
        """Search for the hidden marker (GitHub's search can lag behind a fresh create)."""
        query = f'"{item.marker}" repo:{self.repository} in:body'
        response = await self._request("GET", self.search_url, params={"q": query})
        found = read_answer(response, _SEARCH, tracker="GitHub", sent_write=False)
        exact = f"<!-- {item.marker} -->"  # BB-1 must not find BB-12
        for issue in found.items:
            if exact in str(issue.get("body") or ""):
                return self._remote(issue, response)
        return None

    async def get_issue(self, remote_key: str) -> tuple[str, dict[str, Any]]:
        remote, issue = await self._issue("GET", self._issue_url(remote_key), key=remote_key)
        return remote.key, issue

    async def list_issues(
        self, *, since: datetime | None, cursor: str | None, open_only: bool = False
    ) -> IssuePage:
        """The repository's issues, least recently updated first (pull requests left out)."""
        page = int(cursor) if cursor and cursor.isascii() and cursor.isdigit() else 1
        params = {
            "state": "open" if open_only else "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": str(PAGE_SIZE),
            "page": str(page),
        }
        if since is not None:
            params["since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = await self._request("GET", f"{self.repo_url}/issues", params=params)
        listed = read_answer(response, _ISSUES, tracker="GitHub", sent_write=False)
        issues = [issue for issue in listed if "pull_request" not in issue]
        # Only the page number is taken from the `Link` header, never its host.
        following = response.links.get("next", {}).get("url")
        next_page = URL(following).params.get("page") if following else None
        usable = next_page and next_page.isascii() and next_page.isdigit()
        return IssuePage(issues, next_page if usable else None)
