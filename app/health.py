"""Liveness and readiness probes (no authentication)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import READ_ONLY
from app.core.errors import error_responses, problem_response
from app.core.migrations import schema_state

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers (touches no database)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is at (or ahead of) our head",
    responses=error_responses(503),
)
async def readyz(request: Request) -> JSONResponse:
    engine: AsyncEngine = request.app.state.engine
    head: str = request.app.state.migration_head
    try:
        async with engine.connect() as connection:
            await connection.execution_options(**READ_ONLY)
            state = await schema_state(connection, head, request.app.state.known_revisions)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return _not_ready(request, f"database unreachable: {type(exc).__name__}")
    if not state.ready:
        return _not_ready(request, f"schema at {state.current or 'nothing'}, expected {head}")
    return JSONResponse({"status": "ready", "schema": state.current})


def _not_ready(request: Request, detail: str) -> JSONResponse:
    return problem_response(
        status=503, slug="not-ready", title="Service not ready", detail=detail, request=request
    )
