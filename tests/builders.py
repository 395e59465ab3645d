"""Typed builders for test data."""

import itertools
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.users import service as users_service
from app.users.models import Role, User
from app.users.schemas import UserCreate

_names = itertools.count(1)


async def make_user(
    session: AsyncSession, *, role: Role = Role.MARKETING, name: str | None = None
) -> tuple[User, dict[str, str]]:
    """A user and ready-to-send auth headers for a fresh token of theirs."""
    name = name or f"{role.value}-{next(_names)}"
    user = await users_service.create_user(session, data=UserCreate(name=name, role=role))
    _, secret = await users_service.create_token(
        session, user=user, name="test", ttl=timedelta(days=1)
    )
    await session.flush()
    return user, bearer(secret)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
