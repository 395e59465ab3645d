"""A fake GitHub for the sync tests: every request is checked against GitHub's own OpenAPI
description (`tests/fixtures/github/rest-api/`), answers are real issue objects."""

import copy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import uvicorn

from app.core.http import MockTransport, Request, Response

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # real payloads
SPEC = json.loads((FIXTURES / "github/rest-api/github-rest-issues-extract.json").read_text())
ISSUE = json.loads((FIXTURES / "github/webhooks/issues/opened.payload.json").read_text())["issue"]
Fault = Callable[[Request], Response | None]


def _nullable_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is `type: [..., "null"]` in JSON Schema."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


class SpecViolation(AssertionError):
    pass


class ApiDescription:
    """Checks requests against one OpenAPI description: path, method and JSON body."""

    def __init__(self, spec: dict[str, Any], *, extra: dict[tuple[str, str], str]) -> None:
        self.components = _nullable_to_jsonschema(spec["components"])
        self.routes = [
            (method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), op)
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "patch", "put", "delete")
        ]
        # Documented endpoints the extract lacks (path pattern) -> a query parameter they need.
        self.extra = {(m, re.compile(f"^{p}$")): needs for (m, p), needs in extra.items()}

    def validate(self, request: Request) -> None:
        path = request.url.path
        for (method, pattern), needs in self.extra.items():
            if method == request.method and pattern.match(path):
                if not request.url.params.get(needs):
                    raise SpecViolation(f"{request.method} {path} needs {needs}")
                return
        matches = [
            op
            for method, pattern, op in self.routes
            if method == request.method and pattern.match(path)
        ]
        if not matches:
            raise SpecViolation(f"{request.method} {path} is not in the API description")
        body_spec = matches[0].get("requestBody", {}).get("content", {}).get("application/json")
        if body_spec:
            schema = _nullable_to_jsonschema(body_spec["schema"]) | {"components": self.components}
            try:
                jsonschema.validate(json.loads(request.content), schema)
            except (jsonschema.ValidationError, ValueError) as exc:
                raise SpecViolation(f"{request.method} {path}: {exc}") from exc


# GitHub's "list repository issues" (documented, not in the extract): we always ask for
# `state=all`, since open-only would miss every closed issue.
GITHUB_API = ApiDescription(
    SPEC, extra={("GET", "/search/issues"): "q", ("GET", "/repos/[^/]+/[^/]+/issues"): "state"}
)
JIRA_API = ApiDescription(
    json.loads((FIXTURES / "jira/rest-api/jira-platform-v3-issues-extract.json").read_text()),
    extra={("GET", "/rest/api/3/search/jql"): "jql"},
)


def validate_request(request: Request) -> None:
    """Fail the test when a request does not conform to GitHub's description of it."""
    if request.headers.get("accept") != "application/vnd.github+json":
        raise SpecViolation("GitHub wants Accept: application/vnd.github+json")
    GITHUB_API.validate(request)


class FakeClock:
    """Remote timestamps: whole seconds as trackers write them, the real time but at least one
    second after the last change (so no two changes share one)."""

    def __init__(self) -> None:
        self.last = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    def next(self) -> datetime:
        now = datetime.now(UTC).replace(microsecond=0)
        self.last = max(now, self.last + timedelta(seconds=1))
        return self.last


