"""The OpenAPI document, with error responses described as problem+json only."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_INT = {"schema": {"type": "integer"}}
_RATE_LIMITED = {
    "description": "Too Many Requests: this token's quota for the current window is spent",
    "headers": {
        "Retry-After": {"description": "seconds until the window resets", **_INT},
        "RateLimit-Limit": {"description": "requests per window per token", **_INT},
        "RateLimit-Remaining": {"description": "requests left in this window", **_INT},
        "RateLimit-Reset": {"description": "seconds until the window resets", **_INT},
    },
}


def problem_only_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("security"):  # bearer-token routes are rate-limited per token
                operation.setdefault("responses", {})["429"] = dict(_RATE_LIMITED)
            if "requestBody" in operation:  # the body-size limit is middleware's, before any route
                too_large = {"description": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase}
                operation["responses"].setdefault("413", too_large)
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    return spec
