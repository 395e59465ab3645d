"""The OpenAPI document, with error responses described as problem+json only."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_only_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if "requestBody" in operation:  # the body-size limit is middleware's, before any route
                too_large = {"description": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase}
                operation["responses"].setdefault("413", too_large)
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    return spec