class FakeGitHub:
    """Issues kept in memory; `faults` may answer a request instead (429s, 5xx, timeouts...)."""

    page_size = 100

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.numbers = itertools.count(1)
        self.clock = FakeClock()
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.violations: list[str] = []

    def transport(self) -> MockTransport:
        return MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        validate_request(request)
        for fault in list(self.faults):
            if (answer := fault(request)) is not None:
                return answer
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if method == "POST" and path.endswith("/issues"):
            return Response(201, json=self.create(json.loads(request.content)))
        if method == "GET" and re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+", path):
            issue = self.issues.get(int(path.rsplit("/", 1)[1]))
            if issue is None:
                return Response(404, json={"message": "Not Found"})
            return Response(200, json=issue)
        if method == "PATCH":
            number = int(path.rsplit("/", 1)[1])
            if number not in self.issues:
                return Response(404, json={"message": "Not Found"})
            self.edit(number, self._fields(json.loads(request.content)))
            return Response(200, json=self.issues[number])
        if method == "GET" and path.startswith("/repos/") and path.endswith("/issues"):
            return self.list(request.url)
        if path == "/search/issues":
            needle = request.url.params["q"].split('"')[1]
            found = [i for i in self.issues.values() if needle in (i.get("body") or "")]
            return Response(
                200, json={"total_count": len(found), "incomplete_results": False, "items": found}
            )
        return Response(404, json={"message": "Not Found"})

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        number = next(self.numbers)
        issue: dict[str, Any] = copy.deepcopy(ISSUE) | {
            "number": number,
            "id": 1000 + number,
            "html_url": f"https://github.com/acme/webshop/issues/{number}",
            "state": "open",
            "state_reason": None,
        }
        issue.update(self._fields(payload))
        self.issues[number] = issue
        self.edit(number, {})
        return issue

    def edit(self, number: int, fields: dict[str, Any]) -> dict[str, Any]:
        """A change on GitHub's side (through the API, or by a person in the web UI)."""
        stamp = self.clock.next().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.issues[number].update(fields | {"updated_at": stamp})
        return self.issues[number]

    def list(self, url: Any) -> Response:
        """GET /repos/{owner}/{repo}/issues as we call it: all states, by `updated` ascending;
        pages of at most `page_size`, the next one named in a `Link` header as GitHub does."""
        params = url.params
        asked = (params.get("sort"), params.get("direction"))
        if asked != ("updated", "asc") or params.get("state") not in ("open", "all"):
            raise SpecViolation(f"unexpected issue listing: {params}")
        issues = sorted(self.issues.values(), key=lambda i: (i["updated_at"], i["number"]))
        if params["state"] == "open":
            issues = [i for i in issues if i["state"] == "open"]
        if since := params.get("since"):
            issues = [i for i in issues if i["updated_at"] >= since]
        size = min(int(params.get("per_page", 30)), self.page_size)
        page = int(params.get("page", 1))
        headers = {}
        if page * size < len(issues):
            following = url.copy_set_param("page", str(page + 1))
            headers["Link"] = f'<{following}>; rel="next", <{url}>; rel="first"'
        return Response(200, json=issues[(page - 1) * size : page * size], headers=headers)

    @staticmethod
    def _fields(payload: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            k: payload[k] for k in ("title", "body", "state", "state_reason") if k in payload
        }
        if "labels" in payload:
            fields["labels"] = [
                {
                    "id": n,
                    "name": name,
                    "color": "ededed",
                    "default": False,
                    "description": None,
                    "node_id": f"L{n}",
                    "url": "",
                }
                for n, name in enumerate(payload["labels"])
            ]
        return fields


class FakeGitHubServer:
    """The fake on a real socket (127.0.0.1, a free port), for processes under test."""

    def __init__(self, github: FakeGitHub) -> None:
        self.github = github
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._asgi, host="127.0.0.1", port=self.port, log_level="error", interface="asgi3"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = f"{self.url}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        request = Request(scope["method"], url, headers=headers, content=body)
        try:
            response = self.github.handle(request)
        except SpecViolation as exc:  # visible to the test through the fake's record
            self.github.violations.append(str(exc))
            response = Response(400, json={"message": str(exc)})
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": response.content})

    def __enter__(self) -> "FakeGitHubServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


JIRA_STATUSES = {"11": "To Do", "21": "In Progress", "31": "Done"}


