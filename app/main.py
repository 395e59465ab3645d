"""The ASGI application: `create_app()` wires settings, database, routers and error handlers."""

import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app import health
from app.backlog.page_route import BacklogPageRoute
from app.backlog.router import router as backlog_router
from app.comments.router import router as comments_router
from app.core.config import Settings
from app.core.crypto import secret_box
from app.core.db import Sessionmakers, make_engine
from app.core.errors import error_responses, install_error_handlers
from app.core.fastlane import FastLane
from app.core.guards import reject_nul_query
from app.core.logging import configure_logging
from app.core.middleware import RequestIdMiddleware
from app.core.migrations import script_revisions
from app.core.openapi import problem_only_openapi
from app.core.ratelimit import HEADERS as RATE_LIMIT_HEADERS
from app.core.ratelimit import RateLimiter, RateLimitHeaders
from app.events.router import router as events_router
from app.plans.router import router as plans_router
from app.reports.router import router as reports_router
from app.requests.router import router as requests_router
from app.sprints.router import router as sprints_router
from app.suppliers.router import router as suppliers_router
from app.sync import runner
from app.sync.router import router as sync_router
from app.teams.router import router as teams_router
from app.users.router import router as users_router
from app.webhooks.router import router as webhooks_router

API_DESCRIPTION = """
Backlog Bridge turns marketing's requests into IT's Scrum backlog: intake, IT assessment,
security review, backlog, sprints and tracker sync. Errors are RFC 9457 problem+json.
"""


ROUTERS = (
    webhooks_router,  # first: FastAPI tries routers in order, and deliveries come in bursts
    health.router,
    users_router,
    requests_router,
    backlog_router,
    teams_router,
    sprints_router,
    plans_router,
    suppliers_router,
    sync_router,
    comments_router,
    events_router,
    reports_router,
)


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.secret_box = secret_box(settings)  # refuses to start on PostgreSQL without one
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.sessionmakers = makers = Sessionmakers(engine)
        if not settings.is_sqlite:
            app.state.fast_lane = await FastLane.open(
                settings.database_url, size=settings.db_pool_size
            )
        async with contextlib.AsyncExitStack() as stack:
            if settings.is_sqlite or settings.run_worker:
                await stack.enter_async_context(
                    runner.in_process(settings, makers.write, app.state.secret_box)
                )
            # What startup made (routes, mappers, schemas) lives as long as the process: frozen,
            # full collections stop scanning it (~170k objects, ~100 ms pauses; bench/README.md).
            gc.freeze()
            yield
        if app.state.fast_lane is not None:
            await app.state.fast_lane.close()
        await engine.dispose()

    return lifespan


def _middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BacklogPageRoute)  # innermost: inside CORS, quota headers, request id
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Link", "ETag", "X-Request-ID", *RATE_LIMIT_HEADERS],
        )
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(RequestIdMiddleware)


# Swagger UI and ReDoc, vendored (app/static/README.md names the versions): internal tools
# often live where no CDN is reachable.
STATIC_DIR = Path(__file__).resolve().parent / "static"
DOCS_ASSETS = "/docs/static"
# Only images are held to the service itself: ReDoc's footer would fetch its logo from a CDN.
DOCS_HEADERS = {"Content-Security-Policy": "img-src 'self' data:"}


def _docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc`, with every asset served from `/docs/static`."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-static")
    favicon = f"{DOCS_ASSETS}/swagger-ui/favicon-32x32.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=favicon,
            swagger_ui_parameters={"validatorUrl": None},  # else a badge from swagger.io
        )
        page.headers.update(DOCS_HEADERS)
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{DOCS_ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
        page.headers.update(DOCS_HEADERS)
        return page


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="Backlog Bridge",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,  # _docs() serves both from vendored assets
        redoc_url=None,
        lifespan=_lifespan(settings),
        responses=error_responses(400, 413, 500, 503),  # 400: malformed JSON, NUL, a bad cursor
        dependencies=[Depends(reject_nul_query)],
    )
    app.state.settings = settings
    app.state.fast_lane = None  # PostgreSQL: opened by the lifespan
    limit, window_s = settings.rate_limit_policy
    app.state.rate_limiter = RateLimiter(limit=limit, window_s=window_s)
    app.state.migration_head, app.state.known_revisions = script_revisions()
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _docs(app)
    _middleware(app, settings)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_only_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
