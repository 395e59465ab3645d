"""Bearer tokens: who gets in, who is turned away, and what is stored."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.http import AsyncClient
from app.users.models import ApiToken, Role
from tests.builders import bearer, make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem


async def test_missing_token_is_401_with_challenge(api: AsyncClient) -> None:
    resp = await api.get("/api/v1/me")
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"


async def test_non_bearer_scheme_is_401(api: AsyncClient) -> None:
    resp = await api.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_problem(resp, 401, "unauthorized")


async def test_invalid_token_is_401(api: AsyncClient) -> None:
    resp = await api.get("/api/v1/me", headers=bearer("bb_not-a-real-token"))
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_valid_token_identifies_the_user(api: AsyncClient, session: AsyncSession) -> None:
    _, headers = await make_user(session, role=Role.IT, name="ingrid")
    resp = await api.get("/api/v1/me", headers=headers)
    assert resp.status_code == 200
    assert resp.json()["name"] == "ingrid"
    assert resp.json()["role"] == "it"


async def test_stored_token_is_a_hash_not_the_token(
    api: AsyncClient, session: AsyncSession
) -> None:
    user, headers = await make_user(session, role=Role.ADMIN)
    resp = await api.post(f"/api/v1/users/{user.id}/tokens", json={}, headers=headers)
    assert resp.status_code == 201
    secret = resp.json()["token"]
    assert len(secret) >= 43  # 32 random bytes, base64url
    stored = await session.get(ApiToken, resp.json()["id"])
    assert stored is not None
    assert secret not in stored.token_hash
    assert stored.token_hash != secret
    assert (await api.get("/api/v1/me", headers=bearer(secret))).status_code == 200


async def test_revoked_token_is_401(api: AsyncClient, session: AsyncSession) -> None:
    user, headers = await make_user(session, role=Role.MARKETING)
    token_id = (await api.get(f"/api/v1/users/{user.id}/tokens", headers=headers)).json()[0]["id"]
    assert (await api.delete(f"/api/v1/tokens/{token_id}", headers=headers)).status_code == 204
    assert_problem(await api.get("/api/v1/me", headers=headers), 401, "unauthorized")


async def test_expired_token_is_401(api: AsyncClient, session: AsyncSession) -> None:
    user, headers = await make_user(session)
    token = await session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token is not None
    token.expires_at = utcnow() - timedelta(seconds=1)
    await session.flush()
    assert_problem(await api.get("/api/v1/me", headers=headers), 401, "unauthorized")


async def test_last_used_at_is_recorded(api: AsyncClient, session: AsyncSession) -> None:
    user, headers = await make_user(session)
    before = utcnow()
    assert (await api.get("/api/v1/me", headers=headers)).status_code == 200
    token = await session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token is not None
    await session.refresh(token)
    assert token.last_used_at is not None
    assert token.last_used_at >= before - timedelta(seconds=1)


async def test_wrong_role_is_403(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.MARKETING)
    resp = await api.post("/api/v1/users", json={"name": "x", "role": "it"}, headers=headers)
    assert_problem(resp, 403, "forbidden")
    assert_problem(await api.get("/api/v1/users", headers=headers), 403, "forbidden")
