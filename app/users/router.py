from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.users import service
from app.users.auth import AdminUser, CurrentUser, require_roles
from app.users.models import Role, User
from app.users.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/api/v1", tags=["users"], responses=error_responses(401))


async def _target(user_id: PathId, session: SessionDep) -> User:
    return await service.get_user(session, user_id=user_id)


Target = Annotated[User, Depends(_target)]


async def _admin_target(actor: CurrentUser, target: Target) -> User:
    """The user acted on, by an admin: 404 before 403, both before the body is read."""
    service.ensure_role(actor, Role.ADMIN)
    return target


async def _own_or_admin_target(actor: CurrentUser, target: Target) -> User:
    service.ensure_admin_or_self(actor, target.id)
    return target


async def _readable_target(actor: CurrentUser, target: Target) -> User:
    """Security reads everything (the role table), users included; others read only themselves."""
    if actor.role is not Role.SECURITY:
        service.ensure_admin_or_self(actor, target.id)
    return target


Reader = Annotated[User, require_roles(Role.ADMIN, Role.SECURITY)]


@router.get("/me", summary="The calling user")
async def me(user: CurrentUser, response: Response) -> UserOut:
    set_etag(response, user.version)
    return UserOut.model_validate(user)


@router.post(
    "/users",
    status_code=201,
    summary="Create a user (admin)",
    response_model=UserOut,
    responses=error_responses(403, 409, 422),
)
async def create_user(
    body: UserCreate, session: SessionDep, actor: AdminUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    async def create() -> tuple[UserOut, dict[str, str]]:
        user = await service.create_user(session, data=body, actor=actor)
        headers = {"ETag": etag(user.version), "Location": f"/api/v1/users/{user.id}"}
        return UserOut.model_validate(user), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /users", body),
        create=create,
    )


@router.get(
    "/users", summary="List users (admin, security)", responses=error_responses(400, 403, 422)
)
async def list_users(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: Annotated[Role | None, Query()] = None,
) -> Page[UserOut]:
    after_id = decode_id_cursor(cursor)
    users, last_id = await service.list_users(session, limit=limit, after_id=after_id, role=role)
    return id_page(request, response, [UserOut.model_validate(u) for u in users], last_id)


@router.get(
    "/users/{user_id}",
    summary="One user (admin, security, or yourself)",
    responses=error_responses(403, 404),
)
async def get_user(user: Annotated[User, Depends(_readable_target)], response: Response) -> UserOut:
    set_etag(response, user.version)
    return UserOut.model_validate(user)


@router.patch(
    "/users/{user_id}",
    summary="Change a user's name, email, role or active flag (admin)",
    description="`active: false` revokes all the user's tokens at once.",
    responses=error_responses(403, 404, 409, 412, 422),
)
async def update_user(
    user: Annotated[User, Depends(_admin_target)],
    body: UserUpdate,
    response: Response,
    session: SessionDep,
    actor: CurrentUser,
    if_match: IfMatch = None,
) -> UserOut:
    check_if_match(if_match, user.version)
    user = await service.update_user(session, user=user, data=body, actor=actor)
    await session.commit()
    set_etag(response, user.version)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/tokens",
    status_code=201,
    summary="Issue an API token (admin, or yourself); the secret is shown only here",
    description="Not idempotent by design: a token's secret is never stored to be replayed.",
    responses=error_responses(403, 404, 409, 422),
)
async def create_token(
    user: Annotated[User, Depends(_own_or_admin_target)],
    session: SessionDep,
    actor: CurrentUser,
    settings: SettingsDep,
    body: TokenCreate | None = None,
) -> TokenCreated:
    body = body or TokenCreate()
    ttl = timedelta(days=body.expires_in_days or settings.token_ttl_days)
    token, secret = await service.create_token(
        session, user=user, name=body.name, ttl=ttl, actor=actor
    )
    await session.commit()
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.get(
    "/users/{user_id}/tokens",
    summary="A user's tokens, without their secrets (admin, or yourself)",
    responses=error_responses(403, 404),
)
async def list_tokens(
    user: Annotated[User, Depends(_own_or_admin_target)], session: SessionDep
) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in await service.list_tokens(session, user_id=user.id)]


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke a token (admin, or its owner)",
    responses=error_responses(404),
)
async def revoke_token(token_id: PathId, session: SessionDep, actor: CurrentUser) -> Response:
    await service.revoke_token(session, token_id=token_id, actor=actor)
    await session.commit()
    return Response(status_code=204)
