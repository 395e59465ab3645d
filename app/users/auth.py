"""Bearer-token authentication as a FastAPI dependency."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core import ratelimit
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.fastlane import fast_lane
from app.users import lane as lane_auth
from app.users import service
from app.users.models import Role, User
from app.users.service import ensure_role

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer bb_…`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("Send `Authorization: Bearer <token>`.", headers=_CHALLENGE)
    secret = credentials.credentials
    limiter = ratelimit.limiter_of(request.app)
    window = limiter.window() if limiter else None
    hits = None
    if (lane := fast_lane(request)) is not None:  # PostgreSQL: check, touch and count at once
        found = await lane_auth.authenticate(
            lane, secret=secret, window_start=window.start if window else None
        )
        user, hits = (found.user, found.hits) if found else (None, None)
    else:
        user = await service.authenticate(session, secret=secret)
    if user is None:
        raise Unauthorized(
            "The token is invalid, expired or revoked.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if limiter and window:  # after 401, before 404
        await ratelimit.enforce(request.scope, limiter, window, secret=secret, hits=hits)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Any:
    """A dependency: the caller, if their role is one of `roles` (else 403, after 401)."""

    async def check(user: CurrentUser) -> User:
        ensure_role(user, *roles)
        return user

    return Depends(check)


AdminUser = Annotated[User, require_roles(Role.ADMIN)]
ITUser = Annotated[User, require_roles(Role.IT, Role.ADMIN)]
