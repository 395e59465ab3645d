"""Numbers are ASCII and cursors are the service's own (issue 16, items 7 and 8), on both
databases and on both paths of the backlog page (the fast lane answers it on PostgreSQL)."""

import re
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.crypto import secret_box
from app.core.http import ASGITransport, AsyncClient
from app.core.pagination import cursor_key, encode_cursor, use_cursor_key
from app.main import create_app
from app.users.models import Role
from tests.builders import make_item, make_request, make_sprint, make_team, make_user
from tests.conftest import LoginAs
from tests.core.test_errors import assert_problem

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
# What Pydantic reads as an integer from a string, and digits that are not ASCII
NOT_ASCII_NUMBERS = [" 1", "1 ", "+1", "-1", "1.0", "1_0", "\u0663", "\uff11", "\u00b2"]
PUBLIC = re.compile(r"^/(healthz|readyz|metrics)$|^/api/v1/webhooks/")
_SPEC = create_app().openapi()
# Every operation with an integer path or query parameter, from the route table itself
NUMERIC: list[tuple[str, str, list[tuple[str, str]]]] = sorted(
    (method.upper(), path, params)
    for path, item in _SPEC["paths"].items()
    for method, operation in item.items()
    if (
        params := [
            (p["in"], p["name"])
            for p in operation.get("parameters", [])
            if p["in"] in ("path", "query") and "integer" in str(p["schema"])
        ]
    )
)


def signed(app: FastAPI, position: dict[str, Any]) -> str:
    """A cursor holding `position`, signed with the app's key: its values get past the
    signature to the checks behind it, as if the key had leaked."""
    use_cursor_key(cursor_key(app.state.secret_box))
    return encode_cursor(position)


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query (httpx's `params=` would replace the query)."""
    return str(httpx.URL(url).copy_merge_params(params))


def _problem_locs(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {tuple(error["loc"][:2]) for error in body["errors"]}


@pytest.mark.parametrize(
    "query", ["sprint_id=%C2%B2", "sprint_id=none&limit=%C2%B2", "sprint_id=none&team_id=%C2%B2"]
)
async def test_a_superscript_two_is_401_without_a_token_and_422_with_one(
    api: AsyncClient, login_as: LoginAs, query: str
) -> None:
    assert_problem(await api.get(f"/api/v1/items?{query}"), 401, "unauthorized")
    resp = await api.get(f"/api/v1/items?{query}", headers=await login_as(Role.IT))
    assert_problem(resp, 422, "validation-error")


async def test_arabic_indic_digits_do_not_name_a_sprint_or_a_page_size(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    sprint = await make_sprint(session, team=await make_team(session))
    item = await make_item(session, title="Planned")
    await session.execute(
        update(BacklogItem).where(BacklogItem.id == item.id).values(sprint_id=sprint.id)
    )
    headers = await login_as(Role.IT)
    ascii_page = await api.get(f"/api/v1/items?sprint_id={sprint.id}", headers=headers)
    assert [i["id"] for i in ascii_page.json()["items"]] == [item.id]
    arabic = str(sprint.id).translate(ARABIC_INDIC)
    for query in (f"sprint_id={arabic}", f"sprint_id={sprint.id}&limit=٣"):
        body = assert_problem(
            await api.get(f"/api/v1/items?{query}", headers=headers), 422, "validation-error"
        )
        assert body["errors"], body


@pytest.mark.parametrize(
    ("method", "path", "params"), NUMERIC, ids=[f"{m} {p}" for m, p, _ in NUMERIC]
)
async def test_every_numeric_parameter_takes_ascii_digits_only(
    api: AsyncClient,
    login_as: LoginAs,
    method: str,
    path: str,
    params: list[tuple[str, str]],
) -> None:
    admin = await login_as(Role.ADMIN)
    for spelling in NOT_ASCII_NUMBERS:
        url = path
        query: dict[str, str] = {}
        for where, name in params:
            if where == "path":
                url = url.replace(f"{{{name}}}", spelling)
            else:
                query[name] = spelling
        body: dict[str, Any] | None = None if method in ("GET", "DELETE") else {}
        if not PUBLIC.match(path):  # the token is checked first, whatever the numbers say
            resp = await api.request(method, url, params=query, json=body)
            assert_problem(resp, 401, "unauthorized")
        resp = await api.request(method, url, params=query, json=body, headers=admin)
        problem = assert_problem(resp, 422, "validation-error")
        assert set(params) <= _problem_locs(problem), (spelling, problem["errors"])


DATE_OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"]
CRAFTED: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"/api/v1/items?{query}", {"s": "rank", "v": value, "i": 1})
        for query in ("sort=rank", "sprint_id=none")  # the second: the fast lane's page
        for value in ("a\x00", "a\ud800", None, 5, ["a"])
    ],
    *[
        (f"/api/v1/{items}?sort={sort}", {"s": sort.lstrip("-"), "v": value, "i": 1})
        for items in ("items", "requests")
        for sort in ("updated_at", "-created_at")
        for value in (*DATE_OUT_OF_RANGE, "2026-01-01T00:00:00", "yesterday", None, 1)
    ],
    *[
        ("/api/v1/items?sort=-wsjf", {"s": "wsjf", "v": value, "i": 1})
        for value in ("x", float("inf"), float("nan"), True)
    ],
    *[
        ("/api/v1/requests?sort=title", {"s": "title", "v": value, "i": 1})
        for value in ("a\x00", "\udfff", 7)
    ],
    ("/api/v1/requests?sort=business_value", {"s": "business_value", "v": 2**31, "i": 1}),
    ("/api/v1/items?sort=rank", {"s": "rank", "v": "a0", "i": 2**31}),
    ("/api/v1/items?sort=rank", {"s": "wsjf", "v": "a0", "i": 1}),
    ("/api/v1/teams", {"id": "1"}),
    ("/api/v1/users", {"id": 2**40}),
    ("/api/v1/sprints", {"id": True}),
    ("/api/v1/events", {"t": 2**70, "i": 1}),
    ("/api/v1/events", {"t": 1, "i": "\x00"}),
]


