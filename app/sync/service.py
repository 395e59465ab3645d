"""Integrations with trackers, item links, and the outbox jobs that keep them in sync."""

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.crypto import SecretBox
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, UnprocessableEntity
from app.core.events import ActorKind, diff, record_event
from app.core.outbox import JobState, SyncJob, queue_item_push
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.sync import ssrf
from app.sync.models import Integration, ItemLink, SyncState, TrackerKind
from app.sync.schemas import IntegrationCreate, IntegrationOut, IntegrationUpdate, LinkCreate
from app.sync.status_maps import with_defaults
from app.sync.tracker import RemoteIssue, TrackerError
from app.teams.service import team_exists
from app.users.models import User

GITHUB_API = "https://api.github.com"
PUBLIC_FIELDS = (
    "name",
    "base_url",
    "project_key",
    "repository",
    "team_id",
    "status_map",
    "push_impact",
    "auto_import",
    "enabled",
)


_KEY_RULE = {
    TrackerKind.GITHUB: "a GitHub issue number (1 to 10 digits)",
    TrackerKind.JIRA: "an issue key of the integration's project (KEY-12) or a numeric issue id",
}


class AlreadyLinked(Conflict):
    slug, title = "already-linked", "Already linked"


def integration_out(integration: Integration) -> IntegrationOut:
    return IntegrationOut.model_validate(
        {
            **{c.key: getattr(integration, c.key) for c in Integration.__table__.columns},
            "status_map": with_defaults(integration.kind, integration.status_map),
            "has_auth": integration.auth_sealed is not None,
            "has_webhook_secret": integration.webhook_secret_sealed is not None,
        }
    )


def _public(integration: Integration) -> dict[str, Any]:
    """What events may say about an integration: never its secrets, only whether they are set."""
    return {name: getattr(integration, name) for name in PUBLIC_FIELDS} | {
        "has_auth": integration.auth_sealed is not None,
        "has_webhook_secret": integration.webhook_secret_sealed is not None,
    }


async def safe_base_url(url: str, allowed_hosts: list[str]) -> str:
    """`url` normalised if the service may call it (the SSRF rules); else a 422 on `base_url`.
    Run at creation and change, and again before `/test` calls a stored one."""
    try:  # resolving a host blocks: off the event loop
        return await asyncio.to_thread(ssrf.check_base_url, url, allowed_hosts=allowed_hosts)
    except ssrf.UnsafeUrl as exc:
        raise UnprocessableEntity(
            str(exc), errors=[{"loc": ["body", "base_url"], "msg": str(exc)}]
        ) from exc


async def _apply(
    session: AsyncSession,
    integration: Integration,
    values: dict[str, Any],
    *,
    box: SecretBox,
    allowed_hosts: list[str],
) -> None:
    if "base_url" in values:
        integration.base_url = await safe_base_url(values.pop("base_url"), allowed_hosts)
    if "auth" in values:
        auth = values.pop("auth")
        integration.auth_sealed = box.seal_json(auth) if auth else None
    if "webhook_secret" in values:
        secret = values.pop("webhook_secret")
        integration.webhook_secret_sealed = box.seal(secret) if secret else None
    if "status_map" in values:
        status_map = values.pop("status_map") or {}
        integration.status_map = {
            k: {str(a): str(b) for a, b in v.items()} for k, v in status_map.items()
        }
    for name, value in values.items():
        setattr(integration, name, value)
    if integration.team_id is not None and not await team_exists(session, integration.team_id):
        raise UnprocessableEntity(
            "No such team.", errors=[{"loc": ["body", "team_id"], "msg": "no such team"}]
        )


async def create_integration(
    session: AsyncSession,
    *,
    data: IntegrationCreate,
    actor: User,
    box: SecretBox,
    allowed_hosts: list[str],
) -> Integration:
    values = data.model_dump(exclude_unset=True)
    if data.kind is TrackerKind.GITHUB and not data.base_url:
        values["base_url"] = GITHUB_API
    integration = Integration(kind=data.kind, status_map={}, enabled=data.enabled)
    await _apply(session, integration, values, box=box, allowed_hosts=allowed_hosts)
    session.add(integration)
    await session.flush()
    record_event(
        session,
        type="integration.created",
        entity="integration",
        entity_id=integration.id,
        actor_id=actor.id,
        data={"before": {}, "after": _public(integration)},
    )
    return integration


async def update_integration(
    session: AsyncSession,
    *,
    integration: Integration,
    data: IntegrationUpdate,
    actor: User,
    box: SecretBox,
    allowed_hosts: list[str],
) -> Integration:
    values = data.model_dump(exclude_unset=True)
    reject_nulls(values, ("name", "base_url", "push_impact", "auto_import", "enabled"))
    before = _public(integration)
    await _apply(session, integration, values, box=box, allowed_hosts=allowed_hosts)
    await session.flush()
    change = diff(before, _public(integration))
    if change["after"]:
        record_event(
            session,
            type="integration.updated",
            entity="integration",
            entity_id=integration.id,
            actor_id=actor.id,
            data=change,
        )
    return integration


async def get_integration(session: AsyncSession, *, integration_id: int) -> Integration:
    integration = await session.get(Integration, integration_id, populate_existing=True)
    if integration is None:
        raise NotFound("integration", integration_id)
    return integration


