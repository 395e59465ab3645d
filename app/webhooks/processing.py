"""Applying stored deliveries: linked items follow the tracker, by the same rules as the API.

Title, description, labels and status are two-way; a change older than the last one applied
is stale; our own values echoed back change nothing (so nothing is pushed again); a status the
item may not take (Definition of Ready...) is ignored with its reason and our value pushed back.
"""

import json
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.backlog import delivery, readiness
from app.backlog import service as backlog_service
from app.backlog.models import BacklogItem, ItemStatus
from app.backlog.service import snapshot
from app.comments.models import Comment
from app.core.db import utcnow
from app.core.errors import AppError
from app.core.events import ActorKind, diff, record_event
from app.core.outbox import JobState, SyncJob, queue_item_push
from app.core.pagination import row_limit
from app.sync.models import Integration, ItemLink, SyncState, TrackerKind
from app.sync.status_maps import status_labels, with_defaults
from app.sync.tracker import decode_clean, error_text
from app.webhooks.models import Delivery, Outcome
from app.webhooks.parsing import (
    RemoteChange,
    from_github,
    from_github_issue,
    from_jira,
    from_jira_issue,
)

logger = logging.getLogger("app.webhooks.processing")
Result = tuple[Outcome, str | None]
# Issues the worker pulled itself (app/sync/pulls.py) are stored as deliveries of these events:
# one REST issue per delivery, applied by the same rules as a webhook.
PULLED_EVENTS = ("import", "reconcile", "link")


def _same(ours: str | None, theirs: str | None) -> bool:
    """Texts compare as plain text: whitespace and line endings do not make a change."""
    return " ".join((ours or "").split()) == " ".join((theirs or "").split())


def _change_of(integration: Integration, delivery: Delivery) -> RemoteChange | None:
    # Bounded depth; control characters out of every string before anything is stored.
    payload = decode_clean(delivery.body)
    pulled = delivery.event in PULLED_EVENTS
    if integration.kind is TrackerKind.GITHUB:
        labels = status_labels(integration.kind, integration.status_map)
        if not pulled:
            return from_github(delivery.event, payload, labels)
        change = from_github_issue(payload, labels)
    elif not pulled:
        return from_jira(delivery.event, payload)
    else:
        change = from_jira_issue(payload)
    return change


def _at_link_time(item: BacklogItem, change: RemoteChange) -> RemoteChange:
    """Linking an existing issue loses neither side: a field empty on one side takes the
    other's value; where both differ, the side changed last wins (ours is then pushed)."""
    ours_newer = change.updated_at is None or item.updated_at > change.updated_at
    return replace(
        change,
        title=None if ours_newer else change.title,
        description=None
        if item.description and (ours_newer or not change.description)
        else change.description,
        labels=None if item.labels and (ours_newer or not change.labels) else change.labels,
        status=None if ours_newer else change.status,
    )


def _label_set(integration: Integration, labels: list[str]) -> list[str]:
    """Labels as the tracker can hold them: Jira labels have no spaces (we push `-`)."""
    if integration.kind is TrackerKind.JIRA:
        labels = [label.replace(" ", "-") for label in labels]
    return sorted(labels)


async def _comment(session: AsyncSession, item: BacklogItem, change: RemoteChange) -> Result:
    """A remote comment is added once; its edits and its deletion follow it."""
    remote = change.comment
    assert remote is not None
    known = await session.scalar(
        select(Comment).where(Comment.item_id == item.id, Comment.remote_id == remote.remote_id)
    )
    if remote.action == "deleted":
        if known is None:
            return Outcome.IGNORED, "no such comment here"
        await session.delete(known)
        await session.flush()
        return Outcome.APPLIED, None
    if known is not None:
        if remote.action != "edited" or _same(known.body, remote.body):
            return Outcome.IGNORED, "this comment is already on the item"
        known.body = remote.body[:10_000]
        await session.flush()
        return Outcome.APPLIED, None
    session.add(
        Comment(
            item_id=item.id,
            author_name=remote.author,
            body=remote.body[:10_000],
            remote_id=remote.remote_id,
        )
    )
    await session.flush()
    return Outcome.APPLIED, None