@pytest.mark.parametrize(("url", "position"), CRAFTED, ids=[f"{u} {p}" for u, p in CRAFTED])
async def test_a_crafted_cursor_is_400_even_when_signed(
    api: AsyncClient, app: FastAPI, login_as: LoginAs, url: str, position: dict[str, Any]
) -> None:
    headers = await login_as(Role.ADMIN)
    name = "after" if url.startswith("/api/v1/events") else "cursor"
    for cursor in (signed(app, position), encode_cursor(position).split(".")[0]):
        resp = await api.get(with_query(url, **{name: cursor}), headers=headers)
        assert_problem(resp, 400, "invalid-cursor")


def _flipped(cursor: str, at: int) -> str:
    return cursor[:at] + ("A" if cursor[at] != "A" else "B") + cursor[at + 1 :]


@pytest.mark.parametrize("query", ["/api/v1/teams?limit=1", "/api/v1/items?sprint_id=none&limit=1"])
async def test_an_issued_cursor_pages_on_and_an_altered_one_is_400(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs, query: str
) -> None:
    for _ in range(3):
        await make_item(session, team_id=(await make_team(session)).id)
    headers = await login_as(Role.ADMIN)
    cursor = (await api.get(query, headers=headers)).json()["next_cursor"]
    assert (await api.get(with_query(query, cursor=cursor), headers=headers)).status_code == 200
    payload, tag = cursor.split(".")
    for altered in (
        _flipped(cursor, 3),
        _flipped(cursor, len(cursor) - 2),
        payload,  # unsigned, as cursors were before they were signed
        f"{payload}.{tag[::-1]}",
        f"{payload}A.{tag}",
        cursor + "=",
    ):
        resp = await api.get(with_query(query, cursor=altered), headers=headers)
        assert_problem(resp, 400, "invalid-cursor")


async def _app_with(app: FastAPI, secret: str) -> AsyncClient:
    """Another app process on the same database, with the secret key given."""
    settings = app.state.settings.model_copy(update={"secret_key": SecretStr(secret)})
    other = create_app(settings)
    for name in ("engine", "fast_lane", "sessionmakers"):
        setattr(other.state, name, getattr(app.state, name))
    other.state.secret_box = secret_box(settings)
    transport = ASGITransport(app=other, raise_app_exceptions=False)
    return AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize("query", ["/api/v1/teams?limit=1", "/api/v1/items?sprint_id=none&limit=1"])
async def test_a_cursor_is_good_in_every_process_with_the_same_secret_key_only(
    api: AsyncClient, app: FastAPI, session: AsyncSession, login_as: LoginAs, query: str
) -> None:
    for _ in range(3):
        await make_item(session, team_id=(await make_team(session)).id)
    headers = await login_as(Role.ADMIN)
    next_page = with_query(
        query, cursor=(await api.get(query, headers=headers)).json()["next_cursor"]
    )
    second = await api.get(next_page, headers=headers)
    assert second.status_code == 200, second.text
    same_key = app.state.settings.secret_key.get_secret_value()
    async with await _app_with(app, same_key) as worker:
        resp = await worker.get(next_page, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json() == second.json()
    async with await _app_with(app, Fernet.generate_key().decode()) as stranger:
        assert_problem(await stranger.get(next_page, headers=headers), 400, "invalid-cursor")


async def test_a_cursor_after_a_long_title_of_wide_characters_is_accepted(
    api: AsyncClient, session: AsyncSession, login_as: LoginAs
) -> None:
    requester, headers = await make_user(session, role=Role.MARKETING)
    titles = ["😀" * 199 + "a", "😀" * 199 + "b"]  # 4 bytes a character in UTF-8
    for title in titles:
        await make_request(session, requester=requester, title=title)
    url = "/api/v1/requests?sort=title&limit=1"
    first = await api.get(url, headers=headers)
    cursor = first.json()["next_cursor"]
    assert len(cursor) > 512  # what the cursor parameter allowed before
    second = await api.get(with_query(url, cursor=cursor), headers=headers)
    assert second.status_code == 200, second.text
    assert [r["title"] for r in first.json()["items"] + second.json()["items"]] == titles


def test_numeric_parameters_keep_their_json_schema_bounds() -> None:
    """The digits check sits after the bounds in each `Annotated` type: before them, Pydantic
    writes the bounds out as `ge`/`le`, which JSON Schema does not know, for `minimum` and
    `maximum`."""
    for method, path, params in NUMERIC:
        operation = _SPEC["paths"][path][method.lower()]
        for param in operation["parameters"]:
            if (param["in"], param["name"]) in params:
                schema = str(param["schema"])
                assert "'minimum'" in schema, (path, param)
                assert "'ge'" not in schema, (path, param)
