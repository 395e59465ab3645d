"""The admin API for users and tokens."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem


async def test_admin_creates_user_and_issues_token_that_works(
    api: AsyncClient, login_as: LoginAs
) -> None:
    admin = await login_as(Role.ADMIN)
    created = await api.post(
        "/api/v1/users",
        json={"name": "mia", "role": "marketing", "email": "mia@example.com"},
        headers=admin,
    )
    assert created.status_code == 201
    user = created.json()
    assert user["role"] == "marketing"
    assert user["active"] is True
    issued = await api.post(
        f"/api/v1/users/{user['id']}/tokens", json={"name": "laptop"}, headers=admin
    )
    assert issued.status_code == 201
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.json()['token']}"})
    assert me.json()["name"] == "mia"
    listed = await api.get(f"/api/v1/users/{user['id']}/tokens", headers=admin)
    assert [t["name"] for t in listed.json()] == ["laptop"]
    assert "token" not in listed.json()[0]


async def test_duplicate_name_is_409_and_changes_nothing(
    api: AsyncClient, login_as: LoginAs
) -> None:
    admin = await login_as(Role.ADMIN)
    assert (
        await api.post("/api/v1/users", json={"name": "dup", "role": "it"}, headers=admin)
    ).status_code == 201
    resp = await api.post("/api/v1/users", json={"name": "dup", "role": "security"}, headers=admin)
    assert_problem(resp, 409, "name-taken")
    users = (await api.get("/api/v1/users?limit=200", headers=admin)).json()["items"]
    assert [u["role"] for u in users if u["name"] == "dup"] == ["it"]


async def test_list_users_pages_with_cursor_and_link(api: AsyncClient, login_as: LoginAs) -> None:
    admin = await login_as(Role.ADMIN)
    for n in range(5):
        await api.post("/api/v1/users", json={"name": f"page-{n}", "role": "it"}, headers=admin)
    seen: list[str] = []
    url: str | None = "/api/v1/users?limit=2&role=it"
    while url:
        resp = await api.get(url, headers=admin)
        body = resp.json()
        assert len(body["items"]) <= 2
        seen += [u["name"] for u in body["items"]]
        if body["next_cursor"]:
            assert 'rel="next"' in resp.headers["link"]
            url = f"/api/v1/users?limit=2&role=it&cursor={body['next_cursor']}"
        else:
            assert "link" not in resp.headers
            url = None
    assert seen == [f"page-{n}" for n in range(5)]


async def test_garbage_cursor_is_400(api: AsyncClient, login_as: LoginAs) -> None:
    admin = await login_as(Role.ADMIN)
    assert_problem(await api.get("/api/v1/users?cursor=%%%", headers=admin), 400, "invalid-cursor")
    assert_problem(await api.get("/api/v1/users?limit=500", headers=admin), 422, "validation-error")


async def test_deactivating_a_user_revokes_all_their_tokens(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    admin = await login_as(Role.ADMIN)
    user, headers = await make_user(session, role=Role.IT)
    second = await api.post(f"/api/v1/users/{user.id}/tokens", json={}, headers=admin)
    resp = await api.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=admin)
    assert resp.status_code == 200
    assert resp.json()["active"] is False
    assert resp.json()["version"] == 2
    assert (await api.get("/api/v1/me", headers=headers)).status_code == 401
    second_headers = {"Authorization": f"Bearer {second.json()['token']}"}
    assert (await api.get("/api/v1/me", headers=second_headers)).status_code == 401
    # Reactivation does not bring old tokens back.
    await api.patch(f"/api/v1/users/{user.id}", json={"active": True}, headers=admin)
    assert (await api.get("/api/v1/me", headers=headers)).status_code == 401


async def test_last_active_admin_cannot_be_demoted(api: AsyncClient, session: AsyncSession) -> None:
    admin, headers = await make_user(session, role=Role.ADMIN)
    resp = await api.patch(f"/api/v1/users/{admin.id}", json={"role": "it"}, headers=headers)
    assert_problem(resp, 409, "last-admin")
    assert (await api.get("/api/v1/me", headers=headers)).json()["role"] == "admin"


async def test_null_for_required_field_is_422(api: AsyncClient, session: AsyncSession) -> None:
    _, admin = await make_user(session, role=Role.ADMIN)
    user, _ = await make_user(session)
    resp = await api.patch(f"/api/v1/users/{user.id}", json={"name": None}, headers=admin)
    assert_problem(resp, 422, "validation-error")


async def test_missing_user_is_404_before_role_check(api: AsyncClient, login_as: LoginAs) -> None:
    marketing = await login_as(Role.MARKETING)
    resp = await api.patch("/api/v1/users/999999", json={"active": False}, headers=marketing)
    assert_problem(resp, 404, "not-found")


async def test_users_see_themselves_but_not_others(api: AsyncClient, session: AsyncSession) -> None:
    me, headers = await make_user(session, role=Role.MARKETING)
    other, other_headers = await make_user(session, role=Role.IT)
    assert (await api.get(f"/api/v1/users/{me.id}", headers=headers)).status_code == 200
    assert_problem(await api.get(f"/api/v1/users/{other.id}", headers=headers), 403, "forbidden")
    assert_problem(
        await api.get(f"/api/v1/users/{other.id}/tokens", headers=headers), 403, "forbidden"
    )
    # Another user's token is invisible: revoking it is a 404, and it keeps working.
    other_token = (await api.get(f"/api/v1/users/{other.id}/tokens", headers=other_headers)).json()[
        0
    ]["id"]
    assert_problem(
        await api.delete(f"/api/v1/tokens/{other_token}", headers=headers), 404, "not-found"
    )
    assert (await api.get("/api/v1/me", headers=other_headers)).status_code == 200