class FakeJira:
    """Jira Cloud in memory: issues MKT-1.., a To Do / In Progress / Done workflow."""

    page_size = 100

    def __init__(self, project: str = "MKT") -> None:
        self.project = project
        self.issues: dict[str, dict[str, Any]] = {}
        self.numbers = itertools.count(1)
        self.clock = FakeClock()
        self.faults: list[Fault] = []
        self.requests: list[Request] = []

    def transport(self) -> MockTransport:
        return MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        JIRA_API.validate(request)
        for fault in list(self.faults):
            if (answer := fault(request)) is not None:
                return answer
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        method, parts = request.method, request.url.path.split("/")[4:]  # after /rest/api/3/
        if parts == ["issue"] and method == "POST":
            return Response(201, json=self.create(json.loads(request.content)))
        if parts == ["search", "jql"]:
            return Response(200, json=self.search(request.url.params))
        issue = self.issues.get(parts[1]) if len(parts) > 1 else None
        if issue is None:
            return Response(404, json={"errorMessages": ["Issue does not exist"], "errors": {}})
        if len(parts) == 2 and method == "PUT":
            self.edit(issue["key"], json.loads(request.content)["fields"])
            return Response(204)
        if len(parts) == 2:
            return Response(200, json=self.rest_issue(issue["key"]))
        if method == "GET":  # transitions on offer: to every other status
            return Response(
                200,
                json={
                    "transitions": [
                        {"id": tid, "name": f"To {name}", "to": {"name": name, "id": tid}}
                        for tid, name in JIRA_STATUSES.items()
                        if name != issue["status"]
                    ]
                },
            )
        issue["status"] = JIRA_STATUSES[json.loads(request.content)["transition"]["id"]]
        self.edit(issue["key"], {})
        return Response(204)

    def edit(self, key: str, fields: dict[str, Any]) -> None:
        """A change on Jira's side (through the API, or by a person in Jira)."""
        stamp = self.clock.next().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        self.issues[key]["fields"].update(fields | {"updated": stamp})

    def rest_issue(self, key: str) -> dict[str, Any]:
        """The issue as REST v3 shows it (ADF description, status object)."""
        issue = self.issues[key]
        fields = issue["fields"] | {"status": {"name": issue["status"]}}
        return {"id": issue["id"], "key": key, "fields": fields}

    def search(self, params: Any) -> dict[str, Any]:
        """GET /rest/api/3/search/jql for the two queries we send: our marker property, or the
        project's issues updated in the last minutes, `ORDER BY updated ASC`, by page tokens."""
        jql = params["jql"]
        if jql.startswith("issue.property"):
            wanted = jql.split('"')[1]
            found = [
                {"key": k, "id": i["id"]} for k, i in self.issues.items() if i["marker"] == wanted
            ]
            return {"issues": found}
        match = re.fullmatch(
            r'project = "(\w+)"( AND statusCategory != Done)?'
            r'(?: AND updated >= "-(\d+)m")? ORDER BY updated ASC',
            jql,
        )
        if not match or match[1] != self.project:
            raise SpecViolation(f"unexpected JQL: {jql}")
        issues = sorted(self.issues, key=lambda k: (self.issues[k]["fields"]["updated"], k))
        if match[2]:
            issues = [k for k in issues if self.issues[k]["status"] != "Done"]
        if match[3]:
            cutoff = datetime.now(UTC) - timedelta(minutes=int(match[3]))
            issues = [
                k
                for k in issues
                if datetime.strptime(self.issues[k]["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
                >= cutoff
            ]
        start = int(params.get("nextPageToken", 0))
        size = min(int(params.get("maxResults", 50)), self.page_size)
        page = [self.rest_issue(k) for k in issues[start : start + size]]
        more = start + size < len(issues)
        return {"issues": page, "isLast": not more} | (
            {"nextPageToken": str(start + size)} if more else {}
        )

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        number = next(self.numbers)
        key = f"{self.project}-{number}"
        marker = next((p["value"]["item"] for p in payload.get("properties", [])), None)
        self.issues[key] = {
            "id": str(10000 + number),
            "key": key,
            "fields": payload["fields"],
            "status": "To Do",
            "marker": marker,
        }
        self.edit(key, {})
        return {
            "id": str(10000 + number),
            "key": key,
            "self": f"https://acme.atlassian.net/rest/api/3/issue/{10000 + number}",
        }
