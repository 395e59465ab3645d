"""Application errors and their RFC 9457 `application/problem+json` rendering."""

import logging
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.core.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for it; only our access log ever sees it
logger = logging.getLogger("app.errors")


class ValidationErrorEntry(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every non-2xx response body."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ValidationErrorEntry] | None = None


class AppError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class FieldForbidden(AppError):
    status, slug, title = 403, "field-forbidden", "Field may not be set by this role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"

    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(f"{entity} {entity_id} does not exist")


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class UnprocessableEntity(AppError):
    status, slug, title = 422, "validation-error", "Validation error"


class DatabaseUnavailable(AppError):
    status, slug, title = 503, "database-unavailable", "Database unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The connection to the database was lost (a restart or failover); nothing "
            "that was not confirmed was changed. Retry in a moment.",
            headers={"Retry-After": "1"},
        )


# What a lost or refused database connection raises (asyncpg's own, or the socket's).
CONNECTION_LOST = (
    OSError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError among them
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def connection_lost(exc: BaseException) -> bool:
    """The error, or one it was raised from, is a database connection that went away."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    for _ in range(8):  # SQLAlchemy wraps the driver's error in an adapter's error
        if seen is None:
            return False
        if isinstance(seen, CONNECTION_LOST):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    request: Request,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return _app_problem(request, exc)


def _app_problem(request: Request, exc: AppError) -> JSONResponse:
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        request=request,
        headers=exc.headers,
        **exc.extra,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
        exc.status_code, phrase.lower().replace(" ", "-")
    )
    detail = exc.detail if exc.detail != phrase else None
    return problem_response(
        status=exc.status_code,
        slug=slug,
        # 413's phrase differs between Python versions; the middleware's refusal says this
        title="Payload too large" if exc.status_code == 413 else phrase,
        detail=detail,
        request=request,
        headers=dict(exc.headers or {}),
    )


def _error_entries(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(err["loc"]), "msg": err["msg"]} for err in exc.errors()]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _error_entries(exc)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return problem_response(
            status=400,
            slug="malformed-json",
            title="Malformed JSON",
            detail="The request body is not valid JSON.",
            request=request,
            errors=errors,
        )
    return problem_response(
        status=422,
        slug="validation-error",
        title="Validation error",
        detail="The request did not pass validation.",
        request=request,
        errors=errors,
    )


async def _concurrent_update(request: Request, exc: Exception) -> JSONResponse:
    """Optimistic locking lost a race: 412 for a conditional request, else 409."""
    if "if-match" in request.headers:
        status, slug, title = 412, "precondition-failed", "Precondition failed"
    else:
        status, slug, title = 409, "concurrent-update", "Concurrent update"
    return problem_response(
        status=status,
        slug=slug,
        title=title,
        detail="Someone else changed this resource at the same moment; re-read it and retry.",
        request=request,
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A constraint caught a race the checks before it could not see: the client may retry."""
    logger.warning("integrity error", extra={"error": str(getattr(exc, "orig", exc))[:500]})
    return problem_response(
        status=409,
        slug="conflict",
        title="Conflict",
        detail="A concurrent change conflicts with this one; re-read and retry.",
        request=request,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (out of range, bad encoding) that slipped past checks."""
    logger.warning("data error", extra={"error": str(getattr(exc, "orig", exc))[:500]})
    return problem_response(
        status=422,
        slug="validation-error",
        title="Validation error",
        detail="A value in the request is out of range for this service.",
        request=request,
        errors=[],
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A connection the server closed (restart, failover, `pg_terminate_backend`) under a
    request that was using it: 503 with Retry-After. SQLAlchemy has already discarded the
    pool's connections of that age, so the next requests get fresh ones."""
    if not connection_lost(exc):
        return await _unexpected_error(request, exc)
    logger.warning("database connection lost", extra={"error": str(exc)[:500]})
    return _app_problem(request, DatabaseUnavailable())


async def _operational_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLite's writers queued past the busy timeout ("database is locked"): the service is
    busy, not broken, and the transaction changed nothing; the client may retry. Any other
    operational error is a lost connection or unexpected."""
    if "database is locked" not in str(getattr(exc, "orig", "")):
        return await _database_error(request, exc)
    logger.warning("database busy: a write waited past the busy timeout")
    return problem_response(
        status=503,
        slug="busy",
        title="Service busy",
        detail="Too many writes at once; nothing was changed. Retry in a moment.",
        request=request,
        headers={"Retry-After": "1"},
    )


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    """The client went away before sending its whole body (e.g. a load generator stopping):
    there is no one to answer and nothing went wrong here. The server drops what is sent."""
    logger.info("client disconnected before sending the whole body")
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error(request, exc)


def answer_outside_routes(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an error raised outside FastAPI's handlers (a pure ASGI route such as
    the backlog page's fast lane, or a middleware), as those handlers would give it."""
    if isinstance(exc, AppError):
        return _app_problem(request, exc)
    if connection_lost(exc):
        logger.warning("database connection lost", extra={"error": str(exc)[:500]})
        return _app_problem(request, DatabaseUnavailable())
    return unexpected_error(request, exc)


def unexpected_error(request: Request, exc: BaseException) -> JSONResponse:
    """A 500 that logs the traceback under the request id and shows none of it."""
    request_id = current_request_id()
    logger.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return problem_response(
        status=500,
        slug="internal",
        title="Internal server error",
        detail=f"Something went wrong on our side; quote request id {request_id}.",
        request=request,
        headers={"X-Request-ID": request_id},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StaleDataError, _concurrent_update)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected_error)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry documenting problem+json bodies for the given statuses."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
