from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    encode_id_cursor,
    set_next_link,
)
from app.core.schemas import Page, PathId
from app.users import service
from app.users.auth import CurrentUser
from app.users.models import Role
from app.users.schemas import TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/api/v1", tags=["users"], responses=error_responses(401))


@router.get("/me", summary="The calling user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post(
    "/users",
    status_code=201,
    summary="Create a user (admin)",
    responses=error_responses(403, 409, 422),
)
async def create_user(body: UserCreate, session: SessionDep, actor: CurrentUser) -> UserOut:
    service.ensure_role(actor, Role.ADMIN)
    user = await service.create_user(session, data=body, actor=actor)
    await session.commit()
    return UserOut.model_validate(user)


@router.get("/users", summary="List users (admin)", responses=error_responses(400, 403, 422))
async def list_users(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: Annotated[Role | None, Query()] = None,
) -> Page[UserOut]:
    service.ensure_role(actor, Role.ADMIN)
    after_id = decode_id_cursor(cursor)
    users, last_id = await service.list_users(session, limit=limit, after_id=after_id, role=role)
    next_cursor = encode_id_cursor(last_id)
    set_next_link(request, response, next_cursor)
    return Page[UserOut](items=[UserOut.model_validate(u) for u in users], next_cursor=next_cursor)


@router.get(
    "/users/{user_id}", summary="One user (admin, or yourself)", responses=error_responses(403, 404)
)
async def get_user(user_id: PathId, session: SessionDep, actor: CurrentUser) -> UserOut:
    user = await service.get_user(session, user_id=user_id)
    service.ensure_admin_or_self(actor, user.id)
    return UserOut.model_validate(user)


@router.patch(
    "/users/{user_id}",
    summary="Change a user's name, email, role or active flag (admin)",
    description="`active: false` revokes all the user's tokens at once.",
    responses=error_responses(403, 404, 409, 422),
)
async def update_user(
    user_id: PathId, body: UserUpdate, session: SessionDep, actor: CurrentUser
) -> UserOut:
    user = await service.get_user(session, user_id=user_id)
    service.ensure_role(actor, Role.ADMIN)
    user = await service.update_user(session, user=user, data=body, actor=actor)
    await session.commit()
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/tokens",
    status_code=201,
    summary="Issue an API token (admin, or yourself); the secret is shown only here",
    responses=error_responses(403, 404, 409, 422),
)
async def create_token(
    user_id: PathId,
    session: SessionDep,
    actor: CurrentUser,
    settings: SettingsDep,
    body: TokenCreate | None = None,
) -> TokenCreated:
    body = body or TokenCreate()
    user = await service.get_user(session, user_id=user_id)
    service.ensure_admin_or_self(actor, user.id)
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
async def list_tokens(user_id: PathId, session: SessionDep, actor: CurrentUser) -> list[TokenOut]:
    user = await service.get_user(session, user_id=user_id)
    service.ensure_admin_or_self(actor, user.id)
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
