"""A fake GitHub for the sync tests: every request is checked against GitHub's own OpenAPI
description (`../shared/fixtures/github/rest-api/`), answers are real issue objects."""

import copy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import uvicorn

from app.core.http import MockTransport, Request, Response

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
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


COMPONENTS = _nullable_to_jsonschema(SPEC["components"])
ROUTES = [
    (method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"), operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post", "patch", "put", "delete")
]


class SpecViolation(AssertionError):
    pass


def validate_request(request: Request) -> None:
    """Fail the test when a request does not conform to GitHub's description of it."""
    path = request.url.path
    if request.method == "GET" and path == "/search/issues":  # documented, not in the extract
        if not request.url.params.get("q"):
            raise SpecViolation("search/issues needs q")
        return
    matches = [
        op for method, pattern, op in ROUTES if method == request.method and pattern.match(path)
    ]
    if not matches:
        raise SpecViolation(f"{request.method} {path} is not in GitHub's API description")
    operation = matches[0]
    if request.headers.get("accept") != "application/vnd.github+json":
        raise SpecViolation("GitHub wants Accept: application/vnd.github+json")
    body_spec = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body_spec:
        schema = _nullable_to_jsonschema(body_spec["schema"]) | {"components": COMPONENTS}
        try:
            jsonschema.validate(json.loads(request.content), schema)
        except jsonschema.ValidationError as exc:
            raise SpecViolation(f"{request.method} {path}: {exc.message}") from exc


class FakeGitHub:
    """Issues kept in memory; `faults` may answer a request instead (429s, 5xx, timeouts...)."""

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.numbers = itertools.count(1)
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
        if method == "PATCH":
            number = int(path.rsplit("/", 1)[1])
            if number not in self.issues:
                return Response(404, json={"message": "Not Found"})
            self.issues[number].update(self._fields(json.loads(request.content)))
            return Response(200, json=self.issues[number])
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
        return issue

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
