"""Users and API tokens: who may call the API, and with which role."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.events import diff, record_event
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.core.security import hash_token, new_token
from app.users.models import ApiToken, Role, User
from app.users.schemas import UserCreate, UserUpdate

LAST_USED_GRANULARITY = timedelta(minutes=1)


class NameTaken(Conflict):
    slug, title = "name-taken", "Name already taken"


class LastAdmin(Conflict):
    slug, title = "last-admin", "The last active admin must stay"


def ensure_admin_or_self(actor: User, user_id: int) -> None:
    if actor.role is not Role.ADMIN and actor.id != user_id:
        raise Forbidden("Only admins may act on other users.")


def ensure_role(actor: User, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = ", ".join(roles)
        raise Forbidden(f"Role {actor.role} may not do this (allowed: {allowed}).")


def _record(
    session: AsyncSession,
    type: str,
    entity: str,
    entity_id: int,
    actor: User | None,
    data: dict[str, Any],
) -> None:
    record_event(
        session,
        type=type,
        entity=entity,
        entity_id=entity_id,
        actor_id=actor.id if actor else None,
        data=data,
    )


def _public(user: User) -> dict[str, object]:
    return {"name": user.name, "email": user.email, "role": user.role, "active": user.active}


async def create_user(
    session: AsyncSession, *, data: UserCreate, actor: User | None = None
) -> User:
    """A new active user; `actor` None means the CLI or another system path."""
    user = User(name=data.name, role=data.role, email=data.email, active=True)
    try:
        async with session.begin_nested():  # a clash rolls back (and expunges) only this user
            session.add(user)
            await session.flush()
    except IntegrityError as exc:
        raise NameTaken(f"A user named {data.name!r} already exists.") from exc
    _record(session, "user.created", "user", user.id, actor, {"before": {}, "after": _public(user)})
    return user


async def get_user(session: AsyncSession, *, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def get_user_by_name(session: AsyncSession, *, name: str) -> User:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound("user", name)
    return user


async def list_users(
    session: AsyncSession, *, limit: int, after_id: int | None, role: Role | None
) -> tuple[list[User], int | None]:
    """A keyset page by id; returns the users and the id to continue after, if any."""
    query = select(User).order_by(User.id).limit(row_limit(limit + 1))
    if after_id is not None:
        query = query.where(User.id > after_id)
    if role is not None:
        query = query.where(User.role == role)
    users, last = page_of(list(await session.scalars(query)), limit)
    return users, last.id if last else None


async def update_user(
    session: AsyncSession, *, user: User, data: UserUpdate, actor: User | None
) -> User:
    """Apply `data`; `actor` None means the CLI. The last active admin always stays one."""
    changes = data.model_dump(exclude_unset=True)
    reject_nulls(changes, ("name", "role", "active"))
    before = _public(user)
    if changes.get("active") is False or changes.get("role") not in (None, Role.ADMIN):
        await _keep_one_admin(session, user=user)
    for field, value in changes.items():
        setattr(user, field, value)
    if changes.get("active") is False:
        await _revoke_all_tokens(session, user_id=user.id)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise NameTaken(f"A user named {data.name!r} already exists.") from exc
    change = diff(before, _public(user))
    if change["after"]:
        _record(session, "user.updated", "user", user.id, actor, change)
    return user


async def _keep_one_admin(session: AsyncSession, *, user: User) -> None:
    if user.role is not Role.ADMIN or not user.active:
        return
    # Lock the active admins: two concurrent demotions must not both see "one other left".
    admins = list(
        await session.scalars(
            select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).with_for_update()
        )
    )
    if len(admins) <= 1:
        raise LastAdmin("Deactivating or demoting the last active admin would lock everyone out.")


async def _revoke_all_tokens(session: AsyncSession, *, user_id: int) -> None:
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def create_token(
    session: AsyncSession, *, user: User, name: str, ttl: timedelta, actor: User | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`; the secret is returned once and only its hash is stored."""
    if not user.active:
        raise Conflict(f"User {user.name!r} is inactive and cannot get tokens.")
    secret = new_token()
    token = ApiToken(
        user_id=user.id, name=name, token_hash=hash_token(secret), expires_at=utcnow() + ttl
    )
    session.add(token)
    await session.flush()
    _record(
        session,
        "token.created",
        "token",
        token.id,
        actor,
        {"user_id": user.id, "name": name, "expires_at": token.expires_at},
    )
    return token, secret


async def list_tokens(session: AsyncSession, *, user_id: int) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return list(await session.scalars(query))


async def revoke_token(session: AsyncSession, *, token_id: int, actor: User | None) -> ApiToken:
    """Revoke one token (again is a no-op); `actor` None means the CLI, which may revoke any."""
    token = await session.get(ApiToken, token_id)
    # Another user's token is reported missing, not forbidden: its existence is not ours to see.
    if token is None or not _may_see(actor, token):
        raise NotFound("token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
        _record(session, "token.revoked", "token", token.id, actor, {"user_id": token.user_id})
    return token


def _may_see(actor: User | None, token: ApiToken) -> bool:
    return actor is None or actor.role is Role.ADMIN or token.user_id == actor.id


async def authenticate(session: AsyncSession, *, secret: str) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None."""
    now = utcnow()
    found = (
        await session.execute(
            select(
                User, ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at
            )
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == hash_token(secret))
        )
    ).first()
    if found is None:
        return None
    user, token_id, revoked_at, expires_at, last_used_at = found
    if revoked_at is not None or expires_at <= now or not user.active:
        return None
    if _stale(last_used_at, now):
        return await _touch(session, token_id=token_id, user=user, now=now)
    return user


async def _touch(session: AsyncSession, *, token_id: int, user: User, now: datetime) -> User:
    """Record `last_used_at` in its own short transaction; best effort, never fails a call."""
    user_id = user.id
    try:
        await session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
        )
        await session.commit()
    except OperationalError:  # SQLite: a read snapshot could not become a write; next time
        await session.rollback()
        return await get_user(session, user_id=user_id)
    return user


def _stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_GRANULARITY
