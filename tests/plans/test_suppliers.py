"""The supplier directory and its rules: who sets what, sourcing needs a supplier, the gate."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import AsyncClient
from app.users.models import Role
from tests.builders import LOW_RISK_ASSESSMENT, make_request, make_supplier, make_user
from tests.core.test_errors import assert_problem


async def test_it_keeps_the_directory_and_security_assesses(
    api: AsyncClient, session: AsyncSession
) -> None:
    _, it = await make_user(session, role=Role.IT)
    _, security = await make_user(session, role=Role.SECURITY)
    _, marketing = await make_user(session, role=Role.MARKETING)
    created = await api.post(
        "/api/v1/suppliers",
        json={
            "name": "CloudCMS BV",
            "services": ["headless CMS"],
            "contract_end": "2028-01-31",
        },
        headers=it,
    )
    assert created.status_code == 201, created.text
    supplier = created.json()
    assert (supplier["security_assessment"], supplier["security_approved"]) == ("none", False)
    url = f"/api/v1/suppliers/{supplier['id']}"
    assert_problem(
        await api.patch(url, json={"security_assessment": "approved"}, headers=it),
        403,
        "field-forbidden",
    )
    assert_problem(
        await api.patch(url, json={"notes": "x"}, headers=security), 403, "field-forbidden"
    )
    assert_problem(
        await api.post("/api/v1/suppliers", json={"name": "X"}, headers=marketing), 403, "forbidden"
    )
    assert_problem(
        await api.post(
            "/api/v1/suppliers", json={"name": "Y", "security_assessment": "approved"}, headers=it
        ),
        403,
        "field-forbidden",
    )
    assessed = await api.patch(
        url, json={"security_assessment": "approved", "valid_until": "2030-01-01"}, headers=security
    )
    assert assessed.json()["security_approved"] is True
    assert assessed.json()["assessed_at"] is not None
    expired = await api.patch(url, json={"valid_until": "2020-01-01"}, headers=security)
    assert expired.json()["security_approved"] is False  # an expired assessment does not count
    dup = await api.post("/api/v1/suppliers", json={"name": "CloudCMS BV"}, headers=it)
    assert_problem(dup, 409, "name-taken")
    listed = await api.get("/api/v1/suppliers?security_assessment=approved", headers=marketing)
    assert [s["id"] for s in listed.json()["items"]] == [supplier["id"]]


async def test_bought_or_outsourced_work_names_an_existing_supplier(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    request = await make_request(session, requester=requester, status="submitted")
    url = f"/api/v1/requests/{request.id}/assessment"
    for body in (
        LOW_RISK_ASSESSMENT | {"sourcing": "purchased"},
        LOW_RISK_ASSESSMENT | {"sourcing": "outsourced", "supplier_id": 999999},
    ):
        assert_problem(await api.put(url, json=body, headers=it), 422, "validation-error")
    supplier = await make_supplier(session)
    ok = await api.put(
        url,
        json=LOW_RISK_ASSESSMENT | {"sourcing": "outsourced", "supplier_id": supplier.id},
        headers=it,
    )
    assert ok.json()["assessment"]["supplier_id"] == supplier.id
    detail = (await api.get(f"/api/v1/suppliers/{supplier.id}", headers=it)).json()
    assert detail["request_ids"] == [request.id]


async def test_risky_request_with_unapproved_supplier_cannot_be_approved(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    security_user, security = await make_user(session, role=Role.SECURITY)
    supplier = await make_supplier(session, security_assessment="pending")
    risky = LOW_RISK_ASSESSMENT | {
        "security_impact": "high",
        "sourcing": "purchased",
        "supplier_id": supplier.id,
    }
    request = await make_request(
        session, requester=requester, status="in_assessment", assessment=risky
    )
    url = f"/api/v1/requests/{request.id}"
    assert (await api.post(f"{url}/approve", headers=it)).json()["status"] == "security_review"
    await api.post(f"{url}/security-review", json={"decision": "approved"}, headers=security)
    gate = await api.post(f"{url}/approve", headers=it)
    body = assert_problem(gate, 409, "supplier-not-approved")
    assert body["supplier_id"] == supplier.id
    await api.patch(
        f"/api/v1/suppliers/{supplier.id}",
        json={"security_assessment": "approved"},
        headers=security,
    )
    assert (await api.post(f"{url}/approve", headers=it)).json()["status"] == "approved"
    _ = security_user


async def test_low_risk_request_with_unapproved_supplier_is_approved(
    api: AsyncClient, session: AsyncSession
) -> None:
    requester, _ = await make_user(session, role=Role.MARKETING)
    _, it = await make_user(session, role=Role.IT)
    supplier = await make_supplier(session, security_assessment="rejected")
    request = await make_request(
        session,
        requester=requester,
        status="in_assessment",
        assessment=LOW_RISK_ASSESSMENT | {"sourcing": "purchased", "supplier_id": supplier.id},
    )
    resp = await api.post(f"/api/v1/requests/{request.id}/approve", headers=it)
    assert resp.json()["status"] == "approved"
