"""GitHub Issues over REST: create, update (title, body, labels, state), find by marker."""

from datetime import UTC, datetime
from typing import Any

from app.core.http import URL, AsyncClient, HTTPError, Response, TimeoutException
from app.sync.http_errors import raise_for
from app.sync.tracker import IssuePage, ItemSnapshot, RemoteIssue, TrackerError

PAGE_SIZE = 100  # GitHub's largest page
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


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
        self.client, self.repo_url = client, f"{base_url}/repos/{repository}"
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

    async def _send(
        self,
        method: str,
        url: str,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        return (await self._request(method, url, json, params)).json()

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

    @staticmethod
    def _remote(issue: dict[str, Any]) -> RemoteIssue:
        return RemoteIssue(key=str(issue["number"]), url=str(issue["html_url"]))

    async def create_issue(self, item: ItemSnapshot) -> RemoteIssue:
        payload = self._payload(item)
        state: dict[str, Any] = {
            k: payload.pop(k) for k in ("state", "state_reason") if k in payload
        }
        issue = self._remote(await self._send("POST", f"{self.repo_url}/issues", payload))
        if state.get("state") == "closed":  # an issue is created open; close it after
            try:
                await self._send("PATCH", f"{self.repo_url}/issues/{issue.key}", state)
            except TrackerError as error:  # the issue exists: the retry adopts it by marker
                raise TrackerError(str(error), outcome_unknown=True) from error
        return issue

    async def update_issue(self, remote_key: str, item: ItemSnapshot) -> RemoteIssue:
        url = f"{self.repo_url}/issues/{remote_key}"
        return self._remote(await self._send("PATCH", url, self._payload(item)))

    async def find_by_marker(self, item: ItemSnapshot) -> RemoteIssue | None:
        """Search for the hidden marker (GitHub's search can lag behind a fresh create)."""
        owner_repo = self.repo_url.split("/repos/", 1)[1]
        base = self.repo_url.split("/repos/", 1)[0]
        query = f'"{item.marker}" repo:{owner_repo} in:body'
        found = await self._send("GET", f"{base}/search/issues", params={"q": query})
        exact = f"<!-- {item.marker} -->"  # BB-1 must not find BB-12
        for issue in found.get("items", []):
            if exact in (issue.get("body") or ""):
                return self._remote(issue)
        return None

    async def get_issue(self, remote_key: str) -> dict[str, Any]:
        issue: dict[str, Any] = await self._send("GET", f"{self.repo_url}/issues/{remote_key}")
        return issue

    async def list_issues(
        self, *, since: datetime | None, cursor: str | None, open_only: bool = False
    ) -> IssuePage:
        """The repository's issues, least recently updated first (pull requests left out)."""
        page = int(cursor or 1)
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
        issues = [issue for issue in response.json() if "pull_request" not in issue]
        # Only the page number is taken from the `Link` header, never its host.
        following = response.links.get("next", {}).get("url")
        next_page = URL(following).params.get("page") if following else None
        return IssuePage(issues, next_page if next_page and next_page.isdigit() else None)
