"""`backlog-bridge demo`: the loader against the test database, and the command itself."""

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.http import AsyncClient
from app.demo import is_loaded, load_demo
from tests.builders import bearer

REACHABLE_STATES = {
    "draft",
    "submitted",
    "in_assessment",
    "security_review",
    "approved",
    "rejected",
    "withdrawn",
    "in_delivery",
    "delivered",
}


async def test_demo_covers_every_reachable_state(
    api: AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = bearer(await load_demo(session, settings=settings))

    resp = await api.get("/api/v1/requests", params={"limit": 200}, headers=admin)

    assert resp.status_code == 200, resp.text
    requests = resp.json()["items"]
    assert {r["status"] for r in requests} >= REACHABLE_STATES
    assert {"Brand", "E-commerce", "CRM", "Customer Service"} <= {r["department"] for r in requests}
    assert all(r["budget"]["currency"] == "EUR" for r in requests)


async def test_demo_history_shows_the_security_review(
    api: AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = bearer(await load_demo(session, settings=settings))
    listed = await api.get("/api/v1/requests", headers=admin)
    past_approval = {"approved", "planned", "in_delivery", "delivered"}
    reviewed = [
        r
        for r in listed.json()["items"]
        if r["security_review"] is not None and r["status"] in past_approval
    ]
    assert reviewed, "no approved request went through security review"

    resp = await api.get(f"/api/v1/requests/{reviewed[0]['id']}/history", headers=admin)

    assert resp.status_code == 200, resp.text
    types = [event["type"] for event in resp.json()["items"]]
    assert "request.security_review" in types
    assert types.index("request.security_review") < len(types) - 1  # then approved by IT


async def test_demo_has_teams_sprints_and_reports_with_content(
    api: AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = bearer(await load_demo(session, settings=settings))
    sprints = (await api.get("/api/v1/sprints", headers=admin)).json()["items"]
    assert [s["state"] for s in sprints] == ["closed", "closed", "active", "planned"]
    report = (await api.get(f"/api/v1/sprints/{sprints[0]['id']}/report", headers=admin)).json()
    assert report["completed_points"] > 0
    assert report["carried_over_points"] > 0
    assert len(report["burndown"]) == 14
    velocity = await api.get(f"/api/v1/teams/{sprints[0]['team_id']}/velocity", headers=admin)
    assert len(velocity.json()["sprints"]) == 2
    lead_time = (await api.get("/api/v1/reports/lead-time", headers=admin)).json()
    assert lead_time["overall"]["count"] >= 1
    assert lead_time["overall"]["p50_days"] > 0
    impact = (await api.get("/api/v1/reports/impact", headers=admin)).json()
    assert len(impact["sprints"]) == 4


async def test_demo_has_suppliers_in_every_state_and_two_agreed_plans(
    api: AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = bearer(await load_demo(session, settings=settings))
    suppliers = (await api.get("/api/v1/suppliers", headers=admin)).json()["items"]
    assert {s["security_assessment"] for s in suppliers} == {
        "none", "pending", "approved", "rejected",
    }  # fmt: skip
    assert [s["security_approved"] for s in suppliers].count(True) == 1  # one approval expired
    plans = (await api.get("/api/v1/plans", headers=admin)).json()["items"]
    assert [p["status"] for p in plans] == ["agreed", "agreed"]
    over = []
    for plan in plans:
        assert plan["request_ids"]
        report = (await api.get(f"/api/v1/plans/{plan['id']}/report", headers=admin)).json()
        over.append(report["money"]["over_budget"])
    assert sorted(over) == [False, True]


async def test_demo_reports_itself_loaded(session: AsyncSession, settings: Settings) -> None:
    assert not await is_loaded(session)
    await load_demo(session, settings=settings)
    assert await is_loaded(session)


def test_demo_command_loads_once(tmp_path: Path) -> None:
    env = os.environ | {"BB_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    command = [sys.executable, "-m", "app.cli", "demo"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert first.returncode == 0, first.stderr
    token = first.stdout.splitlines()[-1]
    assert len(token) >= 20
    assert " " not in token
    assert again.returncode == 0, again.stderr
    assert "already loaded" in again.stdout