def _status(integration: Integration, item: BacklogItem, remote: str | None) -> Any:
    """The local status a remote one asks for: None when it is ours already, or unknown."""
    status_map = with_defaults(integration.kind, integration.status_map)
    if remote is None or status_map["to_remote"].get(item.status) == remote:
        return None  # our own status maps to it: an edit elsewhere must not reset ours
    return status_map["from_remote"].get(remote, f"unknown:{remote}")


def _fields(integration: Integration, item: BacklogItem, change: RemoteChange) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if change.title and not _same(item.title, change.title):
        fields["title"] = change.title[:200]
    if change.description is not None and not _same(item.description, change.description):
        fields["description"] = change.description
    theirs = change.labels
    if theirs is not None and _label_set(integration, theirs) != _label_set(
        integration, item.labels
    ):
        fields["labels"] = list(dict.fromkeys(theirs))
    return fields


async def _apply(
    session: AsyncSession,
    integration: Integration,
    link: ItemLink,
    item: BacklogItem,
    change: RemoteChange,
) -> Result:
    before, notes = snapshot(item), []
    fields = _fields(integration, item, change)
    if fields and await _unpushed(session, link, item):
        _conflict(session, integration, item, before, fields)
    for name, value in fields.items():
        setattr(item, name, value)
    if note := await _take_status(session, integration, item, change.status):
        notes.append(note)
    link.last_remote_at = change.updated_at or link.last_remote_at
    link.last_synced_at = utcnow()
    change_data = diff(before, snapshot(item))
    if not change_data["after"]:
        outcome = Outcome.IGNORED if notes else Outcome.APPLIED
        return outcome, "; ".join(notes) or "nothing new (our own change echoed back)"
    await session.flush()
    record_event(
        session,
        type="item.updated",
        entity="item",
        entity_id=item.id,
        actor_id=None,
        actor_kind=ActorKind.INTEGRATION,
        data=change_data | {"integration_id": integration.id},
    )
    if "status" in change_data["after"] and item.request_id is not None:
        await delivery.follow(session, request_id=item.request_id, actor=None)
    return Outcome.APPLIED, "; ".join(notes) or None


async def _take_status(
    session: AsyncSession, integration: Integration, item: BacklogItem, remote: str | None
) -> str | None:
    """Follow the remote status if the map knows it and our rules allow it; else say why."""
    wanted = _status(integration, item, remote)
    if wanted is None:
        return None
    if isinstance(wanted, str) and wanted.startswith("unknown:"):
        return f"remote status {wanted.removeprefix('unknown:')!r} is not in the status map"
    try:
        await readiness.check_status_change(session, item, ItemStatus(wanted))
    except AppError as refusal:  # the same rule as the API: ours stands, and goes back
        await queue_item_push(session, item_id=item.id)
        return f"status {wanted} refused: {refusal.detail}"
    item.status = ItemStatus(wanted)
    return None


async def _unpushed(session: AsyncSession, link: ItemLink, item: BacklogItem) -> bool:
    """Whether we changed the item since our last push to this tracker (still waiting to go)."""
    if link.last_synced_at is None or item.updated_at <= link.last_synced_at:
        return False
    pending = await session.scalar(
        select(SyncJob.id).where(SyncJob.link_id == link.id, SyncJob.state == JobState.PENDING)
    )
    return pending is not None


def _conflict(
    session: AsyncSession,
    integration: Integration,
    item: BacklogItem,
    ours: dict[str, Any],
    theirs: dict[str, Any],
) -> None:
    """Both sides edited: the newer remote edit wins the field, and the clash is on record."""
    record_event(
        session,
        type="sync.conflict",
        entity="item",
        entity_id=item.id,
        actor_id=None,
        actor_kind=ActorKind.INTEGRATION,
        data={
            "integration_id": integration.id,
            "fields": sorted(theirs),
            "ours": {k: ours.get(k) for k in theirs},
            "theirs": theirs,
        },
    )


def _importable(change: RemoteChange) -> bool:
    return change.comment is None and not change.deleted and bool(change.title)


async def _import(session: AsyncSession, integration: Integration, change: RemoteChange) -> Result:
    """`auto_import`: an unlinked remote issue becomes a new item of the backlog, linked."""
    item = BacklogItem(
        title=(change.title or "")[:200],
        description=change.description,
        labels=list(dict.fromkeys(change.labels or [])),
        team_id=integration.team_id,
    )
    await backlog_service.add_item(session, item, actor=None)
    session.add(
        ItemLink(
            item_id=item.id,
            integration_id=integration.id,
            remote_scope=integration.scope,
            remote_key=change.remote_key,
            sync_state=SyncState.SYNCED,
            last_synced_at=utcnow(),
            last_remote_at=change.updated_at,
        )
    )
    await session.flush()
    return Outcome.APPLIED, f"imported as {item.key}"


