"""Every 2xx JSON body a test receives must match the committed OpenAPI document.

`check_response` is an httpx response hook on the suite's API client: it finds the operation
(path template and method) a response answers, and validates the body against that
operation's documented schema for its status code, `$ref`s resolved inside the document. A
body that differs from what clients were promised (a field named `from_` where the document
says `from`) then fails whichever test happened to receive it.

Paths the document does not list (FastAPI's own `/openapi.json`, `/docs`) are not checked
here: that every route is documented is `tests/core/test_openapi.py`'s drift test.
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.core.http import Response

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
_SPEC_URI = "urn:backlog-bridge:openapi"


class ContractViolation(AssertionError):
    """A 2xx body that does not match what the OpenAPI document promises."""


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    template: str


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class ResponseContract:
    """The documented 2xx response schemas of one OpenAPI document, validators built lazily
    and kept (one per operation and status)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        # Literal paths before templated ones (`/items/page` before `/items/{item_id}`).
        templates = sorted(spec["paths"], key=lambda t: (t.count("{"), -len(t)))
        self._routes = [_Route(_compile(t), t) for t in templates]
        self._validators: dict[tuple[str, str, str], Draft202012Validator | None] = {}

    def template_of(self, path: str) -> str | None:
        return next((r.template for r in self._routes if r.pattern.fullmatch(path)), None)

    def problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """What is wrong with `body` as the `status` answer of `method path`; [] when right."""
        template = self.template_of(path)
        if template is None or method.lower() not in self.spec["paths"][template]:
            return []  # undocumented: the drift test's business, not this hook's
        operation = self.spec["paths"][template][method.lower()]
        where = f"{method.upper()} {template} {status}"
        if str(status) not in operation.get("responses", {}):
            documented = sorted(operation.get("responses", {}))
            return [f"{where}: status {status} is not documented (documented: {documented})"]
        validator = self._validator(template, method.lower(), str(status))
        if validator is None:
            return [f"{where}: a JSON body, but the document promises none"]
        error = best_match(validator.iter_errors(body))
        if error is None:
            return []
        at = "/".join(str(p) for p in error.absolute_path) or "(the body)"
        return [f"{where}: at {at}: {error.message}"]

    def _validator(self, template: str, method: str, status: str) -> Draft202012Validator | None:
        key = (template, method, status)
        if key not in self._validators:
            content = self.spec["paths"][template][method]["responses"][status].get("content", {})
            self._validators[key] = None
            if "application/json" in content:
                pointer = _pointer(
                    "paths", template, method, "responses", status, "content", "application/json"
                )
                schema = {"$ref": f"{_SPEC_URI}#/{pointer}/schema"}
                self._validators[key] = Draft202012Validator(schema, registry=self._registry)
        return self._validators[key]


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


@cache
def committed_contract() -> ResponseContract:
    """The contract of `openapi/openapi.json`, read and indexed once per test session."""
    return ResponseContract(json.loads(SPEC_PATH.read_text()))


def is_json(response: Response) -> bool:
    media_type: str = response.headers.get("content-type", "")
    return media_type.split(";")[0].strip() == "application/json"


async def check_response(response: Response) -> None:
    """httpx response hook: a 2xx JSON body that breaks the document fails the test."""
    if not 200 <= response.status_code < 300 or not is_json(response):
        return
    await response.aread()
    request = response.request
    found = committed_contract().problems(
        request.method, request.url.path, response.status_code, response.json()
    )
    if found:
        raise ContractViolation(
            "The response does not match openapi/openapi.json (if the document is what is "
            "stale, regenerate it: `backlog-bridge openapi > openapi/openapi.json`):\n"
            + "\n".join(found)
        )
