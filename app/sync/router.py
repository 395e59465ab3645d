from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem
from app.core.config import SettingsDep
from app.core.crypto import SecretBox
from app.core.db import SessionDep
from app.core.errors import Conflict, error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.http import tracker_client
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.outbox import JobState
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.sync import checks, pulls, service, ssrf
from app.sync.deps import READERS, ManagedIntegration, ReadableIntegration
from app.sync.schemas import (
    CredentialCheck,
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    JobOut,
    LinkCreate,
    LinkOut,
)
from app.users.auth import CurrentUser, ITUser, require_roles
from app.users.models import Role, User
from app.users.service import ensure_role

router = APIRouter(prefix="/api/v1", tags=["integrations"], responses=error_responses(401))
_WRITE_ERRORS = error_responses(403, 404, 409, 412, 422)


async def get_secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


BoxDep = Annotated[SecretBox, Depends(get_secret_box)]


async def _item(actor: CurrentUser, item_id: PathId, session: SessionDep) -> BacklogItem:
    return await backlog_service.get_item(session, item_id=item_id)


async def _planned_item(actor: CurrentUser, item_id: PathId, session: SessionDep) -> BacklogItem:
    item = await backlog_service.get_item(session, item_id=item_id)
    ensure_role(actor, Role.IT, Role.ADMIN)
    return item


@router.post(
    "/integrations",
    status_code=201,
    summary="Connect a Jira project or GitHub repository (IT)",
    response_model=IntegrationOut,
    responses=error_responses(403, 422),
)
async def create_integration(
    actor: ITUser,
    body: IntegrationCreate,
    session: SessionDep,
    settings: SettingsDep,
    box: BoxDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[IntegrationOut, dict[str, str]]:
        integration = await service.create_integration(
            session,
            data=body,
            actor=actor,
            box=box,
            allowed_hosts=settings.tracker_allowed_hosts,
        )
        headers = {
            "ETag": etag(integration.version),
            "Location": f"/api/v1/integrations/{integration.id}",
        }
        return service.integration_out(integration), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /integrations", body),
        create=create,
    )


@router.get(
    "/integrations",
    summary="List integrations (IT; security reads)",
    responses=error_responses(400, 403, 422),
)
async def list_integrations(
    actor: Annotated[User, require_roles(*READERS)],
    request: Request,
    response: Response,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[IntegrationOut]:
    rows, last_id = await service.list_integrations(
        session, limit=limit, after_id=decode_id_cursor(cursor)
    )
    return id_page(request, response, [service.integration_out(i) for i in rows], last_id)


@router.get(
    "/integrations/{integration_id}",
    summary="One integration (IT; security reads); credentials are never shown",
    responses=error_responses(403, 404),
)
async def get_integration(integration: ReadableIntegration, response: Response) -> IntegrationOut:
    set_etag(response, integration.version)
    return service.integration_out(integration)


@router.patch(
    "/integrations/{integration_id}",
    summary="Change an integration (IT), e.g. `enabled: false`",
    responses=_WRITE_ERRORS,
)
async def update_integration(
    actor: CurrentUser,
    integration: ManagedIntegration,
    body: IntegrationUpdate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    box: BoxDep,
    if_match: IfMatch = None,
) -> IntegrationOut:
    check_if_match(if_match, integration.version)
    await service.update_integration(
        session,
        integration=integration,
        data=body,
        actor=actor,
        box=box,
        allowed_hosts=settings.tracker_allowed_hosts,
    )
    await session.commit()
    set_etag(response, integration.version)
    return service.integration_out(integration)


@router.post(
    "/integrations/{integration_id}/test",
    summary="Check the credentials against the tracker (IT)",
    responses=error_responses(403, 404, 422),
)
async def test_integration(
    integration: ManagedIntegration, box: BoxDep, settings: SettingsDep
) -> CredentialCheck:
    # Saved under older rules, or an allow-list since shortened: judged again before the call.
    await service.safe_base_url(integration.base_url, settings.tracker_allowed_hosts)
    check = ssrf.peer_check(settings.tracker_allowed_hosts)
    async with tracker_client(timeout_s=settings.tracker_timeout_s, check_peer=check) as client:
        return await checks.check_credentials(integration, box, client=client)


@router.post(
    "/integrations/{integration_id}/import",
    status_code=202,
    summary="Pull the tracker's existing issues into the backlog, as linked items (IT)",
    description="Answers at once with the import job; the worker runs it page by page. Issues "
    "already linked are updated by the usual ownership rules, never imported twice. While an "
    "import is waiting or running, asking again returns that job.",
    responses=error_responses(403, 404, 409),
)
async def import_issues(
    actor: CurrentUser, integration: ManagedIntegration, session: SessionDep
) -> JobOut:
    if not integration.enabled:
        raise Conflict("The integration is disabled: enable it before importing.")
    job = await pulls.request_import(session, integration=integration, actor=actor)
    await session.commit()
    return JobOut.model_validate(job)


@router.get(
    "/integrations/{integration_id}/jobs",
    summary="Outbox jobs of an integration, e.g. `?state=failed` (IT; security reads)",
    responses=error_responses(400, 403, 404, 422),
)
async def list_jobs(
    integration: ReadableIntegration,
    request: Request,
    response: Response,
    session: SessionDep,
    state: JobState | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[JobOut]:
    jobs, last_id = await service.list_jobs(
        session,
        integration_id=integration.id,
        state=state,
        limit=limit,
        after_id=decode_id_cursor(cursor),
    )
    return id_page(request, response, [JobOut.model_validate(j) for j in jobs], last_id)


@router.post(
    "/integrations/{integration_id}/jobs/{job_id}/retry",
    summary="Retry a failed job (IT)",
    responses=_WRITE_ERRORS,
)
async def retry_job(
    actor: CurrentUser, integration: ManagedIntegration, job_id: PathId, session: SessionDep
) -> JobOut:
    job = await service.retry_job(
        session, integration_id=integration.id, job_id=job_id, actor=actor
    )
    await session.commit()
    return JobOut.model_validate(job)


@router.get(
    "/items/{item_id}/links",
    tags=["backlog"],
    summary="The item's issues in external trackers",
    responses=error_responses(404),
)
async def list_links(
    item: Annotated[BacklogItem, Depends(_item)], session: SessionDep
) -> list[LinkOut]:
    return [
        LinkOut.model_validate(link) for link in await service.list_links(session, item_id=item.id)
    ]


@router.post(
    "/items/{item_id}/links",
    status_code=201,
    tags=["backlog"],
    summary="Link an existing remote issue (`remote_key`), or have one created (IT)",
    responses=_WRITE_ERRORS,
)
async def add_link(
    actor: CurrentUser,
    item: Annotated[BacklogItem, Depends(_planned_item)],
    body: LinkCreate,
    session: SessionDep,
) -> LinkOut:
    link = await service.add_link(session, item=item, data=body, actor=actor)
    await session.commit()
    return LinkOut.model_validate(link)


@router.delete(
    "/items/{item_id}/links/{link_id}",
    status_code=204,
    tags=["backlog"],
    summary="Unlink (the remote issue stays) (IT)",
    responses=_WRITE_ERRORS,
)
async def remove_link(
    actor: CurrentUser,
    item: Annotated[BacklogItem, Depends(_planned_item)],
    link_id: PathId,
    session: SessionDep,
) -> Response:
    link = await service.get_link(session, item=item, link_id=link_id)
    await service.remove_link(session, item=item, link=link, actor=actor)
    await session.commit()
    return Response(status_code=204)