async def list_integrations(
    session: AsyncSession, *, limit: int, after_id: int | None
) -> tuple[list[Integration], int | None]:
    query = select(Integration).order_by(Integration.id).limit(row_limit(limit + 1))
    if after_id is not None:
        query = query.where(Integration.id > after_id)
    rows, last = page_of(list(await session.scalars(query)), limit)
    return rows, last.id if last else None


async def add_link(
    session: AsyncSession, *, item: BacklogItem, data: LinkCreate, actor: User
) -> ItemLink:
    """Link an item to an existing remote issue, or have the worker create one (pending)."""
    integration = await session.get(Integration, data.integration_id)
    if integration is None or not integration.enabled:
        raise UnprocessableEntity(
            "No such enabled integration.",
            errors=[{"loc": ["body", "integration_id"], "msg": "no enabled integration"}],
        )
    if data.remote_key is not None and not integration.owns_key(data.remote_key):
        raise UnprocessableEntity(
            "remote_key must name an issue of the integration's own repository or project.",
            errors=[{"loc": ["body", "remote_key"], "msg": _KEY_RULE[integration.kind]}],
        )
    link = ItemLink(
        item_id=item.id,
        integration_id=integration.id,
        remote_scope=integration.scope,
        remote_key=data.remote_key,
        sync_state=SyncState.PENDING,
    )
    try:
        async with session.begin_nested():
            session.add(link)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyLinked(
            "The item is already linked to this integration, or that remote issue to an item."
        ) from exc
    record_event(
        session,
        type="item.linked",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data={"link_id": link.id, "integration_id": integration.id, "remote_key": link.remote_key},
    )
    await queue_item_push(session, item_id=item.id)
    return link


async def get_link(session: AsyncSession, *, item: BacklogItem, link_id: int) -> ItemLink:
    link = await session.get(ItemLink, link_id)
    if link is None or link.item_id != item.id:
        raise NotFound("link", link_id)
    return link


async def remove_link(
    session: AsyncSession, *, item: BacklogItem, link: ItemLink, actor: User
) -> None:
    """Unlink: the remote issue stays as it is; pending pushes for this link are dropped."""
    await session.delete(link)
    await session.flush()
    record_event(
        session,
        type="item.unlinked",
        entity="item",
        entity_id=item.id,
        actor_id=actor.id,
        data={"link_id": link.id, "remote_key": link.remote_key},
    )


async def list_links(session: AsyncSession, *, item_id: int) -> list[ItemLink]:
    query = select(ItemLink).where(ItemLink.item_id == item_id).order_by(ItemLink.id)
    return list(await session.scalars(query))


async def list_jobs(
    session: AsyncSession,
    *,
    integration_id: int,
    state: JobState | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[SyncJob], int | None]:
    query = select(SyncJob).where(SyncJob.integration_id == integration_id)
    if state is not None:
        query = query.where(SyncJob.state == state)
    if after_id is not None:
        query = query.where(SyncJob.id > after_id)
    rows, last = page_of(
        list(await session.scalars(query.order_by(SyncJob.id).limit(row_limit(limit + 1)))), limit
    )
    return rows, last.id if last else None


class JobNotFailed(Conflict):
    slug, title = "invalid-transition", "Only failed jobs are retried"


async def retry_job(
    session: AsyncSession, *, integration_id: int, job_id: int, actor: User
) -> SyncJob:
    job = await session.get(SyncJob, job_id)
    if job is None or job.integration_id != integration_id:
        raise NotFound("job", job_id)
    if job.state is not JobState.FAILED:
        raise JobNotFailed(f"Job {job_id} is {job.state}; only failed jobs are retried.")
    job.state, job.attempts, job.last_error = JobState.PENDING, 0, None
    job.next_attempt_at = job.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a newer pending job for the link will push the same state
        raise Conflict("A newer push for this link is already pending.") from exc
    record_event(
        session,
        type="sync.job_retried",
        entity="integration",
        entity_id=integration_id,
        actor_id=actor.id,
        data={"job_id": job.id},
        actor_kind=ActorKind.USER,
    )
    return job


async def rekey_link(session: AsyncSession, link: ItemLink, key: str) -> None:
    """A link made by a Jira issue id takes the issue's key, as webhooks name the issue;
    a permanent `TrackerError` when another item is linked to that issue already."""
    try:
        async with session.begin_nested():
            await session.execute(
                update(ItemLink).where(ItemLink.id == link.id).values(remote_key=key)
            )
    except IntegrityError as exc:
        raise TrackerError(f"issue {key} is linked elsewhere", permanent=True) from exc
    link.remote_key = key


async def record_synced(session: AsyncSession, *, link_id: int, remote: RemoteIssue) -> None:
    """The link names the remote issue it was pushed to; `broken` when that issue already
    belongs to another item (one link per remote issue)."""
    values = {
        "remote_key": remote.key,
        "url": remote.url,
        "sync_state": SyncState.SYNCED,
        "last_synced_at": utcnow(),
        "last_error": None,
        "create_uncertain_since": None,
    }
    try:
        async with session.begin_nested():
            await session.execute(update(ItemLink).where(ItemLink.id == link_id).values(**values))
    except IntegrityError:
        await session.execute(
            update(ItemLink)
            .where(ItemLink.id == link_id)
            .values(
                sync_state=SyncState.BROKEN, last_error=f"issue {remote.key} is linked elsewhere"
            )
        )
