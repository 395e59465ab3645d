"""Every route, every role, generated from the app's route table (a new route is covered the
moment it exists): no token is 401, a missing resource is 404 for every role, nothing is 5xx."""

import re

import pytest
from fastapi import FastAPI

from app.core.http import AsyncClient
from app.main import create_app
from app.users.models import Role
from tests.conftest import LoginAs

PUBLIC = {"/healthz", "/readyz", "/metrics"}
SIGNED = re.compile(r"^/api/v1/webhooks/")  # the signature is the authentication
# The OpenAPI document is the route table (FastAPI mounts included routers lazily).
ROUTES = sorted(
    (method.upper(), path)
    for path, item in create_app().openapi()["paths"].items()
    for method in item
)


def _missing(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_no_token_is_401(api: AsyncClient, method: str, path: str) -> None:
    resp = await api.request(method, _missing(path), json={})
    assert resp.status_code < 500, resp.text
    if path in PUBLIC or SIGNED.match(path):
        return
    assert resp.status_code == 401, (method, path, resp.status_code)
    assert resp.headers["www-authenticate"].startswith("Bearer")


OBJECT_ROUTES = [(m, p) for m, p in ROUTES if "{" in p and p not in PUBLIC]


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize(
    ("method", "path"), OBJECT_ROUTES, ids=[f"{m} {p}" for m, p in OBJECT_ROUTES]
)
async def test_a_missing_resource_is_404_for_every_role(
    api: AsyncClient, login_as: LoginAs, app: FastAPI, role: Role, method: str, path: str
) -> None:
    headers = await login_as(role)
    if SIGNED.match(path):  # a delivery needs its tracker's headers to be a delivery at all
        headers |= {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1"}
    resp = await api.request(method, _missing(path), json={}, headers=headers)
    assert resp.status_code == 404, (role, method, path, resp.status_code, resp.text[:200])
    assert resp.headers["content-type"] == "application/problem+json"