async def process(session: AsyncSession, row: Delivery) -> Result:
    integration = await session.get(Integration, row.integration_id)
    if integration is None:
        return Outcome.FAILED, "the integration is gone"
    change = _change_of(integration, row)
    if change is None:
        return Outcome.IGNORED, f"{row.event} is not an event we act on"
    if not integration.owns_key(change.remote_key):  # it could never be a link of ours
        where = "repository" if integration.kind is TrackerKind.GITHUB else "project"
        return Outcome.IGNORED, f"{change.remote_key[:60]!r} is not an issue of this {where}"
    link = await session.scalar(
        select(ItemLink).where(
            ItemLink.remote_scope == integration.scope, ItemLink.remote_key == change.remote_key
        )
    )
    item = await session.get(BacklogItem, link.item_id) if link else None
    wanted = integration.auto_import or row.event == "import"
    if link is None and wanted and _importable(change):
        return await _import(session, integration, change)
    if link is None or item is None:
        return Outcome.IGNORED, f"issue {change.remote_key} is not linked to an item"
    if change.comment is not None:
        return await _comment(session, item, change)
    if row.event == "link":
        change = _at_link_time(item, change)
    if change.deleted:
        link.sync_state, link.last_error = SyncState.BROKEN, "the remote issue was deleted or moved"
        return Outcome.APPLIED, "the link is broken: the remote issue is gone"
    stale = change.updated_at and link.last_remote_at and change.updated_at <= link.last_remote_at
    if stale:
        return Outcome.IGNORED, "stale: not newer than what was applied already"
    return await _apply(session, integration, link, item, change)


async def apply_now(
    session: AsyncSession, *, integration_id: int, link_id: int, issue: dict[str, Any]
) -> Delivery:
    """A linked issue as it is at link time, recorded and applied at once (event `link`)."""
    row = Delivery(
        integration_id=integration_id,
        delivery_id=f"link:{link_id}:{utcnow().isoformat()}",
        event="link",
        body=json.dumps(issue),
    )
    session.add(row)
    await session.flush()
    row.outcome, row.note = await _isolated(session, row)
    row.processed_at, row.attempts = utcnow(), 1
    await session.flush()
    return row


async def _isolated(session: AsyncSession, row: Delivery) -> Result:
    """`process` in a savepoint: whatever goes wrong (unreadable JSON, a database error, a
    bug) undoes what it half did and fails this delivery with the reason, nothing more."""
    try:
        async with session.begin_nested():
            result = await process(session, row)
            await session.flush()  # a database error shows here, inside the savepoint
    except Exception as exc:  # one bad delivery must never stop the others
        logger.warning("delivery %s failed", row.id, exc_info=True)
        return Outcome.FAILED, error_text(exc, prefix="could not apply")
    return result


async def process_pending(sessions: async_sessionmaker[AsyncSession], *, limit: int = 50) -> int:
    """Process waiting deliveries in arrival order, each in its own transaction; one that
    fails is marked `failed` with its reason and the next one is processed."""
    handled = 0
    for _ in range(limit):
        async with sessions() as session:
            row = await session.scalar(
                select(Delivery)
                .where(Delivery.outcome == Outcome.PENDING)
                .order_by(Delivery.id)
                .limit(row_limit(1))
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return handled
            row_id = row.id
            outcome, note = await _isolated(session, row)
            row.outcome, row.note, row.processed_at = outcome, note, utcnow()
            row.attempts += 1
            try:
                await session.commit()
            except Exception as exc:  # what only the commit found (rows flushed there)
                logger.warning("delivery %s failed at commit", row_id, exc_info=True)
                await session.rollback()
                await _failed(session, row_id, error_text(exc, prefix="could not store"))
            handled += 1
    return handled


async def _failed(session: AsyncSession, row_id: int, note: str) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.id == row_id)
        .values(
            outcome=Outcome.FAILED,
            note=note,
            processed_at=utcnow(),
            attempts=Delivery.attempts + 1,
        )
    )
    await session.commit()
