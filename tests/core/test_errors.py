"""Every error path answers RFC 9457 problem+json."""

import logging
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.http import AsyncClient, Response
from app.users.models import Role
from tests.conftest import LoginAs


def assert_problem(resp: Response, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    return body


async def test_unknown_path_is_problem_404(api: AsyncClient) -> None:
    assert_problem(await api.get("/api/v1/nothing-here"), 404, "not-found")


async def test_wrong_method_is_problem_405_with_allow(api: AsyncClient) -> None:
    resp = await api.delete("/healthz")
    assert_problem(resp, 405, "method-not-allowed")
    assert "GET" in resp.headers["allow"]


async def test_malformed_json_is_problem_400(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.ADMIN) | {"content-type": "application/json"}
    resp = await api.post("/api/v1/users", content=b'{"name": "x", ', headers=headers)
    assert_problem(resp, 400, "malformed-json")


async def test_unknown_field_is_422_with_errors(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.ADMIN)
    resp = await api.post(
        "/api/v1/users", json={"name": "x", "role": "it", "shoe_size": 44}, headers=headers
    )
    body = assert_problem(resp, 422, "validation-error")
    assert {"loc": ["body", "shoe_size"], "msg": "Extra inputs are not permitted"} in body["errors"]


async def test_bad_enum_is_422(api: AsyncClient, login_as: LoginAs) -> None:
    headers = await login_as(Role.ADMIN)
    resp = await api.post("/api/v1/users", json={"name": "x", "role": "boss"}, headers=headers)
    body = assert_problem(resp, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "role"]


async def test_unexpected_error_is_500_without_internals(
    app: FastAPI, api: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/test-only/explode", explode)
    with caplog.at_level(logging.ERROR):
        resp = await api.get("/test-only/explode", headers={"X-Request-ID": "trace-42"})
    body = assert_problem(resp, 500, "internal")
    assert "hunter2" not in resp.text
    assert "trace-42" in str(body["detail"])
    assert resp.headers["x-request-id"] == "trace-42"
    logged = [r for r in caplog.records if r.name == "app.errors" and r.exc_info]
    assert logged, "the 500 must be logged with its traceback"
    assert "hunter2" in str(logged[0].exc_info[1])  # type: ignore[index]


async def test_request_id_is_echoed_or_generated(api: AsyncClient) -> None:
    echoed = await api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await api.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] not in ("", "bad id\twith spaces")
    assert len(generated.headers["x-request-id"]) == 32


async def test_security_headers_and_no_caching_of_authenticated_answers(
    api: AsyncClient, login_as: LoginAs
) -> None:
    public = await api.get("/healthz")
    assert public.headers["x-content-type-options"] == "nosniff"
    assert public.headers["x-frame-options"] == "DENY"
    assert "no-store" not in public.headers.get("cache-control", "")
    private = await api.get("/api/v1/me", headers=await login_as(Role.IT))
    assert private.headers["cache-control"] == "no-store"


async def test_a_body_over_one_megabyte_is_413_before_it_is_read(
    api: AsyncClient, login_as: LoginAs
) -> None:
    headers = await login_as(Role.MARKETING) | {"content-type": "application/json"}
    big = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    resp = await api.post("/api/v1/requests", content=big, headers=headers)
    assert_problem(resp, 413, "payload-too-large")
