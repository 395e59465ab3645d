"""Odd input a client can send never answers 500: always a problem+json 4xx."""

from typing import Any

import pytest

from app.core.http import AsyncClient
from app.core.pagination import encode_cursor
from app.users.models import Role
from tests.conftest import LoginAs

BIG = 2**63
CASES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/requests/2147483648", None),
    ("GET", f"/api/v1/items/{BIG}", None),
    ("GET", "/api/v1/items?team_id=2147483648", None),
    ("GET", "/api/v1/items?sprint_id=99999999999", None),
    ("GET", "/api/v1/requests?requester_id=-1", None),
    ("GET", "/api/v1/items?q=%E2%91%A0", None),  # a circled digit one
    ("GET", "/api/v1/items?q=BB-2147483648", None),
    ("GET", "/api/v1/requests?updated_since=0001-01-01T00:00:00%2B05:00", None),
    ("GET", "/api/v1/items?updated_since=9999-12-31T23:59:59-23:59", None),
    ("GET", "/api/v1/requests?q=a%00b", None),
    ("GET", "/api/v1/roadmap?from=0000-Q1", None),
    ("GET", "/api/v1/roadmap?from=9999-Q4&to=9999-Q4", None),
    ("GET", f"/api/v1/requests?cursor={encode_cursor({'id': BIG})}", None),
    ("GET", "/api/v1/requests?sort=business_value&cursor="
            f"{encode_cursor({'s': 'business_value', 'v': BIG, 'i': 1})}", None),
    ("GET", f"/api/v1/events?after={encode_cursor({'t': 1e300, 'i': 1})}", None),
    ("GET", f"/api/v1/items?sort=wsjf&cursor={encode_cursor({'s': 'wsjf', 'v': 'x', 'i': 1})}",
     None),
    ("POST", "/api/v1/requests", {"title": "a\u0000b"}),
    ("POST", "/api/v1/requests", {"title": "x", "budget": {"amount": "999999999999999.9999",
                                                            "currency": "CLF"}}),
    ("POST", "/api/v1/requests", {"title": "x", "plan_id": BIG}),
    ("POST", "/api/v1/requests", ["not", "an", "object"]),
    ("POST", "/api/v1/requests", None),
    ("POST", "/api/v1/items", {"title": "x", "target": "\u0662\u0660\u0662\u0667-Q1"}),
    ("POST", "/api/v1/items", {"title": "x", "parent_id": 2147483648}),
    ("POST", "/api/v1/sprints", {"team_id": BIG, "name": "s"}),
    ("POST", "/api/v1/teams", {"name": "t", "members": [BIG]}),
    ("PATCH", "/api/v1/requests/1", {"title": "x"}),
    ("POST", "/api/v1/items/1/move", {"before_id": BIG}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "body"), CASES)
async def test_no_5xx(
    api: AsyncClient, login_as: LoginAs, method: str, url: str, body: Any
) -> None:
    headers = await login_as(Role.ADMIN) | {"If-Match": "garbage"}
    resp = await api.request(method, url, json=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        assert resp.headers["content-type"] == "application/problem+json"
    else:  # searches that find nothing are fine
        assert resp.json()["items"] == []
