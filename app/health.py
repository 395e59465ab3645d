"""Liveness and readiness probes (no authentication)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.db import READ_ONLY, SessionDep, utcnow
from app.core.errors import error_responses, problem_response
from app.core.metrics import PipelineSnapshot, exposition
from app.core.migrations import schema_state
from app.core.outbox import JobState, SyncJob
from app.webhooks.models import Delivery

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


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latency, outbox depth and age, webhook outcomes",
    response_class=PlainTextResponse,
)
async def metrics(session: SessionDep) -> PlainTextResponse:
    snapshot = await _pipeline_snapshot(session)
    return PlainTextResponse(exposition(snapshot), media_type=CONTENT_TYPE_LATEST)


async def _pipeline_snapshot(session: AsyncSession) -> PipelineSnapshot:
    depth = {
        state: count
        for state, count in await session.execute(
            select(SyncJob.state, func.count()).group_by(SyncJob.state)
        )
    }
    oldest = await session.scalar(
        select(func.min(SyncJob.created_at)).where(SyncJob.state == JobState.PENDING)
    )
    deliveries = await session.execute(
        select(Delivery.outcome, func.count()).group_by(Delivery.outcome)
    )
    return PipelineSnapshot(
        outbox_jobs={state.value: depth.get(state, 0) for state in JobState},
        oldest_pending_s=(utcnow() - oldest).total_seconds() if oldest else 0.0,
        deliveries={str(outcome): count for outcome, count in deliveries},
    )
