"""`Idempotency-Key` on POST creates: the same key and body replay the first response.

Keys are scoped per user and kept for at least `RETENTION`; a unique constraint on
(user, key) makes concurrent retries race safely: the loser rolls back and replays.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow
from app.core.errors import UnprocessableEntity

RETENTION = timedelta(hours=48)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe creation: the same key and body replay the first response.",
    ),
]


class StoredResponse(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("user_id", "key"),)


class IdempotencyConflict(UnprocessableEntity):
    slug, title = "idempotency-conflict", "Idempotency key reused with another request"


def fingerprint(route: str, payload: BaseModel | None) -> str:
    body = payload.model_dump(mode="json", exclude_unset=True) if payload else None
    raw = json.dumps([route, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


async def _replay(
    session: AsyncSession, *, user_id: int, key: str, print_: str
) -> JSONResponse | None:
    stored = await session.scalar(
        select(StoredResponse).where(
            StoredResponse.user_id == user_id,
            StoredResponse.key == key,
            StoredResponse.created_at > utcnow() - RETENTION,
        )
    )
    if stored is None:
        return None
    if stored.fingerprint != print_:
        raise IdempotencyConflict(
            "This Idempotency-Key was first used with a different request body or endpoint."
        )
    headers = stored.headers | {"Idempotent-Replayed": "true"}
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)


async def _remember(session: AsyncSession, stored: StoredResponse) -> None:
    """Keep the response under its key; an expired record of the key makes way for it."""
    await session.execute(
        delete(StoredResponse).where(
            StoredResponse.user_id == stored.user_id,
            StoredResponse.key == stored.key,
            StoredResponse.created_at <= utcnow() - RETENTION,
        )
    )
    session.add(stored)


async def run_once(
    session: AsyncSession,
    *,
    user_id: int,
    key: str | None,
    print_: str,
    create: Callable[[], Awaitable[tuple[BaseModel, dict[str, str]]]],
    status_code: int = 201,
) -> JSONResponse:
    """Run `create` and commit, unless this key already did: then replay its response."""
    if key is not None and (
        replay := await _replay(session, user_id=user_id, key=key, print_=print_)
    ):
        return replay
    out, headers = await create()
    # By alias, as FastAPI answers every other route and the OpenAPI document says (`from`,
    # not `from_`); the stored copy is what replays send.
    body = out.model_dump(mode="json", by_alias=True)
    if key is not None:
        stored = StoredResponse(
            user_id=user_id,
            key=key,
            fingerprint=print_,
            status_code=status_code,
            body=body,
            headers=headers,
        )
        await _remember(session, stored)
    try:
        await session.commit()
    except IntegrityError:
        # A concurrent retry with this key committed first: ours never happened; replay theirs.
        await session.rollback()
        if key is not None and (
            replay := await _replay(session, user_id=user_id, key=key, print_=print_)
        ):
            return replay
        raise
    return JSONResponse(body, status_code=status_code, headers=headers)
